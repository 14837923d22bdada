// http-poll source: on each scheduled scan, queries an API page by page (page number, offset/limit, a
// cursor token in the body, or Link rel="next"), selects the records (JSONata) and queues them. The
// incremental cursor and the position inside a run are written in the same transaction as each page's
// items, so a crash resumes at the next page: nothing skipped, nothing queued twice under another key.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { request } from 'undici';
import type jsonata from 'jsonata';
import { jsonataLib } from '../http-common/optional-modules.ts';
import { errorMessage, type CheckResult, type ConnectorEnv, type NewItem, type Source, type SourceContext } from '../contract.ts';
import { AuthError, Authenticator } from '../http-common/auth.ts';
import { parseRetryAfter } from '../http-common/reply.ts';
import { ACCEPT_ENCODING, readReply, ReplyError } from '../http-common/reply.ts';
import { sleep, takeSlot } from './ratelimit.ts';
import type { HttpPollSourceConfig } from './schema.ts';
import { Network, type NetDispatcher } from '../net/index.ts';

type Cursor = string | number;
/** Where the next request of a run starts. */
type PageState = { page: number } | { offset: number } | { token: string } | { url: string } | { first: true };

interface PollState {
  /** The committed incremental cursor (high-water mark or sync token). */
  cursor?: Cursor;
  /** A run in progress: the cursor it was started with, its next page and the highest value seen so far. */
  run?: { since?: Cursor; next: PageState; hwm?: Cursor; pages: number };
}

const STATE_KEY = 'poll';

export class PollError extends Error {}

/** RFC 8288: the target of rel="next" in a Link header, resolved against the request URL. */
export function nextLink(header: string | string[] | undefined, base: URL): string | undefined {
  const v = Array.isArray(header) ? header.join(',') : header;
  if (!v) return undefined;
  for (const m of v.matchAll(/<([^>]*)>\s*((?:;\s*[^;,]+)*)/g)) {
    const params = m[2];
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return new URL(m[1], base).toString();
  }
  return undefined;
}

function greater(a: Cursor | undefined, b: Cursor | undefined): Cursor | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (typeof a === 'number' && typeof b === 'number') return b > a ? b : a;
  return String(b) > String(a) ? b : a;
}

export class HttpPollSource implements Source {
  private readonly cfg: HttpPollSourceConfig;
  private readonly agent: NetDispatcher;
  readonly auth: Authenticator;
  private readonly recordPath?: jsonata.Expression;
  private readonly keyExpr?: jsonata.Expression;
  private readonly cursorField?: jsonata.Expression;
  private readonly tokenPath?: jsonata.Expression;
  private readonly nextPath?: jsonata.Expression;
  private readonly host: string;

  constructor(cfg: HttpPollSourceConfig, env?: ConnectorEnv) {
    this.cfg = cfg;
    // the network setting with this source's proxy/tls on top; OAuth token requests share it
    this.agent = (env?.net ?? Network.default()).dispatcher({ proxy: cfg.proxy, tls: cfg.tls, timeoutMs: cfg.timeoutMs, keepAliveMs: 4_000 });
    this.auth = new Authenticator(cfg.auth, this.agent, env);
    this.recordPath = cfg.recordPath ? jsonataLib()(cfg.recordPath) : undefined;
    this.keyExpr = cfg.key ? jsonataLib()(cfg.key) : undefined;
    if (cfg.incremental && 'field' in cfg.incremental) this.cursorField = jsonataLib()(cfg.incremental.field);
    if (cfg.incremental && 'tokenPath' in cfg.incremental) this.tokenPath = jsonataLib()(cfg.incremental.tokenPath);
    if (cfg.pagination.type === 'cursor') this.nextPath = jsonataLib()(cfg.pagination.nextPath);
    this.host = new URL(cfg.url).host;
  }

  async check(): Promise<CheckResult> {
    try {
      const res = await this.fetch(this.requestFor(this.cfg.incremental?.start, { first: true }), AbortSignal.timeout(this.cfg.timeoutMs), 0);
      const records = await this.records(res.body);
      return { ok: true, message: `${this.host} answered HTTP ${res.status}; ${records.length} records on the first page; ${await this.agent.pathTo(this.cfg.url)}` };
    } catch (err) {
      return { ok: false, message: errorMessage(err) };
    }
  }

