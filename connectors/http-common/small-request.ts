// One HTTP request whose body is already in memory, through a dispatcher's dispatch() with a handler of its
// own, answered with the status, the headers and as much of the reply body as the caller keeps. undici's
// request() builds, per request, an async resource, a Readable stream for the reply body, a listener on the
// abort signal and a chain of promises; for a small item that machinery cost more CPU than the request's own
// bytes (measured with `npm run bench engine`). The reply body is read the way request() + dump() or
// readBounded() read it: a 2xx reply that is not kept is drained up to DRAIN_BYTES (more closes the
// connection), a kept one up to its cap; an error while the reply body arrives leaves what had arrived.
import type { IncomingHttpHeaders } from 'node:http';
import { errors, type Dispatcher } from 'undici';

/** A 2xx reply nobody keeps is read up to this much, then the connection is closed (undici's dump() limit). */
export const DRAIN_BYTES = 128 * 1024;

export interface SmallRequest {
  /** "http://host:port", as undici's request() derives it from the URL. */
  origin: string;
  /** Path and query. */
  path: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | string;
  signal?: AbortSignal;
  /** Bytes of a 2xx reply body to keep (0: none; it is drained). */
  keep2xx: number;
  /** Bytes of any other reply body to keep (an error snippet). */
  keepOther: number;
}

export interface SmallReply {
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The reply body, up to the cap that applied (empty when none is kept or reading it failed). */
  body: Buffer;
}

/** The origin and path undici's request() would use for this URL. */
export function originAndPath(url: URL): { origin: string; path: string } {
  return { origin: url.origin, path: url.search ? `${url.pathname}${url.search}` : url.pathname };
}

/**
 * In-flight requests by the abort signal they listen to. The engine hands every delivery of a flow the same
 * signal (Ferry stopping): one listener per signal, not an add and a remove per request.
 */
const bySignal = new WeakMap<AbortSignal, Set<ReplyHandler>>();

function follow(signal: AbortSignal, h: ReplyHandler): void {
  let set = bySignal.get(signal);
  if (!set) {
    const requests = (set = new Set());
    bySignal.set(signal, set);
    signal.addEventListener('abort', () => {
      for (const r of [...requests]) r.abort(signal.reason ?? new errors.RequestAbortedError());
    }, { once: true });
  }
  set.add(h);
}

type Controller = Dispatcher.DispatchController;

class ReplyHandler implements Dispatcher.DispatchHandler {
  private controller?: Controller;
  private reason?: Error;
  private status = 0;
  private headers: IncomingHttpHeaders = {};
  private cap = 0;
  /** Reply body bytes seen so far, and the chunks kept (up to cap). */
  private seen = 0;
  private kept: Buffer[] = [];
  private settled = false;

  constructor(
    private readonly req: SmallRequest,
    private readonly resolve: (r: SmallReply) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  abort(reason: Error): void {
    if (this.settled) return;
    if (this.controller) this.controller.abort(reason);
    else this.reason = reason; // not started yet (queued in the pool): aborted when it starts
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.reason) controller.abort(this.reason);
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx: the final answer follows
    this.status = statusCode;
    this.headers = headers;
    this.cap = statusCode < 300 ? this.req.keep2xx : this.req.keepOther;
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.settled) return;
    const limit = this.cap > 0 ? this.cap : DRAIN_BYTES;
    if (this.cap > 0 && this.seen < this.cap) this.kept.push(chunk);
    this.seen += chunk.length;
    if (this.seen > limit) {
      // enough: the rest is not read (the connection closes), as readBounded() and dump() do
      this.answer();
      controller.abort(new errors.RequestAbortedError());
    }
  }

  onResponseEnd(): void {
    this.answer();
  }

  onResponseError(_controller: Controller | undefined, err: Error): void {
    if (this.settled) return;
    if (this.status === 0) {
      this.done();
      this.reject(err);
      return;
    }
    // the reply had begun: its status stands; a body cut short keeps nothing (readBounded().catch() did so)
    this.kept = [];
    this.answer();
  }

  private answer(): void {
    if (this.settled) return;
    this.done();
    const body = this.kept.length === 0 ? EMPTY : Buffer.concat(this.kept);
    this.resolve({ statusCode: this.status, headers: this.headers, body: this.cap > 0 && body.length > this.cap ? body.subarray(0, this.cap) : body });
  }

  private done(): void {
    this.settled = true;
    if (this.req.signal) bySignal.get(this.req.signal)?.delete(this);
  }
}

const EMPTY = Buffer.alloc(0);

/** Sends one request with an in-memory body; rejects with undici's error when no reply came. */
export function sendSmall(dispatcher: Dispatcher, req: SmallRequest): Promise<SmallReply> {
  return new Promise<SmallReply>((resolve, reject) => {
    if (req.signal?.aborted) return reject(req.signal.reason ?? new errors.RequestAbortedError());
    const handler = new ReplyHandler(req, resolve, reject);
    if (req.signal) follow(req.signal, handler);
    try {
      dispatcher.dispatch({ origin: req.origin, path: req.path, method: req.method, headers: req.headers, body: req.body }, handler);
    } catch (err) {
      handler.onResponseError(undefined, err as Error);
    }
  });
}
