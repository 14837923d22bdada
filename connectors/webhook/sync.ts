// The `sync` endpoint (synchronous pattern): a legacy system POSTs /sync/<flow>; Ferry queues the call
// (the queue is the record of every call), sends it to the flow's destination at once and answers with the
// SaaS status and body (mapped back when response.map is set). Past timeoutMs the caller gets 504 with a
// ticket; GET /sync/<flow>/<ticket> (or the callback URL) gives the outcome later. At most maxConcurrent
// calls run at once; more get 503 with Retry-After instead of piling up.
import crypto from 'node:crypto';
import type http from 'node:http';
import type jsonata from 'jsonata';
import { jsonataLib } from '../http-common/optional-modules.ts';
import { request } from 'undici';
import { errorMessage, type CallOutcome, type CheckResult, type ConnectorEnv, type Source, type SourceContext } from '../contract.ts';
import { mountRoute, probeListen, readBody, sendJson } from './listener.ts';
import { standardWebhookHeaders, verifyRequest } from './signatures.ts';
import type { SyncSourceConfig } from './schema.ts';
import { Network } from '../net/index.ts';

type Expr = ReturnType<typeof jsonata>;

function compile(expr: string | undefined, key: string): Expr | undefined {
  if (!expr) return undefined;
  try {
    return jsonataLib()(expr);
  } catch (err) {
    throw new Error(`${key}: not a valid JSONata expression: ${errorMessage(err)}`);
  }
}

export class SyncSource implements Source {
  readonly keepsReplies = true;
  private readonly cfg: SyncSourceConfig;
  private readonly requestMap?: Expr;
  private readonly responseMap?: Expr;
  private active = 0;
  private readonly callbacks = new Set<Promise<void>>();
  private readonly net: Network;

  constructor(cfg: SyncSourceConfig, env?: ConnectorEnv) {
    this.cfg = cfg;
    this.net = env?.net ?? Network.default();
    this.requestMap = compile(cfg.request?.map, 'request.map');
    this.responseMap = compile(cfg.response?.map, 'response.map');
  }

  async check(): Promise<CheckResult> {
    const r = await probeListen(this.cfg);
    return r.ok ? { ok: true, message: `can listen on ${this.cfg.address}:${this.cfg.port}` } : r;
  }

  async scan(): Promise<void> {
    // calls arrive by themselves (watch)
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    if (!ctx.call || !ctx.outcome) throw new Error('this engine does not support synchronous calls');
    const stop = new AbortController();
    const unmount = await mountRoute(this.cfg, 'sync', ctx.flow, (req, res, rest) => {
      this.handle(ctx, req, res, rest, stop.signal).catch((err) => sendJson(res, 500, { error: `internal error: ${errorMessage(err)}` }));
    });
    return async () => {
      stop.abort();
      await unmount();
      await Promise.all(this.callbacks);
    };
  }

  private busy(res: http.ServerResponse, why: string): void {
    sendJson(res, 503, { error: why }, { 'retry-after': String(this.cfg.retryAfterSec) });
  }

