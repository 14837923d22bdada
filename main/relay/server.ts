// `ferry relay`: receives webhooks on POST /hooks/<queue>, answers 2xx only once each is committed to its
// SQLite store, and hands them to agents that long-poll GET /queues/<queue>?cursor=&wait= with the queue's
// bearer token, in the protocol the webhook source's `webhook-relay` mode speaks (docs/patterns.md). Events
// are deleted once a later poll's cursor passes them, and dropped after the retention period.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { isUtf8 } from 'node:buffer';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../engine/logger.ts';
import { freeBytes, lockDataDir, prepareDataDir } from '../engine/store/datadir.ts';
import { errorMessage } from '../../connectors/contract.ts';
import type { RelayConfig, RelayQueueConfig } from './schema.ts';
import { RelayStore } from './store.ts';

/** Headers that describe one hop, not the sender's message: not stored, not forwarded. */
const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'content-length', 'proxy-authorization', 'proxy-connection']);
const PAGE_EVENTS = 500;
const PAGE_BYTES = 8 * 1024 * 1024;
const HOUR = 3_600_000;

export class RelayServer {
  private readonly cfg: RelayConfig;
  private readonly log: Logger;
  private readonly queues: Map<string, RelayQueueConfig & { tokenHash: Buffer }>;
  private store?: RelayStore;
  private server?: http.Server;
  private unlock?: () => void;
  /** Long polls waiting for their queue's next event. */
  private readonly waiters = new Map<string, Set<() => void>>();
  private timers: NodeJS.Timeout[] = [];
  private diskProblem?: string;
  url = '';

  constructor(cfg: RelayConfig, log: Logger) {
    this.cfg = cfg;
    this.log = log;
    this.queues = new Map(cfg.queues.map((q) => [q.name, { ...q, tokenHash: sha256(q.token) }]));
  }

