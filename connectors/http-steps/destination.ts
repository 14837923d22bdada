// Ordered API steps (e.g. charge the payment, then create the fulfilment order only if it succeeded). Each
// step carries Idempotency-Key "<item key>:<step>", so a retried item does not repeat a step the API already
// did. The first failing step decides the outcome, with its status and reason.
import { request } from 'undici';
import type jsonata from 'jsonata';
import { jsonataLib } from '../http-common/optional-modules.ts';
import {
  deadLetter,
  delivered,
  errorMessage,
  retryLater,
  type CheckResult,
  type ConnectorEnv,
  type DeliveryOutcome,
  type Destination,
  type DestinationContext,
  type OutgoingItem,
} from '../contract.ts';
import { ACCEPT_ENCODING, readReply, ReplyError, RETRYABLE_STATUS, SNIPPET_BYTES } from '../http-common/reply.ts';
import { AuthError, Authenticator, sendAuthorized } from '../http-common/auth.ts';
import type { HttpStepsDestinationConfig } from './schema.ts';
import { Network, type NetDispatcher } from '../net/index.ts';



function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class HttpStepsDestination implements Destination {
  private readonly cfg: HttpStepsDestinationConfig;
  private readonly agent: NetDispatcher;
  private readonly bodies: Array<ReturnType<typeof jsonata> | undefined>;
  readonly concurrency: number;

  private readonly auth: Authenticator;

  constructor(cfg: HttpStepsDestinationConfig, env?: ConnectorEnv) {
    this.cfg = cfg;
    this.concurrency = cfg.concurrency;
    this.agent = (env?.net ?? Network.default()).dispatcher({ proxy: cfg.proxy, tls: cfg.tls, timeoutMs: cfg.timeoutMs });
    this.auth = new Authenticator(cfg.auth, this.agent, env);
    this.bodies = cfg.steps.map((s, i) => {
      if (!s.body) return undefined;
      try {
        return jsonataLib()(s.body);
      } catch (err) {
        throw new Error(`steps[${i}].body: not a valid JSONata expression: ${errorMessage(err)}`);
      }
    });
  }

  async check(): Promise<CheckResult> {
    const problems: string[] = [];
    try {
      await this.auth.headers(AbortSignal.timeout(this.cfg.timeoutMs));
    } catch (err) {
      problems.push(`credentials: ${errorMessage(err)}`);
    }
    for (const s of this.cfg.steps) {
      try {
        const res = await request(s.url, { method: 'HEAD', dispatcher: this.agent, signal: AbortSignal.timeout(this.cfg.timeoutMs) });
        await res.body.dump();
        if (res.statusCode >= 500) problems.push(`step ${s.name}: ${new URL(s.url).host} answered HTTP ${res.statusCode}`);
      } catch (err) {
        problems.push(`step ${s.name}: ${await this.agent.explainCheck(err, s.url)}`);
      }
    }
    const first = this.cfg.steps[0].url;
    return problems.length ? { ok: false, message: problems.join('; ') } : { ok: true, message: `${this.cfg.steps.length} step endpoints reachable; ${await this.agent.pathTo(first)}` };
  }

  async send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome> {
    const raw = (await item.readBody()).toString('utf8');
    let input: unknown;
    try {
      input = JSON.parse(raw);
    } catch (err) {
      return deadLetter(`${item.name} is not JSON (${errorMessage(err).slice(0, 120)}); http-steps sends JSON`);
    }
    const steps: Record<string, unknown> = {};
    let last: { status: number; contentType?: string; body: Buffer } | undefined;
    for (const [i, step] of this.cfg.steps.entries()) {
      let payload: unknown = input;
      if (this.bodies[i]) {
        try {
          payload = await this.bodies[i]!.evaluate({ input, steps });
        } catch (err) {
          return deadLetter(`step ${step.name}: body mapping failed: ${errorMessage(err)}`);
        }
      }
      const body = JSON.stringify(payload ?? null);
      let res;
      try {
        res = await sendAuthorized(this.auth, ctx.signal, (auth) =>
          request(step.url, {
            method: step.method,
            dispatcher: this.agent,
            headers: {
              'content-type': 'application/json',
              'accept-encoding': ACCEPT_ENCODING,
              'idempotency-key': `${item.idempotencyKey}:${step.name}`,
              ...auth,
              ...Object.fromEntries(Object.entries(step.headers).map(([k, v]) => [k.toLowerCase(), v])),
            },
            body,
            signal: ctx.signal,
          }),
        );
      } catch (err) {
        if (err instanceof AuthError) return retryLater(`step ${step.name}: ${err.message}`);
        return retryLater(`step ${step.name}: ${this.agent.explain(err, step.url)}`);
      }
      const status = res.statusCode;
      const ok = status >= 200 && status < 300;
      // the whole answer (later steps and the caller may use it), decompressed, up to maxReplyBytes and
      // within timeoutMs; of a failure only its start
      let replyBody: Buffer;
      try {
        replyBody = await readReply(res, { maxBytes: ok ? this.cfg.maxReplyBytes : SNIPPET_BYTES, truncate: !ok, capName: 'maxReplyBytes', deadlineMs: this.cfg.timeoutMs, what: `the reply to step ${step.name}` });
      } catch (err) {
        if (err instanceof ReplyError && err.permanent) return deadLetter(`${err.message}; the step answered HTTP ${status}`, { status });
        return retryLater(`step ${step.name}: ${new URL(step.url).host}: ${errorMessage(err)}`);
      }
      const text = replyBody.toString('utf8');
      if (!ok) {
        const reason = `step ${step.name} failed: HTTP ${status} from ${new URL(step.url).host}${i > 0 ? ` (steps before it succeeded: ${this.cfg.steps.slice(0, i).map((s) => s.name).join(', ')})` : ''}`;
        const response = text.slice(0, 2048);
        if (RETRYABLE_STATUS.has(status) || status >= 500) return retryLater(reason, { status, response });
        return deadLetter(reason, { status, response });
      }
      steps[step.name] = parseOr(text);
      const ct = res.headers['content-type'];
      last = { status, contentType: Array.isArray(ct) ? ct[0] : ct, body: replyBody };
    }
    if (this.cfg.reply === 'all') {
      return delivered(`${this.cfg.steps.length} steps`, { status: 200, contentType: 'application/json', body: Buffer.from(JSON.stringify(steps)) });
    }
    return delivered(`${this.cfg.steps.length} steps, last HTTP ${last!.status}`, last);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
