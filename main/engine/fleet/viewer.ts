// Reads the fleet: the latest heartbeat of every agent heard since a point in time, from the stream the
// agents' exchange feeds. readFleet() reads once (`ferry fleet status`); FleetWatcher keeps reading (the
// dashboard's Fleet page).
import crypto from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { openFleetChannel, streamOf, type FleetChannel } from './broker.ts';
import { fleetReport, isHeartbeat, type FleetReport, type Heartbeat } from './report.ts';
import { brokerName } from '../../../connectors/amqp/schema.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import type { Logger } from '../logger.ts';

export interface FleetSource {
  url: string;
  exchange: string;
  /** How far back heartbeats are read (default 15 minutes). Agents silent for longer are not listed. */
  sinceMs?: number;
}

export const DEFAULT_SINCE_MS = 15 * 60_000;
const MARK = 'ferry.mark';

/** Latest heartbeat body per agent, in stream order (the last one read wins). Parsed only when reported. */
class Latest {
  private readonly bodies = new Map<string, Buffer>();
  private readonly parsed = new Map<string, Heartbeat>();

  take(msg: ConsumeMessage): void {
    const key = msg.fields.routingKey;
    if (!key.startsWith('status.')) return;
    this.bodies.set(key.slice(7), msg.content);
    this.parsed.delete(key.slice(7));
  }

  heartbeats(): Heartbeat[] {
    const out: Heartbeat[] = [];
    for (const [agent, body] of this.bodies) {
      let hb = this.parsed.get(agent);
      if (!hb) {
        try {
          const v = JSON.parse(body.toString('utf8'));
          if (!isHeartbeat(v) || v.agent !== agent) continue;
          hb = v;
          this.parsed.set(agent, hb);
        } catch {
          continue; // not a heartbeat: someone else's message on our exchange
        }
      }
      out.push(hb);
    }
    return out;
  }
}

async function consume(channel: FleetChannel, exchange: string, sinceMs: number, onMessage: (msg: ConsumeMessage) => void): Promise<void> {
  await channel.ch.prefetch(2000);
  const from = Math.floor((Date.now() - sinceMs) / 1000);
  let unacked = 0;
  await channel.ch.consume(
    streamOf(exchange),
    (msg) => {
      if (!msg) return;
      onMessage(msg);
      // a stream consumer must acknowledge to get more; one ack for many
      if (++unacked >= 500) {
        channel.ch.ack(msg, true);
        unacked = 0;
      }
    },
    { noAck: false, arguments: { 'x-stream-offset': { '!': 'timestamp', value: from } } },
  );
}

/**
 * Reads every heartbeat since `sinceMs` ago and reports the latest per agent. It knows it has read all there
 * is when it reads a marker it published itself after subscribing; at most `timeoutMs`.
 */
export async function readFleet(src: FleetSource, opts: { timeoutMs?: number } = {}): Promise<FleetReport> {
  const where = { broker: brokerName(src.url), exchange: src.exchange };
  const channel = await openFleetChannel(src.url, src.exchange, { timeoutMs: opts.timeoutMs });
  try {
    const latest = new Latest();
    const id = crypto.randomUUID();
    let done!: () => void;
    const caughtUp = new Promise<void>((resolve) => (done = resolve));
    await consume(channel, src.exchange, src.sinceMs ?? DEFAULT_SINCE_MS, (msg) => {
      if (msg.properties.type === MARK) {
        if (msg.properties.messageId === id) done();
        return;
      }
      latest.take(msg);
    });
    channel.ch.publish(src.exchange, 'status._mark', Buffer.from('{}'), { type: MARK, messageId: id, expiration: '60000' });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      caughtUp.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), opts.timeoutMs ?? 30_000))),
    ]);
    clearTimeout(timer);
    const report = fleetReport(latest.heartbeats(), Date.now(), where);
    if (timedOut) report.error = `read ${report.agents.length} agents but did not reach the end of ${streamOf(src.exchange)} on ${where.broker} within ${Math.round((opts.timeoutMs ?? 30_000) / 1000)} s`;
    return report;
  } finally {
    await channel.close();
  }
}

/** Keeps reading the fleet for the dashboard; reconnects while the broker is away and says so. */
export class FleetWatcher {
  readonly src: FleetSource;
  private readonly log: Logger;
  private latest = new Latest();
  private channel?: FleetChannel;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private problem: string | undefined = 'connecting';

  constructor(src: FleetSource, log: Logger) {
    this.src = src;
    this.log = log;
  }

  start(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      const channel = await openFleetChannel(this.src.url, this.src.exchange);
      if (this.stopped) return void (await channel.close());
      channel.onLost(() => {
        if (this.channel !== channel) return;
        this.channel = undefined;
        this.problem = `lost the connection to ${brokerName(this.src.url)}; reconnecting`;
        this.retry = setTimeout(() => void this.connect(), 2000);
      });
      this.channel = channel;
      const fresh = new Latest();
      // reading again from the start of the window: what was missed while away is read too
      await consume(channel, this.src.exchange, this.src.sinceMs ?? DEFAULT_SINCE_MS, (msg) => {
        if (msg.properties.type !== MARK) fresh.take(msg);
      });
      this.latest = fresh;
      this.problem = undefined;
    } catch (err) {
      const message = errorMessage(err);
      if (message !== this.problem) this.log.warn({ err: message }, 'fleet view: cannot read the broker; retrying');
      this.problem = message;
      if (!this.stopped) this.retry = setTimeout(() => void this.connect(), 5000);
    }
  }

  report(): FleetReport {
    const r = fleetReport(this.latest.heartbeats(), Date.now(), { broker: brokerName(this.src.url), exchange: this.src.exchange });
    if (this.problem) r.error = this.problem;
    return r;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    const c = this.channel;
    this.channel = undefined;
    await c?.close();
  }
}
