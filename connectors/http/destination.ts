// HTTP destination: streams each item's body to an API with its idempotency key. 2xx delivers; 408, 425,
// 429, 5xx and network errors retry (Retry-After honoured); 410, other 4xx and unfollowed 3xx go dead.
import type { Readable } from 'node:stream';
import { request, errors as undiciErrors, type Dispatcher } from 'undici';
import { mimeTypesLib } from '../http-common/optional-modules.ts';
import {
  deadLetter,
  delivered,
  retryLater,
  type CheckResult,
  type DeliveryOutcome,
  type ConnectorEnv,
  type Destination,
  type DestinationContext,
  type OutgoingItem,
} from '../contract.ts';
import type { HttpDestinationConfig } from './schema.ts';
import { deliveredReply, parseRetryAfter, REPLY_MAX_BYTES, RETRYABLE_STATUS, SNIPPET_BYTES, snippet } from '../http-common/reply.ts';
import { originAndPath, sendSmall, type SmallReply } from '../http-common/small-request.ts';
import { AuthError, Authenticator, sendAuthorized } from '../http-common/auth.ts';
import { Network, type NetDispatcher } from '../net/index.ts';

export { parseRetryAfter };

/** A reply whose body is a stream (undici's request()). */
type StreamedReply = Dispatcher.ResponseData;
type Reply = SmallReply | StreamedReply;
const isSmall = (r: Reply): r is SmallReply => Buffer.isBuffer(r.body);

/** Bodies up to this size that the queue holds in memory (no body file) are sent as one buffer. */
const WHOLE_BODY_MAX_BYTES = 256 * 1024;

export class HttpDestination implements Destination {
  private readonly cfg: HttpDestinationConfig;
  private readonly url: URL;
  private readonly agent: NetDispatcher;
  readonly concurrency: number;

  constructor(cfg: HttpDestinationConfig, env?: ConnectorEnv) {
    this.cfg = cfg;
    this.url = new URL(cfg.url);
    this.concurrency = cfg.concurrency;
    // proxy, trust and client certificate from the network setting, this destination's proxy/tls on top;
    // OAuth token requests go through the same dispatcher
    this.agent = (env?.net ?? Network.default()).dispatcher({ proxy: cfg.proxy, tls: cfg.tls, connections: cfg.concurrency, timeoutMs: cfg.timeoutMs, keepAliveMs: 4_000 });
    this.auth = new Authenticator(cfg.auth, this.agent, env);
    this.extraHeaders = lower(cfg.headers);
  }

  private readonly auth: Authenticator;
  /** The configured extra headers, lower-cased once. */
  private readonly extraHeaders: Record<string, string>;
  /** Origin and path of the target (fixed: query credentials do not change), worked out on first use. */
  private where?: { origin: string; path: string };

  /** The URL with any query-string credentials (API key in: query). */
  private target(): URL {
    const q = this.auth.query();
    if (Object.keys(q).length === 0) return this.url;
    const u = new URL(this.url);
    for (const [k, v] of Object.entries(q)) u.searchParams.set(k, v);
    return u;
  }

  async check(): Promise<CheckResult> {
    try {
      const res = await request(this.target(), {
        method: 'HEAD',
        dispatcher: this.agent,
        headers: { ...lower(this.cfg.headers), ...(await this.auth.headers()) },
        signal: AbortSignal.timeout(this.cfg.timeoutMs),
      });
      await res.body.dump();
      if (res.statusCode === 401 || res.statusCode === 403) return { ok: false, message: `authentication failed: ${this.url.origin} answered HTTP ${res.statusCode}` };
      if (res.statusCode >= 500) return { ok: false, message: `${this.url.origin} answered HTTP ${res.statusCode} (server error)` };
      return { ok: true, message: `${this.url.origin} reachable (HTTP ${res.statusCode} to HEAD); ${await this.agent.pathTo(this.url)}` };
    } catch (err) {
      if (err instanceof AuthError) return { ok: false, message: err.message };
      if ((err as Error).name === 'TimeoutError') return { ok: false, message: `timed out after ${this.cfg.timeoutMs} ms connecting to ${this.url.host} (${await this.agent.routeTo(this.url)})` };
      return { ok: false, message: await this.agent.explainCheck(err, this.url) };
    }
  }

