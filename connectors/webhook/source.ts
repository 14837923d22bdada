// Webhook receiver (event-driven import): POST /hooks/<flow> on the shared listener, verified, answered 2xx
// only once the event is durably queued. A replayed event id is recognised by its idempotency key and
// answered 2xx without queueing again. webhook-relay mode long-polls a relay instead of listening.
import crypto from 'node:crypto';
import type http from 'node:http';
import { request } from 'undici';
import { errorMessage, type CheckResult, type ConnectorEnv, type NewItem, type Source, type SourceContext } from '../contract.ts';
import { mountRoute, probeListen, readBody, sendJson } from './listener.ts';
import { verifyRequest } from './signatures.ts';
import { SnsReceiver } from './sns.ts';
import type { WebhookSourceConfig } from './schema.ts';
import { NetError, Network, type NetDispatcher } from '../net/index.ts';

const RETRY_AFTER_SEC = '5';

type Headers = Record<string, string | string[] | undefined>;

export class WebhookSource implements Source {
  private readonly cfg: WebhookSourceConfig;
  /** webhook-relay mode: the network setting with the relay's own proxy/tls on top. */
  private readonly relayAgent?: NetDispatcher;

  /** Amazon SNS messages (scheme sns): verified with AWS's certificate, subscriptions confirmed. */
  private readonly sns?: SnsReceiver;

  constructor(cfg: WebhookSourceConfig, env?: ConnectorEnv) {
    this.cfg = cfg;
    const net = env?.net ?? Network.default();
    if (cfg.relay) this.relayAgent = net.dispatcher({ proxy: cfg.relay.proxy, tls: cfg.relay.tls, timeoutMs: 30_000, keepAliveMs: 60_000 });
    if (cfg.verify.scheme === 'sns') this.sns = new SnsReceiver(cfg.verify, net);
  }

  async close(): Promise<void> {
    await Promise.all([this.relayAgent?.close(), this.sns?.close()]);
  }

  async check(): Promise<CheckResult> {
    if (this.cfg.mode === 'webhook-relay') {
      const relay = this.cfg.relay!;
      try {
        const res = await request(relay.url, { method: 'HEAD', headers: this.relayHeaders(), dispatcher: this.relayAgent, signal: AbortSignal.timeout(10_000) });
        await res.body.dump();
        if (res.statusCode === 401 || res.statusCode === 403) return { ok: false, message: `relay ${new URL(relay.url).host} refused the token (HTTP ${res.statusCode})` };
        if (res.statusCode >= 500) return { ok: false, message: `relay ${new URL(relay.url).host} answered HTTP ${res.statusCode}` };
        return { ok: true, message: `relay ${new URL(relay.url).host} reachable; ${await this.relayAgent!.pathTo(relay.url)}` };
      } catch (err) {
        return { ok: false, message: `relay unreachable: ${await this.relayAgent!.explainCheck(err, relay.url)}` };
      }
    }
    const r = await probeListen({ address: this.cfg.address, port: this.cfg.port!, tls: this.cfg.tls, maxBodyBytes: this.cfg.maxBodyBytes });
    return r.ok ? { ok: true, message: `can listen on ${this.cfg.address}:${this.cfg.port}` } : r;
  }

  async scan(): Promise<void> {
    // events arrive by themselves (watch); there is nothing to scan
  }

  /** Turns one verified request into an item; the id makes a replay recognisable. */
  private itemOf(headers: Headers, raw: Buffer, verifiedId: string | undefined, parsed: unknown): NewItem {
    const h = (n: string) => {
      const v = headers[n];
      return Array.isArray(v) ? v[0] : v;
    };
    let id = this.cfg.idHeader ? h(this.cfg.idHeader.toLowerCase()) : verifiedId;
    if (!id && this.cfg.verify.scheme === 'stripe' && parsed && typeof parsed === 'object' && typeof (parsed as { id?: unknown }).id === 'string') {
      id = (parsed as { id: string }).id;
    }
    id ??= h('webhook-id') ?? h('idempotency-key');
    const eventType =
      h('x-github-event') ?? (parsed && typeof parsed === 'object' ? ((parsed as { type?: unknown }).type as string | undefined) : undefined) ?? null;
    const name = `${(id ?? crypto.randomUUID()).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100)}${this.cfg.format === 'json' ? '.json' : ''}`;
    return {
      // without an id, every request is a new event (at-least-once: a sender's retry may queue twice)
      sourceKey: id ? `webhook:${id}` : `webhook:anon:${crypto.randomUUID()}`,
      name,
      attributes: {
        webhookId: id ?? null,
        eventType: typeof eventType === 'string' ? eventType : null,
        contentType: h('content-type') ?? null,
        receivedAt: new Date().toISOString(),
      },
      body: { bytes: raw },
    };
  }

