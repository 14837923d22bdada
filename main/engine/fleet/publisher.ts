// Publishes this agent's heartbeat to the fleet exchange every `intervalSec`, and one second after a flow's
// health changes. Its broker connection is its own and every failure stays here: a broker that is down
// never touches intake or delivery; heartbeats resume when it is back (reconnecting with backoff).
import os from 'node:os';
import type { Engine } from '../engine.ts';
import type { FleetConfig } from './schema.ts';
import { agentName } from './schema.ts';
import { openFleetChannel, routingKeyOf, type FleetChannel } from './broker.ts';
import type { Heartbeat } from './report.ts';
import { configVersion } from '../config/version.ts';
import { packageVersion } from '../paths.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import { brokerName } from '../../../connectors/amqp/schema.ts';

const BACKOFF_MS = [1000, 2000, 5000, 10_000, 15_000];

type Publish = NonNullable<FleetConfig['publish']>;

/** A health key from the flows' runtime state (no database read): checked every second. */
function runtimeHealth(engine: Engine): string {
  let key = '';
  for (const f of engine.flows.values()) {
    const failing = f.breaker.state !== 'closed' || f.facts.sourceFailingSince !== undefined || f.facts.intakeBlocked !== undefined || f.facts.lastError?.startsWith('failed to start') === true;
    key += `${f.name}:${failing ? 1 : 0}|`;
  }
  return key;
}

export class FleetPublisher {
  private readonly engine: Engine;
  readonly cfg: Publish;
  private readonly agent: string;
  private readonly labels: Record<string, string>;
  private channel?: FleetChannel;
  private connecting = false;
  private failures = 0;
  private nextConnectAt = 0;
  private timer?: NodeJS.Timeout;
  private lastSentAt = 0;
  private lastHealth = '';
  private healthChangedAt = 0;
  private stopped = false;
  /** Heartbeats published since start (tests and the bench read it). */
  sent = 0;
  /** The last connection problem, while there is one. */
  problem: string | undefined;

  constructor(engine: Engine, fleet: FleetConfig) {
    this.engine = engine;
    this.cfg = fleet.publish!;
    this.agent = agentName(fleet);
    this.labels = fleet.labels;
  }

  start(): void {
    this.lastHealth = runtimeHealth(this.engine);
    this.timer = setInterval(() => this.tick(), 1000);
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.channel?.close();
    this.channel = undefined;
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (!this.channel) {
      if (!this.connecting && now >= this.nextConnectAt) void this.connect();
      return;
    }
    const health = runtimeHealth(this.engine);
    if (health !== this.lastHealth) {
      this.lastHealth = health;
      this.healthChangedAt = now; // published at the next tick: the flows' facts are in the database by then
      return;
    }
    const due = now - this.lastSentAt >= this.cfg.intervalSec * 1000;
    if (due || this.healthChangedAt > this.lastSentAt) this.publish(now);
  }

  private async connect(): Promise<void> {
    this.connecting = true;
    try {
      const channel = await openFleetChannel(this.cfg.url, this.cfg.exchange);
      if (this.stopped) return void (await channel.close());
      channel.onLost(() => {
        if (this.channel !== channel) return;
        this.channel = undefined;
        this.problem = 'the broker connection was lost; reconnecting';
        this.nextConnectAt = Date.now() + BACKOFF_MS[0];
        this.engine.log.warn({ broker: brokerName(this.cfg.url) }, 'fleet heartbeats: broker connection lost; reconnecting');
      });
      this.channel = channel;
      if (this.failures > 0 || this.problem) this.engine.log.info({ broker: brokerName(this.cfg.url) }, 'fleet heartbeats: connected again');
      this.failures = 0;
      this.problem = undefined;
      this.publish(Date.now());
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.problem) this.engine.log.warn({ err: message }, 'fleet heartbeats: cannot reach the broker; retrying (deliveries are not affected)');
      this.problem = message;
      this.nextConnectAt = Date.now() + BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
      this.failures++;
    } finally {
      this.connecting = false;
    }
  }

  /** The heartbeat now: the status report, who this agent is, never a secret. */
  heartbeat(now = Date.now()): Heartbeat {
    const engine = this.engine;
    return {
      kind: 'ferry.status',
      agent: this.agent,
      labels: this.labels,
      version: packageVersion(),
      configVersion: configVersion(engine.loaded),
      host: os.hostname(),
      uptimeSec: Math.round((now - engine.startedAt) / 1000),
      intervalSec: this.cfg.intervalSec,
      sentAt: new Date(now).toISOString(),
      ...engine.status(),
    };
  }

  private publish(now: number): void {
    const channel = this.channel;
    if (!channel) return;
    this.lastSentAt = now;
    try {
      const body = Buffer.from(this.engine.scrubber.text(JSON.stringify(this.heartbeat(now))));
      // Not persistent and with a TTL of three intervals: a heartbeat is news only until the next ones.
      // A full socket buffer (a slow broker) drops this one rather than queueing them up in memory.
      channel.ch.publish(this.cfg.exchange, routingKeyOf(this.agent), body, {
        contentType: 'application/json',
        type: 'ferry.status',
        appId: 'ferry',
        timestamp: Math.floor(now / 1000),
        expiration: String(3 * this.cfg.intervalSec * 1000),
        deliveryMode: 1,
      });
      this.sent++;
    } catch (err) {
      this.engine.log.warn({ err: errorMessage(err) }, 'fleet heartbeat not sent');
    }
  }
}