  async start(): Promise<string> {
    prepareDataDir(this.cfg.dataDir);
    this.unlock = lockDataDir(this.cfg.dataDir);
    try {
      this.store = new RelayStore(this.cfg.dataDir);
      const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, res);
      const { tls, address, port } = this.cfg.listen;
      const opts = { maxHeaderSize: this.cfg.maxHeaderBytes };
      this.server = tls ? https.createServer({ ...opts, cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) }, handler) : http.createServer(opts, handler);
      this.server.keepAliveTimeout = 65_000;
      this.server.requestTimeout = (this.cfg.maxWaitSec + 60) * 1000;
      await new Promise<void>((resolve, reject) => {
        this.server!.once('error', reject);
        this.server!.listen(port, address, () => resolve());
      });
      const actual = (this.server.address() as AddressInfo).port;
      this.url = `${tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${actual}`;
    } catch (err) {
      this.store?.close();
      this.unlock();
      throw err;
    }
    this.retain();
    this.checkDisk();
    this.timers.push(setInterval(() => this.retain(), HOUR), setInterval(() => this.checkDisk(), 10_000));
    for (const t of this.timers) t.unref();
    return this.url;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const set of this.waiters.values()) for (const wake of set) wake();
    await new Promise<void>((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => this.server?.closeAllConnections(), 2000).unref();
    });
    this.store?.close();
    this.unlock?.();
  }

  /** Waiting events and bytes per queue. */
  usage(): Record<string, { events: number; bytes: number }> {
    return Object.fromEntries([...this.queues.keys()].map((q) => [q, this.store!.usageOf(q)]));
  }

  private retain(): void {
    try {
      const dropped = this.store!.dropOlderThan(Date.now() - this.cfg.retentionDays * 24 * HOUR);
      for (const [queue, n] of dropped) this.log.warn({ queue, events: n, retentionDays: this.cfg.retentionDays }, 'events no agent fetched within the retention period were dropped');
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'retention clean-up failed');
    }
  }

  private checkDisk(): void {
    try {
      const free = freeBytes(this.cfg.dataDir);
      const problem = free < this.cfg.minFreeDiskMb * 1024 * 1024 ? `disk nearly full: ${Math.round(free / 1048576)} MB free in ${this.cfg.dataDir} (minFreeDiskMb ${this.cfg.minFreeDiskMb})` : undefined;
      if (problem !== this.diskProblem) {
        if (problem) this.log.warn(problem);
        else this.log.info('disk space is back: webhooks are accepted again');
      }
      this.diskProblem = problem;
    } catch (err) {
      this.diskProblem = `cannot read free space of ${this.cfg.dataDir}: ${errorMessage(err)}`;
    }
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://relay');
    const [, kind, name, ...rest] = url.pathname.split('/');
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) return send(res, 200, { status: this.diskProblem ? 'degraded' : 'ok', ...(this.diskProblem ? { problem: this.diskProblem } : {}) });
    if ((kind !== 'hooks' && kind !== 'queues') || !name || rest.length > 0) return send(res, 404, { error: 'not found: webhooks go to POST /hooks/<queue>, agents poll GET /queues/<queue>' });
    let queueName: string;
    try {
      queueName = decodeURIComponent(name);
    } catch {
      return send(res, 400, { error: `malformed queue name in ${url.pathname}` });
    }
    const queue = this.queues.get(queueName);
    if (!queue) return send(res, 404, { error: `no queue named "${queueName}"` });
    if (kind === 'hooks') {
      if (req.method !== 'POST') return send(res, 405, { error: 'webhooks are sent with POST' }, { allow: 'POST' });
      void this.receive(queue, req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'agents poll with GET' }, { allow: 'GET, HEAD' });
    if (!this.authorised(queue, req)) return send(res, 401, { error: `the token does not open queue "${queue.name}"` }, { 'www-authenticate': 'Bearer' });
    if (req.method === 'HEAD') return send(res, 200, undefined);
    this.poll(queue, url.searchParams, req, res);
  }

  private authorised(queue: { tokenHash: Buffer }, req: http.IncomingMessage): boolean {
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    // compared as hashes: constant time whatever the lengths
    return !!m && crypto.timingSafeEqual(sha256(m[1].trim()), queue.tokenHash);
  }

  private async receive(queue: RelayQueueConfig, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refuse = (status: number, error: string, headers: Record<string, string> = {}) => {
      // the rest of the body is not read: the connection closes after the answer
      send(res, status, { error }, { ...headers, connection: 'close' });
      req.resume();
    };
    if (this.diskProblem) return refuse(507, `the relay cannot store webhooks now: ${this.diskProblem}`, { 'retry-after': '300' });
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > this.cfg.maxBodyBytes) return refuse(413, `body of ${declared} bytes is larger than maxBodyBytes (${this.cfg.maxBodyBytes})`);
    const used = this.store!.usageOf(queue.name);
    if (used.events >= queue.maxEvents) return refuse(429, `queue "${queue.name}" is full: ${used.events} events wait for its agent (maxEvents ${queue.maxEvents})`, { 'retry-after': '60' });
    if (used.bytes + (Number.isFinite(declared) ? declared : 0) > queue.maxBytes) return refuse(429, `queue "${queue.name}" is full: ${used.bytes} bytes wait for its agent (maxBytes ${queue.maxBytes})`, { 'retry-after': '60' });

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    try {
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > this.cfg.maxBodyBytes) {
          tooLarge = true;
          break;
        }
        chunks.push(chunk as Buffer);
      }
    } catch {
      return; // the sender went away before the body was complete: nothing stored, nothing answered
    }
    if (tooLarge) return refuse(413, `body larger than maxBodyBytes (${this.cfg.maxBodyBytes})`);
    const body = Buffer.concat(chunks, size);
    if (used.bytes + body.length > queue.maxBytes && !Number.isFinite(declared)) return refuse(429, `queue "${queue.name}" is full (maxBytes ${queue.maxBytes})`, { 'retry-after': '60' });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    let seq: number;
    try {
      seq = await this.store!.add({ queue: queue.name, headers, body });
    } catch (err) {
      this.log.error({ queue: queue.name, err: errorMessage(err) }, 'a webhook could not be stored');
      return send(res, 503, { error: 'the relay could not store the webhook; send it again' }, { 'retry-after': '30' });
    }
    send(res, 202, { status: 'stored', id: senderId(headers) ?? this.eventId(seq) });
    const waiting = this.waiters.get(queue.name);
    if (waiting) for (const wake of waiting) wake();
  }

  private eventId(seq: number): string {
    return `${this.store!.instance}-${seq}`;
  }

  private poll(queue: RelayQueueConfig, params: URLSearchParams, req: http.IncomingMessage, res: http.ServerResponse): void {
    const cursorText = params.get('cursor');
    let cursor = 0;
    if (cursorText) {
      const m = /^([0-9a-f]{12})\.(\d{1,15})$/.exec(cursorText);
      if (!m) return send(res, 400, { error: `cursor: expected the cursor of an earlier answer, got ${JSON.stringify(cursorText.slice(0, 40))}` });
      // a cursor of another store (the relay's data was replaced): start at this store's beginning, delete nothing
      cursor = m[1] === this.store!.instance ? Number(m[2]) : 0;
    }
    const waitText = params.get('wait');
    const wait = waitText && /^\d+$/.test(waitText) ? Math.min(Number(waitText), this.cfg.maxWaitSec) : 25;

    const answer = (): boolean => {
      let events;
      try {
        events = this.store!.take(queue.name, cursor, PAGE_EVENTS, PAGE_BYTES);
      } catch (err) {
        this.log.error({ queue: queue.name, err: errorMessage(err) }, 'reading the store failed');
        send(res, 503, { error: 'the relay could not read its store' }, { 'retry-after': '10' });
        return true;
      }
      if (events.length === 0) return false;
      cursor = events[events.length - 1].seq;
      send(res, 200, {
        events: events.map((e) => {
          const utf8 = isUtf8(e.body);
          return { id: senderId(e.headers) ?? this.eventId(e.seq), headers: e.headers, body: e.body.toString(utf8 ? 'utf8' : 'base64'), encoding: utf8 ? 'utf8' : 'base64' };
        }),
        cursor: `${this.store!.instance}.${cursor}`,
      });
      return true;
    };
    if (answer()) return;
    if (wait === 0) return send(res, 204, undefined);
    // hold the poll until an event arrives for this queue or the wait is over
    let set = this.waiters.get(queue.name);
    if (!set) this.waiters.set(queue.name, (set = new Set()));
    const done = () => {
      clearTimeout(timer);
      set!.delete(wake);
      res.off('close', gone);
    };
    const wake = () => {
      done();
      if (!res.writableEnded && !answer()) send(res, 204, undefined);
    };
    const gone = () => done();
    const timer = setTimeout(wake, wait * 1000);
    set.add(wake);
    res.on('close', gone);
  }
}

/** The sender's own event id, when it sends one: what the agent's logs and deduplication name. */
function senderId(headers: Record<string, string>): string | undefined {
  return headers['webhook-id'] ?? headers['x-github-delivery'] ?? headers['idempotency-key'];
}

function sha256(text: string): Buffer {
  return crypto.createHash('sha256').update(text).digest();
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-store', ...headers });
  res.end(text);
}