  /** Verifies and parses one event; returns an error status and message, or the item. */
  private accept(headers: Headers, raw: Buffer): { status: number; error: string } | { item: NewItem } {
    const verdict = verifyRequest(this.cfg.verify, headers, raw);
    if (!verdict.ok) return { status: 401, error: `verification failed: ${verdict.reason}` };
    let parsed: unknown;
    if (this.cfg.format === 'json') {
      try {
        parsed = JSON.parse(raw.toString('utf8'));
      } catch (err) {
        return { status: 400, error: `body is not valid JSON: ${errorMessage(err).slice(0, 200)}` };
      }
    }
    return { item: this.itemOf(headers, raw, verdict.id, parsed) };
  }

  /**
   * accept(), or for SNS its receiver: confirmations and unsubscriptions are answered there (`answered`),
   * and what an admin must hear of (a refused subscription, an unsubscribe) is reported as a problem.
   */
  private async acceptEvent(ctx: SourceContext, headers: Headers, raw: Buffer): Promise<{ status: number; error: string } | { item: NewItem } | { answered: { status: number; body: Record<string, unknown> } }> {
    if (!this.sns) return this.accept(headers, raw);
    const outcome = await this.sns.handle(headers, raw);
    if (outcome.kind === 'event') return { item: outcome.item };
    if (outcome.problem) ctx.problem(outcome.problem);
    if (outcome.kind === 'refused') return { status: outcome.status, error: outcome.error };
    ctx.log.info(outcome.log);
    return { answered: { status: outcome.status, body: outcome.body } };
  }

