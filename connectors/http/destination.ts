// HTTP destination: streams each item's body to an API with its idempotency key. 2xx delivers; 408, 425,
// 429, 5xx and network errors retry (Retry-After honoured); 410, other 4xx and unfollowed 3xx go dead.
import { Agent, request, errors as undiciErrors } from 'undici';
import mime from 'mime-types';
import {
  deadLetter,
  delivered,
  errorMessage,
  retryLater,
  type CheckResult,
  type DeliveryOutcome,
  type Destination,
  type DestinationContext,
  type OutgoingItem,
} from '../contract.ts';
import type { HttpDestinationConfig } from './schema.ts';

const SNIPPET_BYTES = 2048;
const REPLY_MAX_BYTES = 1024 * 1024;

/** Reads a response body up to max bytes (the rest is discarded). */
async function readBounded(body: AsyncIterable<Buffer> & { destroy?: () => void }, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    if (n < max) chunks.push(chunk);
    n += chunk.length;
    if (n > max) break;
  }
  if (n > max) body.destroy?.();
  return Buffer.concat(chunks).subarray(0, max);
}
const RETRYABLE = new Set([408, 425, 429]);

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Reads at most SNIPPET_BYTES of a response body as text and discards the rest. */
async function snippet(body: AsyncIterable<Buffer> & { destroy?: () => void }): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    if (n < SNIPPET_BYTES) chunks.push(chunk);
    n += chunk.length;
    if (n >= SNIPPET_BYTES) break;
  }
  body.destroy?.();
  return Buffer.concat(chunks).subarray(0, SNIPPET_BYTES).toString('utf8');
}

/** One-line description of a network failure. */
function networkReason(err: unknown, url: URL): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.code ?? e.cause?.code;
  const where = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `host unreachable: connection refused by ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${url.hostname}`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `connection to ${where} was reset`;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `timed out talking to ${where}`;
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'CERT_HAS_EXPIRED':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `TLS certificate not trusted (${code}) for ${where}`;
    default:
      return `${where}: ${errorMessage(e.cause ?? e)}`;
  }
}

export class HttpDestination implements Destination {
  private readonly cfg: HttpDestinationConfig;
  private readonly url: URL;
  private readonly agent: Agent;
  readonly concurrency: number;

  constructor(cfg: HttpDestinationConfig) {
    this.cfg = cfg;
    this.url = new URL(cfg.url);
    this.concurrency = cfg.concurrency;
    this.agent = new Agent({
      connections: cfg.concurrency,
      connectTimeout: cfg.timeoutMs,
      headersTimeout: cfg.timeoutMs,
      bodyTimeout: cfg.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  private authHeaders(): Record<string, string> {
    const a = this.cfg.auth;
    if (!a) return {};
    if (a.type === 'bearer') return { authorization: `Bearer ${a.token}` };
    if (a.type === 'basic') return { authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}` };
    return { [a.header.toLowerCase()]: a.value };
  }

  async check(): Promise<CheckResult> {
    try {
      const res = await request(this.url, {
        method: 'HEAD',
        dispatcher: this.agent,
        headers: { ...lower(this.cfg.headers), ...this.authHeaders() },
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
      await res.body.dump();
      if (res.statusCode === 401 || res.statusCode === 403) return { ok: false, message: `authentication failed: ${this.url.origin} answered HTTP ${res.statusCode}` };
      if (res.statusCode >= 500) return { ok: false, message: `${this.url.origin} answered HTTP ${res.statusCode} (server error)` };
      return { ok: true, message: `${this.url.origin} reachable (HTTP ${res.statusCode} to HEAD)` };
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') return { ok: false, message: `timed out after ${this.cfg.timeoutMs} ms connecting to ${this.url.host}` };
      return { ok: false, message: networkReason(err, this.url) };
    }
  }

  async send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome> {
    const contentType = this.cfg.contentType ?? (mime.lookup(item.name) || 'application/octet-stream');
    const headers: Record<string, string> = {
      'content-type': contentType,
      'content-length': String(item.size),
      'x-ferry-filename': encodeURIComponent(item.name),
      'x-ferry-flow': item.flow,
      'idempotency-key': item.idempotencyKey,
      ...lower(this.cfg.headers),
      ...this.authHeaders(),
    };
    let res;
    try {
      res = await request(this.url, {
        method: this.cfg.method,
        dispatcher: this.agent,
        headers,
        body: item.size > 0 ? item.openBody() : '',
        signal: ctx.signal,
      });
    } catch (err) {
      if (err instanceof undiciErrors.RequestAbortedError || ctx.signal.aborted) return retryLater('delivery interrupted (Ferry is stopping)');
      return retryLater(networkReason(err, this.url));
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      if (!ctx.wantsReply) {
        await res.body.dump();
        return delivered(`HTTP ${status}`);
      }
      // the reply is kept for synchronous callers (issue 5); bounded so a huge answer cannot exhaust memory
      const body = await readBounded(res.body, REPLY_MAX_BYTES).catch(() => Buffer.alloc(0));
      const contentType = res.headers['content-type'];
      return delivered(`HTTP ${status}`, { status, contentType: Array.isArray(contentType) ? contentType[0] : contentType, body });
    }
    const response = await snippet(res.body).catch(() => '');
    if (status >= 300 && status < 400) {
      return deadLetter(`HTTP ${status}: redirect to ${String(res.headers.location ?? '?')} not followed (point url at the final address)`, { status, response });
    }
    if (RETRYABLE.has(status) || status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      return retryLater(`HTTP ${status} from ${this.url.host}`, { status, response, retryAfterMs });
    }
    const hint = status === 410 ? ' (the endpoint is gone)' : status === 401 || status === 403 ? ' (check the credentials)' : '';
    return deadLetter(`HTTP ${status} from ${this.url.host}${hint}`, { status, response });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}
