// Ordered API steps (e.g. charge the payment, then create the fulfilment order only if it succeeded). Each
// step carries Idempotency-Key "<item key>:<step>", so a retried item does not repeat a step the API already
// did. The first failing step decides the outcome, with its status and reason.
import { Agent, request } from 'undici';
import jsonata from 'jsonata';
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
import { readBounded, REPLY_MAX_BYTES, RETRYABLE_STATUS } from '../http/reply.ts';
import { AuthError, Authenticator, sendAuthorized } from '../http/auth.ts';
import type { HttpStepsDestinationConfig } from './schema.ts';



function parseOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class HttpStepsDestination implements Destination {
  private readonly cfg: HttpStepsDestinationConfig;
  private readonly agent: Agent;
  private readonly bodies: Array<ReturnType<typeof jsonata> | undefined>;
  readonly concurrency: number;

  private readonly auth: Authenticator;

  constructor(cfg: HttpStepsDestinationConfig, env?: Pick<ConnectorEnv, 'tokens'>) {
    this.cfg = cfg;
    this.concurrency = cfg.concurrency;
    this.agent = new Agent({ connectTimeout: cfg.timeoutMs, headersTimeout: cfg.timeoutMs, bodyTimeout: cfg.timeoutMs });
    this.auth = new Authenticator(cfg.auth, this.agent, env);
    this.bodies = cfg.steps.map((s, i) => {
      if (!s.body) return undefined;
      try {
        return jsonata(s.body);
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
        problems.push(`step ${s.name}: ${new URL(s.url).host} unreachable (${errorMessage(err)})`);
      }
    }
    return problems.length ? { ok: false, message: problems.join('; ') } : { ok: true, message: `${this.cfg.steps.length} step endpoints reachable` };
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
        return retryLater(`step ${step.name}: ${new URL(step.url).host}: ${errorMessage((err as { cause?: unknown }).cause ?? err)}`);
      }
      const status = res.statusCode;
      const replyBody = await readBounded(res.body, REPLY_MAX_BYTES).catch(() => Buffer.alloc(0));
      const text = replyBody.toString('utf8');
      if (status < 200 || status >= 300) {
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