  /** The URL and body of one request. */
  private requestFor(since: Cursor | undefined, at: PageState): { url: URL; body?: string } {
    if ('url' in at) return { url: new URL(at.url), body: this.cfg.method === 'POST' ? JSON.stringify(this.cfg.body ?? {}) : undefined };
    const params: Record<string, string | number | boolean> = {};
    const p = this.cfg.pagination;
    if (p.type === 'page') {
      params[p.param] = 'page' in at ? at.page : p.start;
      if (p.sizeParam && p.size) params[p.sizeParam] = p.size;
    } else if (p.type === 'offset') {
      params[p.offsetParam] = 'offset' in at ? at.offset : 0;
      params[p.limitParam] = p.limit;
    } else if (p.type === 'cursor' && 'token' in at) params[p.param] = at.token;
    if (this.cfg.incremental && since !== undefined) params[this.cfg.incremental.param] = since;
    const url = new URL(this.cfg.url);
    for (const [k, v] of Object.entries({ ...this.cfg.query, ...this.auth.query() })) url.searchParams.set(k, String(v));
    let body: string | undefined;
    if (this.cfg.method === 'POST' && this.cfg.paramsIn === 'body') body = JSON.stringify({ ...(this.cfg.body ?? {}), ...params });
    else {
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
      if (this.cfg.method === 'POST') body = JSON.stringify(this.cfg.body ?? {});
    }
    return { url, body };
  }