  private async handle(ctx: SourceContext, req: http.IncomingMessage, res: http.ServerResponse, rest: string[]): Promise<void> {
    if (rest.length > 0) return sendJson(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'only POST is accepted here' }, { allow: 'POST' });
    const raw = await readBody(req, res, this.cfg.maxBodyBytes);
    if (!raw) return;
    const accepted = await this.acceptEvent(ctx, req.headers, raw);
    if ('answered' in accepted) return sendJson(res, accepted.answered.status, accepted.answered.body);
    if ('error' in accepted) {
      ctx.log.warn({ status: accepted.status, reason: accepted.error, from: req.socket.remoteAddress }, 'webhook refused');
      return sendJson(res, accepted.status, { error: accepted.error });
    }
    if (ctx.signal.aborted) return sendJson(res, 503, { error: 'Ferry is stopping; send again later' }, { 'retry-after': RETRY_AFTER_SEC });
    let result;
    try {
      result = await ctx.emit([accepted.item]);
    } catch (err) {
      ctx.log.error({ err: errorMessage(err) }, 'queueing a webhook failed');
      return sendJson(res, 500, { error: 'could not queue the event; send again later' });
    }
    if (result.refused) return sendJson(res, 503, { error: `not accepting events now: ${result.refused}` }, { 'retry-after': RETRY_AFTER_SEC });
    if (result.failed.length > 0) return sendJson(res, 500, { error: `could not queue the event: ${result.failed[0].error}` });
    // 2xx only now: the event is committed (or was already, for a replay)
    if (result.duplicates.length > 0) return sendJson(res, 200, { status: 'duplicate', id: accepted.item.attributes?.webhookId ?? null });
    sendJson(res, 202, { status: 'queued', id: accepted.item.attributes?.webhookId ?? null });
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    if (this.cfg.mode === 'webhook-relay') return this.pollRelay(ctx);
    return mountRoute(
      { address: this.cfg.address, port: this.cfg.port!, tls: this.cfg.tls, maxBodyBytes: this.cfg.maxBodyBytes },
      'hooks',
      ctx.flow,
      (req, res, rest) => {
        this.handle(ctx, req, res, rest).catch((err) => sendJson(res, 500, { error: `internal error: ${errorMessage(err)}` }));
      },
    );
  }

  // ---------------------------------------------------------------- webhook-relay mode

  private relayHeaders(): Record<string, string> {
    return this.cfg.relay?.token ? { authorization: `Bearer ${this.cfg.relay.token}` } : {};
  }

  /**
   * Long-polls the relay: GET <url>?cursor=<c>&wait=<s> → { events: [{ id, headers, body, encoding? }], cursor }.
   * Events are verified like direct requests and queued together with the new cursor (one transaction), so a
   * crash never skips or loses an event; the relay may drop what precedes a cursor it has seen.
   */
  private async pollRelay(ctx: SourceContext): Promise<() => Promise<void>> {
    const relay = this.cfg.relay!;
    const stop = new AbortController();
    const abort = () => stop.abort();
    ctx.signal.addEventListener('abort', abort, { once: true });
    const loop = (async () => {
      let delay = 1000;
      while (!stop.signal.aborted) {
        try {
          const cursor = ctx.state.get<string>('relay-cursor');
          const u = new URL(relay.url);
          if (cursor !== undefined) u.searchParams.set('cursor', cursor);
          u.searchParams.set('wait', String(relay.waitSeconds));
          const res = await request(u, { method: 'GET', headers: this.relayHeaders(), dispatcher: this.relayAgent, signal: stop.signal, headersTimeout: (relay.waitSeconds + 15) * 1000 });
          if (res.statusCode === 204) {
            await res.body.dump();
            delay = 1000;
            continue;
          }
          if (res.statusCode !== 200) {
            await res.body.dump();
            throw new Error(`relay answered HTTP ${res.statusCode}`);
          }
          const page = (await res.body.json()) as { events?: unknown; cursor?: unknown };
          if (!Array.isArray(page.events) || (page.cursor !== undefined && typeof page.cursor !== 'string')) {
            throw new Error('relay answer is not { events: [...], cursor: "<string>" }');
          }
          const items: NewItem[] = [];
          for (const [i, ev] of (page.events as any[]).entries()) {
            if (!ev || typeof ev !== 'object' || typeof ev.body !== 'string') {
              ctx.problem(`relay event ${i} is malformed (expected { id, headers, body })`);
              continue;
            }
            const raw = Buffer.from(ev.body, ev.encoding === 'base64' ? 'base64' : 'utf8');
            const headers: Headers = {};
            for (const [k, v] of Object.entries(ev.headers ?? {})) headers[k.toLowerCase()] = typeof v === 'string' ? v : undefined;
            if (typeof ev.id === 'string' && !headers['webhook-id']) headers['webhook-id'] = ev.id;
            const accepted = await this.acceptEvent(ctx, headers, raw);
            if ('error' in accepted) ctx.problem(`relay event ${typeof ev.id === 'string' ? ev.id : i} refused: ${accepted.error}`);
            else if ('item' in accepted) items.push(accepted.item);
          }
          const next = typeof page.cursor === 'string' ? { key: 'relay-cursor', value: page.cursor } : undefined;
          for (;;) {
            const r = await ctx.emit(items, next);
            if (!r.refused && r.failed.length === 0) break;
            ctx.problem(`relay events not queued yet: ${r.refused ?? r.failed[0].error}`);
            await sleep(5000, stop.signal);
            if (stop.signal.aborted) return;
          }
          delay = 1000;
        } catch (err) {
          if (stop.signal.aborted) return;
          const why = err instanceof NetError || (err as NodeJS.ErrnoException).code ? this.relayAgent!.explain(err, relay.url) : errorMessage(err);
          ctx.problem(`polling the relay ${new URL(relay.url).host} failed: ${why} (next try in ${Math.round(delay / 1000)} s)`);
          await sleep(delay, stop.signal);
          delay = Math.min(delay * 2, 60_000);
        }
      }
    })();
    return async () => {
      stop.abort();
      ctx.signal.removeEventListener('abort', abort);
      await loop;
    };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
