// Amazon SNS on the webhook receiver (`verify: { scheme: sns }`): every message is verified as AWS documents
// (the string to sign built per message type, SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA, the
// signing certificate fetched only from https sns.<region>.amazonaws.com and cached). A SubscriptionConfirmation
// of an allow-listed topic is confirmed by fetching its SubscribeURL (same host rule); others are refused and
// reported. Notifications become events keyed by their MessageId, so SNS's retries are duplicates. Both fetches
// follow the network setting (proxy, trusted CAs), as every outbound HTTP client does.
import crypto from 'node:crypto';
import { request } from 'undici';
import { z } from 'zod';
import { errorMessage, type ItemAttributes, type NewItem } from '../contract.ts';
import { Network, type NetDispatcher } from '../net/index.ts';

/** AWS's SNS endpoints: sns.<region>.amazonaws.com (and .com.cn in China). Matched against the URL's host[:port]. */
export const AWS_SNS_HOSTS = '^sns\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?$';

/** SNS retries a delivery for at most an hour (AWS's hard limit): an older Timestamp is a replay. */
const MAX_AGE_MS = 2 * 3600_000;
const MAX_SKEW_MS = 5 * 60_000;
const CERT_MAX_BYTES = 64 * 1024;
const CERT_CACHE = 50;
const FETCH_TIMEOUT_MS = 10_000;

/** The keys `verify` takes for scheme sns (spread into the webhook's verify block). */
export const snsVerifyShape = {
  topics: z
    .array(z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/, { error: (iss) => `expected a topic ARN like "arn:aws:sns:eu-central-1:123456789012:orders", got ${JSON.stringify(iss.input)}` }))
    .min(1)
    .optional()
    .meta({ description: 'scheme sns: the topics (ARNs) accepted: their subscription is confirmed and their messages queued; others are refused.' }),
  unwrap: z.boolean().optional().meta({ description: 'scheme sns: queue the inner Message (as JSON when it parses) instead of the SNS envelope.' }),
  hostPattern: z
    .string()
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, { error: 'expected a regular expression' })
    .optional()
    .meta({ description: `scheme sns: host[:port] that SigningCertURL and SubscribeURL must have (https only); default AWS's, ${AWS_SNS_HOSTS}. Change it only for a test signer.` }),
};

export interface SnsSettings {
  topics?: string[];
  unwrap?: boolean;
  hostPattern?: string;
}

/** What became of one SNS request: an event to queue, a request answered here, or a refusal. */
export type SnsOutcome =
  | { kind: 'event'; item: NewItem }
  | { kind: 'answered'; status: number; body: Record<string, unknown>; log: string; problem?: string }
  | { kind: 'refused'; status: number; error: string; problem?: string };

type Headers = Record<string, string | string[] | undefined>;

/** A signing certificate's public key and validity, parsed once. */
interface SigningKey {
  key: crypto.KeyObject;
  from: number;
  to: number;
  validity: string;
}

interface SnsMessage {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  Token?: string;
  SubscribeURL?: string;
  UnsubscribeURL?: string;
  MessageAttributes?: unknown;
}

const TYPES = ['Notification', 'SubscriptionConfirmation', 'UnsubscribeConfirmation'];

/** The string SNS signs (AWS: "Verifying the signatures of Amazon SNS messages"): name, value, each on its own line. */
export function stringToSign(m: SnsMessage): string {
  const keys = m.Type === 'Notification'
    ? ['Message', 'MessageId', ...(m.Subject !== undefined ? ['Subject'] : []), 'Timestamp', 'TopicArn', 'Type']
    : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  return keys.map((k) => `${k}\n${(m as unknown as Record<string, string>)[k]}\n`).join('');
}

