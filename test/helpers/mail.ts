// A real SMTP server (smtp-server) on 127.0.0.1 that checks the login and keeps what it receives, plus a
// small MIME reader (multipart, base64, quoted-printable) for assertions on the received mail.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  user?: string;
  raw: Buffer;
}

export interface SmtpSink {
  port: number;
  mails: ReceivedMail[];
  logins: Array<{ user: string; ok: boolean }>;
  /** Decide the reply to a recipient: undefined accepts; otherwise an error with this SMTP code and text. */
  onRcpt?: (address: string, n: number) => { code: number; message: string } | undefined;
  close(): Promise<void>;
}

export async function startSmtp(opts: { secure?: boolean; user?: string; pass?: string } = {}): Promise<SmtpSink> {
  let rcpts = 0;
  const sink: SmtpSink = {
    port: 0,
    mails: [],
    logins: [],
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const options: SMTPServerOptions = {
    secure: opts.secure ?? false,
    // smtp-server's built-in self-signed certificate serves STARTTLS and implicit TLS
    authOptional: !opts.user,
    disabledCommands: opts.user ? [] : ['AUTH'],
    logger: false,
    onAuth(auth, _session, cb) {
      const ok = auth.username === opts.user && auth.password === opts.pass;
      sink.logins.push({ user: auth.username ?? '', ok });
      if (!ok) return cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      cb(null, { user: auth.username });
    },
    onRcptTo(address, _session, cb) {
      const verdict = sink.onRcpt?.(address.address, rcpts++);
      if (verdict) return cb(Object.assign(new Error(verdict.message), { responseCode: verdict.code }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        sink.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          user: session.user as string | undefined,
          raw: Buffer.concat(chunks),
        });
        cb();
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sink.port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  return sink;
}

export interface MimePart {
  headers: Record<string, string>;
  body: Buffer;
  parts: MimePart[];
}

function unfoldHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return headers;
}

function decodeWords(s: string): string {
  return s.replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_m, charset: string, enc: string, data: string) => {
    const bytes = enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64') : Buffer.from(data.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
    return new TextDecoder(charset).decode(bytes);
  }).replace(/\?=\s+=\?/g, '');
}

export function parseMime(raw: Buffer): MimePart {
  const text = raw.toString('latin1');
  const sep = text.search(/\r?\n\r?\n/);
  const headers = unfoldHeaders(text.slice(0, sep));
  for (const k of Object.keys(headers)) headers[k] = decodeWords(headers[k]);
  const bodyText = text.slice(sep).replace(/^\r?\n\r?\n/, '');
  const type = headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  if (/^multipart\//i.test(type) && boundary) {
    const pieces = bodyText.split(`--${boundary}`).slice(1);
    const parts = pieces.filter((p) => !p.startsWith('--')).map((p) => parseMime(Buffer.from(p.replace(/^\r?\n/, ''), 'latin1')));
    return { headers, body: Buffer.alloc(0), parts };
  }
  const enc = (headers['content-transfer-encoding'] ?? '').toLowerCase();
  let body: Buffer;
  if (enc === 'base64') body = Buffer.from(bodyText.replace(/\s+/g, ''), 'base64');
  else if (enc === 'quoted-printable') body = Buffer.from(bodyText.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
  else body = Buffer.from(bodyText.replace(/\r?\n$/, ''), 'latin1');
  return { headers, body, parts: [] };
}

/** Every leaf part of a mail. */
export function leaves(p: MimePart): MimePart[] {
  return p.parts.length === 0 ? [p] : p.parts.flatMap(leaves);
}

export function attachmentsOf(p: MimePart): Array<{ filename: string; contentType: string; content: Buffer }> {
  return leaves(p)
    .filter((l) => /attachment/i.test(l.headers['content-disposition'] ?? ''))
    .map((l) => ({ filename: /filename="?([^";]+)"?/i.exec(l.headers['content-disposition'])![1], contentType: l.headers['content-type'].split(';')[0], content: l.body }));
}
