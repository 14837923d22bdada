// Alerts to the admin. Every few seconds the engine's facts (the status report, the disk, a refused config)
// are turned into conditions; each rule's incidents decide what to say (throttled, resolved when it clears).
// Each rule's channel is an internal flow of its own (`@alert:<n>`): its messages are queued durably with the
// incidents they update, and delivered, retried and reported like any item, apart from the data flows.
import picomatch from 'picomatch';
import type { CheckResult, ConnectorEnv, NewItem, Source, SourceContext } from '../../../connectors/contract.ts';
import type { Network } from '../../../connectors/net/index.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import type { FerryConfig, FlowConfig } from '../config/schema.ts';
import { FlowRuntime, type FlowDeps } from '../flow.ts';
import type { Logger } from '../logger.ts';
import type { StatusReport } from '../status.ts';
import { currentConditions, type ConditionSource, type EngineFacts } from './causes.ts';
import { channelDestination, describeChannel, directItem, hostName, sendDirect } from './channels.ts';
import { advance, incidentKey, type AlertMessage, type Incident } from './incidents.ts';
import { renderFor, type RenderContext } from './render.ts';
import { alertFlowName } from './names.ts';
import { ENGINE_CAUSES, type AlertRule } from './schema.ts';


const INCIDENTS_KEY = 'incidents';

export interface AlertOptions {
  /** How often the facts are looked at (default 5 s). */
  checkMs?: number;
  /** After start-up, how long nothing is declared resolved while the flows rebuild their facts (default 60 s). */
  startGraceMs?: number;
  /** Backoff of the alert channels (default: from 5 s up to 10 min, for about a day). */
  retry?: { maxAttempts?: number; initialDelayMs?: number; maxDelayMs?: number };
  /** More causes from parts of the engine (see ConditionSource). */
  sources?: ConditionSource[];
}

/** What the alerts need from the engine. */
export interface AlertHost {
  config(): FerryConfig;
  configDir(): string;
  status(): StatusReport;
  facts(): EngineFacts;
  /** The local dashboard's address, when the admin API runs. */
  dashboardUrl(): string | undefined;
  /** The parts an internal flow runs on. */
  flowDeps(): FlowDeps;
  log: Logger;
  /** The network setting the webhook channels send through (proxy, trusted CAs), as every HTTP client does. */
  net(): Network;
  version: string;
}

/** The source of an alert flow: the service hands it the rendered messages to queue. */
class AlertIntake implements Source {
  private ctx?: SourceContext;

  async check(): Promise<CheckResult> {
    return { ok: true };
  }

  async scan(): Promise<void> {
    // alerts are handed in by the service
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    this.ctx = ctx;
    return async () => {
      this.ctx = undefined;
    };
  }

  get context(): SourceContext {
    if (!this.ctx) throw new Error('the alert channel is not running');
    return this.ctx;
  }
}

interface Channel {
  index: number;
  rule: AlertRule;
  runtime: FlowRuntime;
  intake: AlertIntake;
  incidents: Map<string, Incident>;
  wantsFlow: (flow: string) => boolean;
}

function internalFlow(name: string, retry: AlertOptions['retry'] = {}): FlowConfig {
  return {
    name,
    enabled: true,
    trigger: { on: 'change' },
    retry: { maxAttempts: retry.maxAttempts ?? 200, initialDelayMs: retry.initialDelayMs ?? 5000, maxDelayMs: retry.maxDelayMs ?? 600_000 },
    circuitBreaker: { failureThreshold: 5, cooldownMs: 15_000 },
    limits: { maxQueuedItems: 10_000, maxQueuedBytes: 64 * 1024 * 1024 },
    ordering: 'none',
    onRecordError: 'dead',
  } as unknown as FlowConfig;
}

/** What the channels are built from: their rules and the network setting they send through. */
const appliedKey = (config: FerryConfig) => JSON.stringify([config.alerts, config.network]);

