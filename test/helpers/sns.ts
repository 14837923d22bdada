// A local stand-in for Amazon SNS: a test CA, an HTTPS server on 127.0.0.1 (certificate from that CA) serving
// the signing certificate and the SubscribeURL, and a signer that signs messages as SNS does (the string to
// sign written out here from AWS's documentation, independently of Ferry's verifier).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { scratchDir } from './ftp-server.ts';

export interface TestCa {
  ca: string;
  /** The CA's PEM file (for network.tls.ca). */
  caFile: string;
  /** A key and certificate issued by the CA for a subject (and 127.0.0.1 / localhost as names). */
  issue(cn: string): { key: string; cert: string };
}

export function testCa(): TestCa {
  const dir = scratchDir('ferry-ca-');
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Ferry Test CA');
  const ca = fs.readFileSync(path.join(dir, 'ca.pem'), 'utf8');
  let n = 0;
  return {
    ca,
    caFile: path.join(dir, 'ca.pem'),
    issue(cn) {
      const base = `leaf${n++}`;
      fs.writeFileSync(path.join(dir, `${base}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
      run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${cn}`);
      run('x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', `${base}.ext`);
      return { key: fs.readFileSync(path.join(dir, `${base}.key`), 'utf8'), cert: fs.readFileSync(path.join(dir, `${base}.pem`), 'utf8') };
    },
  };
}

export type SnsType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

export interface SnsHost {
  /** https://127.0.0.1:<port> */
  origin: string;
  /** Host pattern for verify.hostPattern matching exactly this server. */
  hostPattern: string;
  /** The CA file its HTTPS certificate chains to: trusted through the config's network.tls.ca. */
  caFile: string;
  /** Requests for the signing certificate so far. */
  certFetches: number;
  /** Tokens of confirmed subscriptions. */
  confirmed: string[];
  /** A message as SNS would post it, signed with the SNS signing key (or `signWith`). */
  message(type: SnsType, fields: { TopicArn: string; Message: string; Subject?: string; MessageId?: string; Timestamp?: string }, opts?: { version?: '1' | '2'; signWith?: crypto.KeyObject; certUrl?: string }): Record<string, string>;
  close(): Promise<void>;
}

/** AWS: the fields of the string to sign, in this order, each "Name\nvalue\n"; Subject only when present. */
function snsStringToSign(m: Record<string, string>): string {
  const fields = m.Type === 'Notification'
    ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'].filter((k) => k !== 'Subject' || m.Subject !== undefined)
    : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  let s = '';
  for (const f of fields) s += `${f}\n${m[f]}\n`;
  return s;
}

export async function startSnsHost(ca: TestCa = testCa()): Promise<SnsHost> {
  const tlsPair = ca.issue('127.0.0.1');
  const signing = ca.issue('sns.us-east-1.amazonaws.com');
  const signingKey = crypto.createPrivateKey(signing.key);
  const certPath = `/SimpleNotificationService-${crypto.randomBytes(8).toString('hex')}.pem`;
  const host: SnsHost = {
    origin: '',
    hostPattern: '',
    caFile: ca.caFile,
    certFetches: 0,
    confirmed: [],
    message(type, fields, opts = {}) {
      const m: Record<string, string> = {
        Type: type,
        MessageId: fields.MessageId ?? crypto.randomUUID(),
        TopicArn: fields.TopicArn,
        Message: fields.Message,
        Timestamp: fields.Timestamp ?? new Date().toISOString(),
        SignatureVersion: opts.version ?? '2',
        SigningCertURL: opts.certUrl ?? `${host.origin}${certPath}`,
      };
      if (fields.Subject !== undefined) m.Subject = fields.Subject;
      if (type !== 'Notification') {
        m.Token = crypto.randomBytes(32).toString('hex');
        m.SubscribeURL = `${host.origin}/?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(fields.TopicArn)}&Token=${m.Token}`;
      } else {
        m.UnsubscribeURL = `${host.origin}/?Action=Unsubscribe&SubscriptionArn=${encodeURIComponent(fields.TopicArn)}:sub`;
      }
      m.Signature = crypto.sign(m.SignatureVersion === '1' ? 'sha1' : 'sha256', Buffer.from(snsStringToSign(m)), opts.signWith ?? signingKey).toString('base64');
      return m;
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const server = https.createServer({ key: tlsPair.key, cert: tlsPair.cert }, (req, res) => {
    const u = new URL(req.url ?? '/', 'https://x');
    if (u.pathname === certPath) {
      host.certFetches++;
      res.writeHead(200, { 'content-type': 'application/x-pem-file' });
      res.end(signing.cert);
    } else if (u.searchParams.get('Action') === 'ConfirmSubscription') {
      host.confirmed.push(u.searchParams.get('Token') ?? '');
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(`<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>${u.searchParams.get('TopicArn')}:${crypto.randomUUID()}</SubscriptionArn></ConfirmSubscriptionResult></ConfirmSubscriptionResponse>`);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  host.origin = `https://127.0.0.1:${port}`;
  host.hostPattern = `^127\\.0\\.0\\.1:${port}$`;
  return host;
}

/** Posts a message as SNS does (text/plain JSON, the x-amz-sns-* headers). */
export async function postSns(url: string, m: Record<string, string> | string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const body = typeof m === 'string' ? m : JSON.stringify(m);
  const parsed = typeof m === 'string' ? undefined : m;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'text/plain; charset=UTF-8',
      ...(parsed ? { 'x-amz-sns-message-type': parsed.Type, 'x-amz-sns-message-id': parsed.MessageId, 'x-amz-sns-topic-arn': parsed.TopicArn } : {}),
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: json };
}