  async send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome> {
    const contentType = this.cfg.contentType ?? (mimeTypesLib().lookup(item.name) || 'application/octet-stream');
    const headers: Record<string, string> = {
      'content-type': contentType,
      'content-length': String(item.size),
      'x-ferry-filename': encodeURIComponent(item.name),
      'x-ferry-flow': item.flow,
      'idempotency-key': item.idempotencyKey,
    };
    for (const k in this.extraHeaders) headers[k] = this.extraHeaders[k];
    let res: Reply;
    // OAuth: a 401 may mean the cached token expired early or was revoked; a new one is fetched and sent once more
    try {
      // A small body (the queue holds it, no body file) goes as one buffer: written with the headers in one
      // system call, through a lean handler (small-request.ts) rather than request()'s stream per reply. A
      // large one goes from its file in reused blocks (undici writes each block and waits for the socket's
      // drain before it asks for the next).
      const small = item.size === 0 ? '' : item.size <= WHOLE_BODY_MAX_BYTES && item.bodyFile === undefined ? await item.readBody() : undefined;
      res = small !== undefined ? await this.sendSmall(small, headers, ctx) : await this.sendStream(item, headers, ctx);
    } catch (err) {
      if (err instanceof AuthError) return retryLater(err.message);
      if (err instanceof undiciErrors.RequestAbortedError || ctx.signal.aborted) return retryLater('delivery interrupted (Ferry is stopping)');
      return retryLater(this.agent.explain(err, this.url));
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      if (!isSmall(res)) return deliveredReply(res, ctx.wantsReply);
      if (!ctx.wantsReply) return delivered(`HTTP ${status}`);
      const type = res.headers['content-type'];
      return delivered(`HTTP ${status}`, { status, contentType: Array.isArray(type) ? type[0] : type, body: res.body });
    }
    const response = isSmall(res) ? res.body.toString('utf8') : await snippet(res.body).catch(() => '');
    if (status >= 300 && status < 400) {
      return deadLetter(`HTTP ${status}: redirect to ${String(res.headers.location ?? '?')} not followed (point url at the final address)`, { status, response });
    }
    if (RETRYABLE_STATUS.has(status) || status >= 500) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      return retryLater(`HTTP ${status} from ${this.url.host}`, { status, response, retryAfterMs });
    }
    const hint = status === 410 ? ' (the endpoint is gone)' : status === 401 || status === 403 ? ' (check the credentials)' : '';
    return deadLetter(`HTTP ${status} from ${this.url.host}${hint}`, { status, response });
  }

  /** An in-memory body: one dispatch; the reply body is read only as far as the outcome needs it. */
  private async sendSmall(body: Buffer | string, headers: Record<string, string>, ctx: DestinationContext): Promise<SmallReply> {
    const { origin, path } = (this.where ??= originAndPath(this.target()));
    const send = (auth: Record<string, string>) =>
      sendSmall(this.agent, {
        origin,
        path,
        method: this.cfg.method,
        headers: withAuth(headers, auth),
        body,
        signal: ctx.signal,
        keep2xx: ctx.wantsReply ? REPLY_MAX_BYTES : 0,
        keepOther: SNIPPET_BYTES,
      });
    // no credentials: nothing to await before the request
    return this.cfg.auth ? sendAuthorized(this.auth, ctx.signal, send) : send(NO_HEADERS);
  }

  /** A body in the content store (or a stream): request() with the body's blocks, the reply as a stream. */
  private sendStream(item: OutgoingItem, headers: Record<string, string>, ctx: DestinationContext): Promise<StreamedReply> {
    return sendAuthorized(this.auth, ctx.signal, (auth) =>
      request(this.target(), {
        method: this.cfg.method,
        dispatcher: this.agent,
        headers: withAuth(headers, auth),
        // undici takes an AsyncIterable body (documented); its types list only string, Buffer and Readable
        body: (item.bodyBlocks?.() ?? item.openBody()) as Readable,
        signal: ctx.signal,
      }),
    );
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

const NO_HEADERS: Record<string, string> = {};

/** The request's headers with the credentials' (which win, as they always did). */
function withAuth(headers: Record<string, string>, auth: Record<string, string>): Record<string, string> {
  if (auth === NO_HEADERS) return headers;
  const all = { ...headers };
  for (const k in auth) all[k] = auth[k];
  return all;
}