function header(h: Headers, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export class SnsReceiver {
  private readonly cfg: SnsSettings;
  private readonly hostRe: RegExp;
  private readonly dispatcher: NetDispatcher;
  private readonly certs = new Map<string, Promise<SigningKey>>();

  /** `net`: the engine's network setting (default: Network.default(), the proxy environment and the system store). */
  constructor(cfg: SnsSettings, net: Network = Network.default()) {
    this.cfg = cfg;
    this.hostRe = new RegExp(cfg.hostPattern ?? AWS_SNS_HOSTS, 'i');
    this.dispatcher = net.dispatcher({ timeoutMs: FETCH_TIMEOUT_MS, connections: 4 });
  }

  /** A failed fetch in plain words: the proxy, TLS or network reason the dispatcher knows of. */
  private reason(err: unknown, url: string): string {
    return this.dispatcher.explain(err, url);
  }

  /** Why a URL SNS gave may not be fetched, or undefined when it may (https on an allowed host, nothing else). */
  private urlProblem(what: string, raw: string | undefined, pem = false): string | undefined {
    let u: URL;
    try {
      u = new URL(String(raw));
    } catch {
      return `${what} is not a URL`;
    }
    if (u.protocol !== 'https:') return `${what} ${u.origin} is not https`;
    if (!this.hostRe.test(u.host) || u.username || u.password) return `${what} host ${u.host} is not an SNS host (allowed: ${this.hostRe.source})`;
    if (pem && !u.pathname.endsWith('.pem')) return `${what} ${u.origin}${u.pathname} is not a .pem certificate`;
    return undefined;
  }

  /** The signing key of a certificate URL, fetched once (while the certificate is valid) and shared by concurrent requests. */
  private certificate(url: string, now: number): Promise<SigningKey> {
    let cached = this.certs.get(url);
    if (!cached) {
      cached = this.fetchCertificate(url).then((cert) => ({ key: cert.publicKey, from: Date.parse(cert.validFrom), to: Date.parse(cert.validTo), validity: `${cert.validFrom} to ${cert.validTo}` }));
      this.certs.set(url, cached);
      cached.catch(() => this.certs.delete(url));
      if (this.certs.size > CERT_CACHE) this.certs.delete(this.certs.keys().next().value!);
    }
    return cached.then((c) => {
      if (c.to < now || c.from > now) {
        this.certs.delete(url);
        throw new Error(`the signing certificate ${url} is not valid now (valid ${c.validity})`);
      }
      return c;
    });
  }

  private async fetchCertificate(url: string): Promise<crypto.X509Certificate> {
    let res;
    try {
      res = await request(url, { dispatcher: this.dispatcher, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    } catch (err) {
      throw new Error(`fetching the signing certificate ${url} failed: ${this.reason(err, url)}`);
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new Error(`fetching the signing certificate ${url} got HTTP ${res.statusCode}`);
    }
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      n += c.length;
      if (n > CERT_MAX_BYTES) throw new Error(`the signing certificate ${url} is larger than ${CERT_MAX_BYTES} bytes`);
      chunks.push(c);
    }
    try {
      return new crypto.X509Certificate(Buffer.concat(chunks));
    } catch (err) {
      throw new Error(`${url} is not a PEM certificate: ${errorMessage(err)}`);
    }
  }

  /** Verifies and handles one request SNS posted. */
  async handle(headers: Headers, raw: Buffer, now = Date.now()): Promise<SnsOutcome> {
    let m: SnsMessage;
    try {
      m = JSON.parse(raw.toString('utf8'));
    } catch {
      const raw = header(headers, 'x-amz-sns-rawdelivery') === 'true' || header(headers, 'x-amz-sns-message-type') !== undefined;
      return { kind: 'refused', status: 400, error: raw ? 'not an SNS envelope: raw message delivery is on for this subscription (SNS does not sign raw messages; turn it off)' : 'body is not an SNS message (not JSON)' };
    }
    if (!m || typeof m !== 'object' || !TYPES.includes(m.Type)) return { kind: 'refused', status: 400, error: `not an SNS message: Type ${JSON.stringify((m as { Type?: unknown })?.Type)} (expected ${TYPES.join(', ')})` };
    for (const k of ['MessageId', 'TopicArn', 'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL', ...(m.Type === 'Notification' ? ['Message'] : ['Message', 'Token', 'SubscribeURL'])]) {
      if (typeof (m as unknown as Record<string, unknown>)[k] !== 'string') return { kind: 'refused', status: 400, error: `SNS ${m.Type} without ${k}` };
    }
    const typeHeader = header(headers, 'x-amz-sns-message-type');
    if (typeHeader !== undefined && typeHeader !== m.Type) return { kind: 'refused', status: 400, error: `x-amz-sns-message-type ${typeHeader} does not match the body's Type ${m.Type}` };
    const verdict = await this.verify(m, now);
    if (verdict) return { kind: 'refused', status: verdict.status, error: `verification failed: ${verdict.reason}`, problem: verdict.problem };
    const listed = this.cfg.topics?.includes(m.TopicArn) === true;
    switch (m.Type) {
      case 'SubscriptionConfirmation':
        return listed ? this.confirm(m) : {
          kind: 'refused',
          status: 403,
          error: `subscription to topic ${m.TopicArn} refused: not in verify.topics`,
          problem: `SNS: a subscription to topic ${m.TopicArn} was refused (not in verify.topics); add it there to accept that topic's messages`,
        };
      case 'UnsubscribeConfirmation':
        return {
          kind: 'answered',
          status: 200,
          body: { status: 'noted' },
          log: `SNS: this endpoint was unsubscribed from topic ${m.TopicArn}`,
          problem: `SNS: unsubscribed from topic ${m.TopicArn}: no more messages will arrive from it (subscribe the endpoint again in AWS to resume)`,
        };
      default:
        if (!listed) return { kind: 'refused', status: 403, error: `topic ${m.TopicArn} is not in verify.topics` };
        return { kind: 'event', item: this.itemOf(m, raw) };
    }
  }

  /** Undefined when the message is authentic; else the answer's status and why. */
  private async verify(m: SnsMessage, now: number): Promise<{ status: number; reason: string; problem?: string } | undefined> {
    const algorithm = m.SignatureVersion === '1' ? 'sha1' : m.SignatureVersion === '2' ? 'sha256' : undefined;
    if (!algorithm) return { status: 401, reason: `SignatureVersion ${JSON.stringify(m.SignatureVersion)} is not 1 or 2` };
    const certProblem = this.urlProblem('SigningCertURL', m.SigningCertURL, true);
    if (certProblem) return { status: 401, reason: certProblem };
    const at = Date.parse(m.Timestamp);
    if (!Number.isFinite(at)) return { status: 401, reason: `Timestamp ${JSON.stringify(m.Timestamp)} is not a time` };
    if (now - at > MAX_AGE_MS || at - now > MAX_SKEW_MS) {
      return { status: 401, reason: `Timestamp ${m.Timestamp} is ${Math.round((now - at) / 60_000)} min from now (a replay, or this machine's clock is wrong)` };
    }
    let cert: SigningKey;
    try {
      cert = await this.certificate(m.SigningCertURL, now);
    } catch (err) {
      // not the sender's fault (a network problem here): SNS tries again later
      return { status: 503, reason: `cannot check the signature now: ${errorMessage(err)}`, problem: `SNS: cannot fetch the signing certificate: ${errorMessage(err)}` };
    }
    const ok = crypto.verify(algorithm, Buffer.from(stringToSign(m), 'utf8'), cert.key, Buffer.from(m.Signature, 'base64'));
    return ok ? undefined : { status: 401, reason: 'signature does not match' };
  }

  /** Confirms a subscription by fetching its SubscribeURL (AWS answers with the subscription's ARN). */
  private async confirm(m: SnsMessage): Promise<SnsOutcome> {
    const problem = this.urlProblem('SubscribeURL', m.SubscribeURL);
    if (problem) {
      return { kind: 'refused', status: 403, error: `subscription to topic ${m.TopicArn} refused: ${problem}`, problem: `SNS: a subscription to topic ${m.TopicArn} was refused: ${problem}` };
    }
    try {
      const res = await request(m.SubscribeURL!, { dispatcher: this.dispatcher, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) }).catch((err) => {
        throw new Error(this.reason(err, m.SubscribeURL!));
      });
      const text = (await res.body.text()).slice(0, 4096);
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}${text ? `: ${text.slice(0, 200)}` : ''}`);
      const arn = /<SubscriptionArn>([^<]+)<\/SubscriptionArn>/.exec(text)?.[1];
      return { kind: 'answered', status: 200, body: { status: 'confirmed', topic: m.TopicArn }, log: `SNS: subscription to topic ${m.TopicArn} confirmed${arn ? ` (${arn})` : ''}` };
    } catch (err) {
      // SNS sends the confirmation again when it is not answered 2xx
      return { kind: 'refused', status: 503, error: `confirming the subscription failed: ${errorMessage(err)}`, problem: `SNS: confirming the subscription to topic ${m.TopicArn} failed: ${errorMessage(err)} (SNS sends it again)` };
    }
  }

  /** The event: the envelope as received, or (unwrap) the inner Message. */
  private itemOf(m: SnsMessage, raw: Buffer): NewItem {
    const attributes: ItemAttributes = {
      webhookId: m.MessageId,
      eventType: 'Notification',
      snsTopicArn: m.TopicArn,
      snsSubject: m.Subject ?? null,
      snsTimestamp: m.Timestamp,
      snsMessageAttributes: m.MessageAttributes && typeof m.MessageAttributes === 'object' ? JSON.stringify(m.MessageAttributes) : null,
      receivedAt: new Date().toISOString(),
    };
    const id = m.MessageId.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
    let body = raw;
    let json = true;
    if (this.cfg.unwrap) {
      body = Buffer.from(m.Message, 'utf8');
      try {
        JSON.parse(m.Message);
      } catch {
        json = false;
      }
    }
    attributes.contentType = json ? 'application/json' : 'text/plain; charset=utf-8';
    return { sourceKey: `webhook:${m.MessageId}`, name: `${id}.${json ? 'json' : 'txt'}`, attributes, body: { bytes: body } };
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