  /**
   * One request with the rate limit, OAuth refresh on 401 (once), and retries after 429 (Retry-After),
   * 5xx and network errors. Throws PollError with a clear message when the page cannot be had.
   */
  private async fetch(req: { url: URL; body?: string }, signal: AbortSignal, maxRetries = this.cfg.maxRetries): Promise<{ status: number; body: unknown; link?: string }> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (!(await takeSlot(this.host, this.cfg.maxRequestsPerMinute, signal))) throw new PollError('interrupted: Ferry is stopping');
      let res;
      let authHeaders: Record<string, string> = {};
      try {
        authHeaders = await this.auth.headers(signal);
        res = await request(req.url, {
          method: this.cfg.method,
          dispatcher: this.agent,
          headers: {
            accept: 'application/json',
            'accept-encoding': ACCEPT_ENCODING,
            ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...Object.fromEntries(Object.entries(this.cfg.headers).map(([k, v]) => [k.toLowerCase(), v])),
            ...authHeaders,
          },
          body: req.body,
          signal,
        });
      } catch (err) {
        if (err instanceof AuthError) throw new PollError(err.message);
        if (signal.aborted) throw new PollError('interrupted: Ferry is stopping');
        if (attempt >= maxRetries) throw new PollError(this.agent.explain(err, req.url));
        await sleep(Math.min(30_000, 500 * 2 ** attempt), signal);
        continue;
      }
      const status = res.statusCode;
      if (status === 401 && this.auth.refreshable && !refreshed) {
        await res.body.dump();
        this.auth.rejected(authHeaders);
        refreshed = true;
        attempt--;
        continue;
      }
      if (status === 429 || status === 503 || status >= 500) {
        const text = (await readReply(res, { ...this.replyLimits(), maxBytes: 2048, truncate: true }).catch(() => Buffer.alloc(0))).toString('utf8');
        if (attempt >= maxRetries) throw new PollError(`${req.url.host} answered HTTP ${status} ${maxRetries + 1} times${text ? `: ${text.slice(0, 200)}` : ''}`);
        const wait = parseRetryAfter(res.headers['retry-after']) ?? Math.min(30_000, 500 * 2 ** attempt);
        if (!(await sleep(Math.min(wait, 15 * 60_000), signal))) throw new PollError('interrupted: Ferry is stopping');
        continue;
      }
      // the whole page, decompressed, up to maxReplyBytes and within timeoutMs
      let text: string;
      try {
        text = (await readReply(res, { ...this.replyLimits(), ...(status < 200 || status >= 300 ? { maxBytes: 2048, truncate: true } : {}) })).toString('utf8');
      } catch (err) {
        if (err instanceof ReplyError && err.permanent) throw new PollError(`${req.url.host}${req.url.pathname}: ${err.message}`);
        if (signal.aborted) throw new PollError('interrupted: Ferry is stopping');
        // cut off or dropped mid-reply: as a network error
        if (attempt >= maxRetries) throw new PollError(`${req.url.host}${req.url.pathname}: ${errorMessage(err)}`);
        await sleep(Math.min(30_000, 500 * 2 ** attempt), signal);
        continue;
      }
      if (status < 200 || status >= 300) {
        const hint = status === 401 || status === 403 ? ' (check the credentials)' : '';
        throw new PollError(`${req.url.host}${req.url.pathname} answered HTTP ${status}${hint}${text ? `: ${text.slice(0, 200)}` : ''}`);
      }
      let body: unknown;
      try {
        body = text === '' ? null : JSON.parse(text);
      } catch {
        throw new PollError(`${req.url.host}${req.url.pathname}: the response is not JSON (starts ${JSON.stringify(text.slice(0, 60))})`);
      }
      return { status, body, link: nextLink(res.headers.link, req.url) };
    }
  }

  private replyLimits() {
    return { maxBytes: this.cfg.maxReplyBytes, capName: 'maxReplyBytes', deadlineMs: this.cfg.timeoutMs, what: 'the reply' };
  }

  private async records(body: unknown): Promise<unknown[]> {
    let selected = body;
    if (this.recordPath) {
      try {
        selected = await this.recordPath.evaluate(body);
      } catch (err) {
        throw new PollError(`recordPath ${this.cfg.recordPath}: ${errorMessage(err)}`);
      }
    }
    if (selected === undefined || selected === null) return [];
    if (Array.isArray(selected)) return selected;
    if (!this.recordPath && typeof selected === 'object') {
      throw new PollError('the response is an object, not an array of records: set recordPath (e.g. "data" or "items")');
    }
    return [selected];
  }

  private async nextState(at: PageState, res: { body: unknown; link?: string }, count: number): Promise<PageState | undefined> {
    const p = this.cfg.pagination;
    switch (p.type) {
      case 'none':
        return undefined;
      case 'page': {
        if (count === 0 || (p.size !== undefined && count < p.size)) return undefined;
        return { page: ('page' in at ? at.page : p.start) + 1 };
      }
      case 'offset':
        if (count < p.limit) return undefined;
        return { offset: ('offset' in at ? at.offset : 0) + p.limit };
      case 'cursor': {
        if (count === 0) return undefined;
        const token = await this.nextPath!.evaluate(res.body).catch(() => undefined);
        return token === undefined || token === null || token === '' ? undefined : { token: String(token) };
      }
      case 'link':
        return res.link ? { url: res.link } : undefined;
    }
  }

  private async itemsOf(records: unknown[], page: number): Promise<{ items: NewItem[]; hwm?: Cursor }> {
    const items: NewItem[] = [];
    let hwm: Cursor | undefined;
    for (const [i, r] of records.entries()) {
      if (this.cursorField) {
        const v = await this.cursorField.evaluate(r).catch(() => undefined);
        if (typeof v === 'string' || typeof v === 'number') hwm = greater(hwm, v);
      }
      if (this.cfg.emit !== 'record') continue;
      let key: string | undefined;
      if (this.keyExpr) {
        const k = await this.keyExpr.evaluate(r).catch(() => undefined);
        if (k !== undefined && k !== null && k !== '') key = typeof k === 'object' ? JSON.stringify(k) : String(k);
      }
      const bytes = Buffer.from(JSON.stringify(r));
      // With a key: (key, content) identifies the record, so an unchanged record polled again is a duplicate
      // and a changed one is a new version. Without: the content alone does.
      items.push({
        sourceKey: key !== undefined ? `key:${key}` : 'record',
        name: `${key !== undefined ? key.replace(/[^\w.-]/g, '_').slice(0, 80) : `record-${page}-${i + 1}`}.json`,
        attributes: { url: this.cfg.url, page, ...(key !== undefined ? { key } : {}), contentType: 'application/json' },
        body: { bytes },
      });
    }
    return { items, hwm };
  }

  async scan(ctx: SourceContext): Promise<void> {
    const saved = ctx.state.get<PollState>(STATE_KEY) ?? {};
    const committed = saved.cursor ?? this.cfg.incremental?.start;
    const run = saved.run ?? { since: committed, next: { first: true } as PageState, hwm: committed, pages: 0 };
    if (saved.run) ctx.log.info({ page: run.pages + 1 }, 'resuming a poll run interrupted after a committed page');
    const startedAt = new Date();
    let spool: { file: string; fd: number; records: number } | undefined;
    if (this.cfg.emit === 'run') {
      const file = path.join(os.tmpdir(), `ferry-poll-${crypto.randomUUID()}.ndjson`);
      spool = { file, fd: fs.openSync(file, 'w'), records: 0 };
    }
    try {
      let at = run.next;
      for (let n = 0; ; n++) {
        if (ctx.signal.aborted) return;
        if (!ctx.hasCapacity()) return; // back pressure: the run resumes from its saved page next time
        if (run.pages >= this.cfg.maxPages) {
          ctx.problem(`${this.host}: stopped after maxPages (${this.cfg.maxPages}) pages in one run; the next run continues`);
          return;
        }
        let res;
        try {
          res = await this.fetch(this.requestFor(run.since, at), ctx.signal);
        } catch (err) {
          if (!ctx.signal.aborted) ctx.problem(`polling ${this.cfg.url} failed on page ${run.pages + 1}: ${errorMessage(err)}`);
          return;
        }
        let records: unknown[];
        try {
          records = await this.records(res.body);
        } catch (err) {
          ctx.problem(`polling ${this.cfg.url}, page ${run.pages + 1}: ${errorMessage(err)}`);
          return;
        }
        let page: Awaited<ReturnType<HttpPollSource['itemsOf']>>;
        try {
          page = await this.itemsOf(records, run.pages + 1);
        } catch (err) {
          // e.g. a record nested too deep to encode: the same page fails the same way
          ctx.problem(`polling ${this.cfg.url}, page ${run.pages + 1}: a record cannot be queued: ${errorMessage(err)}`);
          return;
        }
        const { items, hwm } = page;
        if (this.cfg.emit === 'page' && records.length > 0) {
          items.push({
            sourceKey: `page:${JSON.stringify(run.since ?? null)}:${JSON.stringify(at)}`,
            name: `page-${String(run.pages + 1).padStart(5, '0')}.json`,
            attributes: { url: this.cfg.url, page: run.pages + 1, records: records.length, contentType: 'application/json' },
            body: { bytes: Buffer.from(JSON.stringify(records)) },
          });
        }
        if (spool) {
          const text = records.map((r) => `${JSON.stringify(r)}\n`).join('');
          if (text) fs.writeSync(spool.fd, text);
          spool.records += records.length;
        }
        const next = await this.nextState(at, res, records.length);
        run.hwm = greater(run.hwm, hwm);
        run.pages++;
        let state: PollState;
        if (next) state = { cursor: saved.cursor, run: { ...run, next } };
        else {
          let cursor: Cursor | undefined = saved.cursor;
          if (this.cursorField) cursor = run.hwm;
          if (this.tokenPath) {
            const t = await this.tokenPath.evaluate(res.body).catch(() => undefined);
            if (typeof t === 'string' || typeof t === 'number') cursor = t;
          }
          state = { cursor };
        }
        if (spool) {
          if (next) {
            at = next;
            continue; // a run item is queued whole at the end; until then nothing is committed
          }
          fs.fsyncSync(spool.fd);
          fs.closeSync(spool.fd);
          spool.fd = -1;
          const stamp = startedAt.toISOString();
          items.push({
            sourceKey: `run:${stamp}`,
            name: `${new URL(this.cfg.url).pathname.split('/').filter(Boolean).pop() ?? 'records'}-${stamp.replace(/[:.]/g, '-')}.ndjson`,
            attributes: { url: this.cfg.url, pages: run.pages, records: spool.records, polledAt: stamp, contentType: 'application/x-ndjson' },
            body: { file: spool.file },
          });
        }
        const result = await ctx.emit(items, { key: STATE_KEY, value: state });
        if (result.refused) return;
        if (result.failed.length > 0) {
          ctx.problem(`queueing page ${run.pages} of ${this.cfg.url} failed: ${result.failed[0].error}`);
          return;
        }
        ctx.log.debug({ page: run.pages, records: records.length, queued: result.queued, duplicates: result.duplicates.length }, 'polled a page');
        if (!next) return;
        at = next;
      }
    } finally {
      if (spool) {
        if (spool.fd >= 0) fs.closeSync(spool.fd);
        fs.rmSync(spool.file, { force: true });
      }
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