export class AlertService {
  private readonly host: AlertHost;
  private readonly opts: AlertOptions;
  private channels: Channel[] = [];
  private applied = '';
  private timer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private refused?: EngineFacts['configRefused'];
  private evaluating?: Promise<void>;
  private seq = 0;
  /** Evaluations done (tests wait on it). */
  evaluations = 0;

  constructor(host: AlertHost, opts: AlertOptions = {}) {
    this.host = host;
    this.opts = opts;
  }

  /** The internal flows (the engine writes their facts for the status and knows their items in flight). */
  runtimes(): FlowRuntime[] {
    return this.channels.map((c) => c.runtime);
  }

  async start(): Promise<void> {
    await this.build(this.host.config());
  }

  /**
   * Takes a new config: channels are rebuilt when the `alerts:` block or the network setting changed (queued
   * alerts stay queued).
   */
  async apply(config: FerryConfig): Promise<void> {
    if (appliedKey(config) === this.applied) return;
    await this.teardown();
    await this.build(config);
  }

  private env(index: number): ConnectorEnv {
    return { configDir: this.host.configDir(), log: this.host.log.child({ flow: alertFlowName(index) }), net: this.host.net() };
  }

  private async build(config: FerryConfig): Promise<void> {
    this.applied = appliedKey(config);
    const base = this.host.flowDeps();
    // alerts are tiny and must get through when intake is paused for disk space (that is one of them)
    const deps: FlowDeps = { ...base, diskOk: () => undefined };
    for (const [index, rule] of config.alerts.entries()) {
      const name = alertFlowName(index);
      try {
        const intake = new AlertIntake();
        const destination = channelDestination(rule.to, this.host.configDir(), this.env(index));
        const runtime = new FlowRuntime('@alerts', internalFlow(name, this.opts.retry), intake, destination, deps);
        await runtime.start();
        const saved = intake.context.state.get<Array<[string, Incident]>>(INCIDENTS_KEY) ?? [];
        const wanted = picomatch(rule.flows);
        this.channels.push({ index, rule, runtime, intake, incidents: new Map(saved), wantsFlow: (f) => wanted(f) });
      } catch (err) {
        this.host.log.error({ alert: name, err: errorMessage(err) }, 'an alert channel could not start');
      }
    }
    clearInterval(this.timer);
    if (this.channels.length > 0) {
      this.timer = setInterval(() => void this.evaluate(), this.opts.checkMs ?? 5000);
      this.timer.unref();
    }
  }

  private async teardown(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.evaluating;
    const channels = this.channels;
    this.channels = [];
    await Promise.all(channels.map((c) => c.runtime.stop(5000).catch(() => undefined)));
  }

  async stop(): Promise<void> {
    await this.teardown();
  }

  /** A changed config file was refused (the running config stays): `config-refused` until one is taken. */
  configRefused(problems: string[]): void {
    this.refused = { at: this.refused?.at ?? Date.now(), problems };
    void this.evaluate();
  }

  configAccepted(): void {
    this.refused = undefined;
  }

  private renderContext(rule: AlertRule): RenderContext {
    const local = this.host.dashboardUrl();
    return {
      host: hostName(),
      dashboardUrl: (rule.dashboardUrl ?? local)?.replace(/\/+$/, ''),
      dashboardIsLocal: !rule.dashboardUrl && local !== undefined,
      version: this.host.version,
    };
  }

  /** Looks at the facts once and queues what must be said (one evaluation at a time). */
  evaluate(now = Date.now()): Promise<void> {
    this.evaluating ??= this.evaluateNow(now).finally(() => (this.evaluating = undefined));
    return this.evaluating;
  }

