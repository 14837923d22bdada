// Webhook sender (event-driven export): POSTs each item (a JSON event) signed with Standard Webhooks headers
// (webhook-id = the item's idempotency key, so receivers drop duplicates). 2xx delivers; 408/425/429/5xx and
// network errors retry; 410 Gone disables the endpoint (every item goes dead with that reason until restart).
import { request, errors as undiciErrors } from 'undici';
import {
  deadLetter,
  errorMessage,
  retryLater,
  type CheckResult,
  type ConnectorEnv,
  type DeliveryOutcome,
  type Destination,
  type DestinationContext,
  type OutgoingItem,
} from '../contract.ts';
import { deliveredReply, parseRetryAfter, readBounded, RETRYABLE_STATUS, SNIPPET_BYTES } from '../http-common/reply.ts';
import { AuthError, Authenticator, sendAuthorized } from '../http-common/auth.ts';
import { standardWebhookHeaders } from './signatures.ts';
import type { WebhookDestinationConfig } from './schema.ts';
import { Network, type NetDispatcher } from '../net/index.ts';




export class WebhookDestination implements Destination {
  private readonly cfg: WebhookDestinationConfig;
  private readonly url: URL;
  private readonly agent: NetDispatcher;
  readonly concurrency: number;
  /** Set when the endpoint answered 410 Gone: it wants no more events. */
  private gone?: { at: number };

  private readonly auth: Authenticator;

  constructor(cfg: WebhookDestinationConfig, env?: ConnectorEnv) {
    this.cfg = cfg;
    this.url = new URL(cfg.url);
    this.concurrency = cfg.concurrency;
    this.agent = (env?.net ?? Network.default()).dispatcher({ proxy: cfg.proxy, tls: cfg.tls, connections: cfg.concurrency, timeoutMs: cfg.timeoutMs });
    this.auth = new Authenticator(cfg.auth, this.agent, env);
  }

  async check(): Promise<CheckResult> {
    if (this.gone) return { ok: false, message: `endpoint ${this.url.origin}${this.url.pathname} is disabled: it answered 410 Gone` };
    try {
      const res = await request(this.url, { method: 'HEAD', dispatcher: this.agent, headers: await this.auth.headers(), signal: AbortSignal.timeout(this.cfg.timeoutMs) });
      await res.body.dump();
      if (res.statusCode === 410) return { ok: false, message: `${this.url.host} answered 410 Gone: the endpoint no longer wants events` };
      if (res.statusCode >= 500) return { ok: false, message: `${this.url.host} answered HTTP ${res.statusCode} (server error)` };
      return { ok: true, message: `${this.url.host} reachable (HTTP ${res.statusCode} to HEAD); ${await this.agent.pathTo(this.url)}` };
    } catch (err) {
      if (err instanceof AuthError) return { ok: false, message: err.message };
      return { ok: false, message: await this.agent.explainCheck(err, this.url) };
    }
  }

  async send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome> {
    const endpoint = `${this.url.origin}${this.url.pathname}`;
    if (this.gone) {
      return deadLetter(`endpoint disabled: ${endpoint} answered 410 Gone at ${new Date(this.gone.at).toISOString()}; fix the subscription, then restart Ferry and retry the dead items`);
    }
    const body = await item.readBody();
    try {
      JSON.parse(body.toString('utf8'));
    } catch (err) {
      return deadLetter(`${item.name} is not a JSON event (${errorMessage(err).slice(0, 120)}); the webhook destination sends JSON only`);
    }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'Ferry-Webhooks',
      ...Object.fromEntries(Object.entries(this.cfg.headers).map(([k, v]) => [k.toLowerCase(), v])),
      ...standardWebhookHeaders(this.cfg.secret, item.idempotencyKey, body),
    };
    let res;
    try {
      res = await sendAuthorized(this.auth, ctx.signal, (auth) => request(this.url, { method: 'POST', dispatcher: this.agent, headers: { ...headers, ...auth }, body, signal: ctx.signal }));
    } catch (err) {
      if (err instanceof AuthError) return retryLater(err.message);
      if (err instanceof undiciErrors.RequestAbortedError || ctx.signal.aborted) return retryLater('delivery interrupted (Ferry is stopping)');
      return retryLater(this.agent.explain(err, this.url));
    }
    const status = res.statusCode;
    if (status >= 200 && status < 300) return deliveredReply(res, ctx.wantsReply);
    const response = (await readBounded(res.body, SNIPPET_BYTES).catch(() => Buffer.alloc(0))).toString('utf8');
    if (status === 410) {
      this.gone = { at: Date.now() };
      ctx.log.error({ endpoint }, 'webhook endpoint answered 410 Gone: it is disabled, no more events are sent to it');
      return deadLetter(`endpoint disabled: ${endpoint} answered 410 Gone (the receiver unsubscribed); no more events are sent to it until Ferry restarts`, { status, response });
    }
    if (RETRYABLE_STATUS.has(status) || status >= 500) {
      return retryLater(`HTTP ${status} from ${this.url.host}`, { status, response, retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
    }
    if (status >= 300 && status < 400) return deadLetter(`HTTP ${status}: redirect not followed (point url at the final address)`, { status, response });
    return deadLetter(`HTTP ${status} from ${this.url.host}${status === 401 || status === 403 ? ' (the receiver refused the signature or credentials)' : ''}`, { status, response });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