  private async handle(ctx: SourceContext, req: http.IncomingMessage, res: http.ServerResponse, rest: string[], stop: AbortSignal): Promise<void> {
    if (this.cfg.token !== undefined) {
      const verdict = verifyRequest({ scheme: 'bearer', secret: this.cfg.token, toleranceSec: 300 }, req.headers, Buffer.alloc(0));
      if (!verdict.ok) {
        req.resume();
        return sendJson(res, 401, { error: verdict.reason }, { 'www-authenticate': 'Bearer' });
      }
    }
    if (req.method === 'GET' && rest.length === 1) return this.fetchTicket(ctx, req, res, rest[0]);
    if (rest.length > 0) return sendJson(res, 404, { error: 'not found (GET /sync/<flow>/<ticket> fetches an outcome)' });
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'POST a call to /sync/<flow>, GET /sync/<flow>/<ticket> for an outcome' }, { allow: 'POST' });
    if (this.active >= this.cfg.maxConcurrent) {
      req.resume();
      ctx.log.warn({ active: this.active }, 'sync call refused: too many calls in progress');
      return this.busy(res, `too many calls in progress (maxConcurrent ${this.cfg.maxConcurrent}); try again shortly`);
    }
    this.active++;
    const started = performance.now();
    try {
      const raw = await readBody(req, res, this.cfg.maxBodyBytes);
      if (!raw) return;
      let body = raw;
      if (this.cfg.format === 'json') {
        let input: unknown;
        try {
          input = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          return sendJson(res, 400, { error: `body is not valid JSON: ${errorMessage(err).slice(0, 200)}` });
        }
        if (this.requestMap) {
          try {
            const mapped = await this.requestMap.evaluate(input);
            if (mapped === undefined) return sendJson(res, 422, { error: 'request.map produced nothing for this body' });
            body = Buffer.from(JSON.stringify(mapped));
          } catch (err) {
            return sendJson(res, 422, { error: `request.map failed: ${errorMessage(err)}` });
          }
        }
      }
      const key = req.headers['idempotency-key'];
      const callKey = typeof key === 'string' && key !== '' ? key.slice(0, 200) : crypto.randomUUID();
      const outcome = await ctx.call!(
        {
          sourceKey: `sync:${callKey}`,
          name: `call-${callKey.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 80)}${this.cfg.format === 'json' ? '.json' : ''}`,
          attributes: { callKey, contentType: req.headers['content-type'] ?? null, receivedAt: new Date().toISOString() },
          body: { bytes: body },
        },
        { timeoutMs: this.cfg.timeoutMs },
      );
      if ('refused' in outcome) return this.busy(res, `not accepting calls now: ${outcome.refused}`);
      const status = await this.answer(ctx, res, outcome);
      ctx.log.info({ ticket: outcome.ticket, state: outcome.state, status, ms: Math.round(performance.now() - started) }, 'sync call');
      if (outcome.state === 'pending' && this.cfg.callbackUrl) this.callbackLater(ctx, outcome.ticket, stop);
    } finally {
      this.active--;
    }
  }

  private async fetchTicket(ctx: SourceContext, req: http.IncomingMessage, res: http.ServerResponse, ticket: string): Promise<void> {
    const wait = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('wait') ?? 0);
    const waitMs = Number.isFinite(wait) ? Math.min(Math.max(wait, 0) * 1000, 60_000) : 0; // ?wait=<s>: long-poll up to a minute
    const outcome = await ctx.outcome!(ticket, { waitMs });
    if (!outcome) return sendJson(res, 404, { error: `no call with ticket ${JSON.stringify(ticket.slice(0, 40))} in this flow` });
    if (outcome.state === 'pending') return sendJson(res, 202, { ticket, state: 'pending', lastError: outcome.reason ?? null });
    await this.answer(ctx, res, outcome);
  }

  /** Writes the outcome as the HTTP answer; returns the status sent. */
  private async answer(ctx: SourceContext, res: http.ServerResponse, o: CallOutcome): Promise<number> {
    const ticketHeader = { 'x-ferry-ticket': o.ticket };
    switch (o.state) {
      case 'pending': {
        sendJson(res, 504, { error: `no answer within ${this.cfg.timeoutMs} ms; the call goes on`, ticket: o.ticket, state: 'pending', poll: `/sync/${encodeURIComponent(ctx.flow)}/${o.ticket}` }, {
          ...ticketHeader,
          location: `/sync/${encodeURIComponent(ctx.flow)}/${o.ticket}`,
        });
        return 504;
      }
      case 'discarded':
        sendJson(res, 410, { error: 'this call was discarded by an administrator', ticket: o.ticket, state: 'discarded' }, ticketHeader);
        return 410;
      case 'dead': {
        // the first failure's status and reason (a 402 from the payment step stays a 402)
        const status = o.status !== undefined && o.status >= 400 && o.status <= 599 ? o.status : 502;
        sendJson(res, status, { error: o.reason, ticket: o.ticket, state: 'dead', upstreamStatus: o.status ?? null, upstreamResponse: o.response ?? null }, ticketHeader);
        return status;
      }
      case 'delivered': {
        const reply = o.reply ?? { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify({ ticket: o.ticket, state: 'delivered' })) };
        let body = reply.body;
        let contentType = reply.contentType ?? 'application/octet-stream';
        if (this.responseMap) {
          let input: unknown;
          try {
            input = body.length > 0 ? JSON.parse(body.toString('utf8')) : null;
          } catch {
            input = body.toString('utf8');
          }
          try {
            const mapped = await this.responseMap.evaluate(input);
            body = Buffer.from(JSON.stringify(mapped ?? null));
            contentType = 'application/json';
          } catch (err) {
            sendJson(res, 502, { error: `response.map failed on the SaaS answer: ${errorMessage(err)}`, ticket: o.ticket, state: 'delivered' }, ticketHeader);
            return 502;
          }
        }
        if (!res.headersSent) {
          res.writeHead(reply.status, { 'content-type': contentType, 'content-length': String(body.length), ...ticketHeader });
          res.end(body);
        }
        return reply.status;
      }
    }
  }

  /** After a timeout: waits for the outcome and POSTs it to callbackUrl (a few tries; GET by ticket always works). */
  private callbackLater(ctx: SourceContext, ticket: string, stop: AbortSignal): void {
    const url = this.cfg.callbackUrl!;
    const p = (async () => {
      let o: CallOutcome | undefined;
      do {
        o = await ctx.outcome!(ticket, { waitMs: 5_000 });
      } while (o?.state === 'pending' && !stop.aborted);
      if (!o || o.state === 'pending') return;
      const payload = Buffer.from(
        JSON.stringify({
          flow: ctx.flow,
          ticket,
          state: o.state,
          status: o.state === 'delivered' ? (o.reply?.status ?? 200) : o.state === 'dead' ? (o.status ?? null) : null,
          body: o.state === 'delivered' ? (o.reply?.body.toString('utf8') ?? null) : o.state === 'dead' ? o.reason : null,
        }),
      );
      for (let attempt = 1; attempt <= 5 && !stop.aborted; attempt++) {
        try {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (this.cfg.callbackSecret) Object.assign(headers, standardWebhookHeaders(this.cfg.callbackSecret, `ticket-${ctx.flow}-${ticket}`, payload));
          const res = await request(url, { method: 'POST', headers, body: payload, dispatcher: this.net.dispatcherFor(url), signal: AbortSignal.timeout(10_000) });
          await res.body.dump();
          if (res.statusCode >= 200 && res.statusCode < 300) return;
          ctx.log.warn({ ticket, status: res.statusCode }, 'sync callback refused');
        } catch (err) {
          ctx.log.warn({ ticket, err: errorMessage(err) }, 'sync callback failed');
        }
        await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt).unref());
      }
      ctx.problem(`callback for sync ticket ${ticket} to ${new URL(url).host} failed; the outcome stays available at GET /sync/${ctx.flow}/${ticket}`);
    })();
    this.callbacks.add(p);
    void p.finally(() => this.callbacks.delete(p));
  }
}