  private async evaluateNow(now: number): Promise<void> {
    if (this.channels.length === 0) return;
    let report: StatusReport;
    try {
      report = this.host.status();
    } catch (err) {
      this.host.log.warn({ err: errorMessage(err) }, 'alerts: cannot read the status');
      return;
    }
    const facts = { ...this.host.facts(), configRefused: this.refused };
    for (const ch of this.channels) {
      try {
        const since = (cause: Parameters<typeof incidentKey>[0], flow: string | null) => {
          const inc = ch.incidents.get(incidentKey(cause, flow));
          return inc?.active ? inc.since : undefined;
        };
        const conditions = currentConditions(report, facts, since, this.opts.sources).filter(
          (c) => ch.rule.on.includes(c.cause) && (ENGINE_CAUSES.has(c.cause) || c.flow === null || ch.wantsFlow(c.flow)),
        );
        const { messages, changed } = advance(ch.incidents, conditions, now, {
          throttleMs: ch.rule.throttleMinutes * 60_000,
          canResolve: now - this.startedAt >= (this.opts.startGraceMs ?? 60_000),
        });
        if (messages.length === 0 && changed.size === 0) continue;
        await this.queue(ch, messages, now);
      } catch (err) {
        this.host.log.warn({ alert: alertFlowName(ch.index), err: errorMessage(err) }, 'alerts: evaluating a rule failed');
      }
    }
    this.evaluations++;
  }

  /** Queues the messages of one rule with its incidents' new state, in one transaction. */
  private async queue(ch: Channel, messages: AlertMessage[], now: number): Promise<void> {
    const ctx = ch.intake.context;
    const state = { key: INCIDENTS_KEY, value: [...ch.incidents] };
    if (messages.length === 0) {
      ctx.state.set(state.key, state.value);
      return;
    }
    const render = this.renderContext(ch.rule);
    const items: NewItem[] = messages.map((m) => {
      const r = renderFor(ch.rule.to, m, render);
      return {
        sourceKey: `alert:${incidentKey(m.cause, m.flow)}:${m.kind}:${now}:${this.seq++}`,
        name: r.name,
        attributes: { kind: m.kind, cause: m.cause, flow: m.flow, subject: r.subject ?? null, contentType: r.name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8' },
        body: { bytes: r.body },
      };
    });
    const result = await ctx.emit(items, state);
    if (result.refused || result.failed.length > 0) {
      // nothing lost: the incidents go back to what was stored, and the next look says it again
      ch.incidents = new Map(ctx.state.get<Array<[string, Incident]>>(INCIDENTS_KEY) ?? []);
      throw new Error(`alerts not queued: ${result.refused ?? result.failed[0].error}`);
    }
    for (const m of messages) this.host.log.info({ alert: alertFlowName(ch.index), kind: m.kind, cause: m.cause, flow: m.flow }, 'alert queued');
  }

  /** `ferry alerts test`: a test message straight through every channel (not queued); one outcome per rule. */
  static async sendTest(config: FerryConfig, configDir: string, env: { log: ConnectorEnv['log']; net?: Network; version: string; dashboardUrl?: string }): Promise<Array<{ rule: number; channel: string; ok: boolean; message: string }>> {
    const out = [];
    const now = Date.now();
    for (const [index, rule] of config.alerts.entries()) {
      const connEnv = { configDir, log: env.log, net: env.net };
      const channel = describeChannel(rule.to);
      const message: AlertMessage = { kind: 'test', cause: 'test', flow: null, text: 'test', since: now, at: now, unreported: 0 };
      const r = renderFor(rule.to, message, { host: hostName(), dashboardUrl: (rule.dashboardUrl ?? env.dashboardUrl)?.replace(/\/+$/, ''), dashboardIsLocal: !rule.dashboardUrl && env.dashboardUrl !== undefined, version: env.version });
      let outcome: { ok: boolean; message: string };
      try {
        const destination = channelDestination(rule.to, configDir, connEnv);
        outcome = await sendDirect(destination, directItem(r.name, r.body, { kind: 'test', subject: r.subject ?? null, contentType: r.name.endsWith('.json') ? 'application/json' : 'text/plain; charset=utf-8' }), connEnv);
      } catch (err) {
        outcome = { ok: false, message: errorMessage(err) };
      }
      out.push({ rule: index, channel, ...outcome });
    }
    return out;
  }
}
