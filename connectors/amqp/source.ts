// AMQP subscription (RabbitMQ): consumes with manual acks and acknowledges a message only once it is durably
// queued. A broker restart or a dropped connection reconnects with backoff; unacknowledged messages are
// redelivered by the broker and recognised by their message id (set message_id for exactly-once intake).
import crypto from 'node:crypto';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connect } from './connect.ts';
import { errorMessage, type CheckResult, type ConnectorEnv, type NewItem, type Source, type SourceContext } from '../contract.ts';
import { brokerName, withHeartbeat, type AmqpSourceConfig } from './schema.ts';

export class AmqpSource implements Source {
  private readonly cfg: AmqpSourceConfig;
  private readonly broker: string;

  constructor(cfg: AmqpSourceConfig, _env: ConnectorEnv) {
    this.cfg = cfg;
    this.broker = brokerName(cfg.url);
  }

  async check(): Promise<CheckResult> {
    let conn: ChannelModel | undefined;
    try {
      conn = await connect(this.cfg.url, { timeout: 10_000 });
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await ch.assertQueue(this.cfg.queue, { durable: true });
      return { ok: true, message: `connected to ${this.broker}, queue ${this.cfg.queue} ready` };
    } catch (err) {
      return { ok: false, message: `${this.broker}: ${describe(err)}` };
    } finally {
      await conn?.close().catch(() => undefined);
    }
  }

  async scan(): Promise<void> {
    // messages are pushed by the broker (watch)
  }

  private itemOf(msg: ConsumeMessage): NewItem {
    const p = msg.properties;
    const id = typeof p.messageId === 'string' && p.messageId !== '' ? p.messageId : undefined;
    return {
      // without a message id a redelivery cannot be recognised: at-least-once
      sourceKey: id ? `amqp:${id}` : `amqp:anon:${crypto.randomUUID()}`,
      name: `${(id ?? `${msg.fields.exchange || this.cfg.queue}-${Date.now()}`).replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100)}`,
      attributes: {
        messageId: id ?? null,
        exchange: msg.fields.exchange,
        routingKey: msg.fields.routingKey,
        contentType: p.contentType ?? null,
        correlationId: p.correlationId ?? null,
        type: p.type ?? null,
      },
      body: { bytes: msg.content },
    };
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    const stop = new AbortController();
    let conn: ChannelModel | undefined;
    let pending = new Set<Promise<void>>();
    const onMessage = (ch: Channel, msg: ConsumeMessage) => {
      const p = (async () => {
        let result;
        try {
          result = await ctx.emit([this.itemOf(msg)]);
        } catch (err) {
          result = { queued: 0, duplicates: [], failed: [{ error: errorMessage(err) }], refused: undefined };
        }
        try {
          if (!result.refused && result.failed.length === 0) ch.ack(msg);
          else {
            if (result.refused) ctx.problem(`message left on ${this.cfg.queue}: ${result.refused}`);
            else ctx.problem(`message from ${this.cfg.queue} not queued: ${result.failed[0].error}`);
            // the broker keeps it; give intake time before it comes back
            await sleep(result.refused ? 2000 : 500, stop.signal);
            ch.nack(msg, false, true);
          }
        } catch {
          // the channel closed: the broker redelivers the message (recognised by its id)
        }
      })();
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };

    const run = async () => {
      let delay = 500;
      let firstProblem = true;
      while (!stop.signal.aborted) {
        try {
          conn = await connect(withHeartbeat(this.cfg.url, this.cfg.heartbeatSec), { timeout: 10_000 });
          const closed = new Promise<void>((resolve) => {
            conn!.on('close', () => resolve());
            conn!.on('error', () => undefined);
          });
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          ch.on('close', () => void conn?.close().catch(() => undefined));
          await ch.assertQueue(this.cfg.queue, { durable: true });
          for (const b of this.cfg.bindings) {
            await ch.assertExchange(b.exchange, b.exchangeType, { durable: true });
            await ch.bindQueue(this.cfg.queue, b.exchange, b.routingKey);
          }
          await ch.prefetch(this.cfg.prefetch);
          await ch.consume(this.cfg.queue, (msg) => msg && onMessage(ch, msg), { noAck: false });
          if (!firstProblem) ctx.log.info({ broker: this.broker }, 'AMQP connection restored');
          delay = 500;
          firstProblem = true;
          await closed;
          await Promise.all(pending);
          pending = new Set();
          if (!stop.signal.aborted) ctx.problem(`AMQP connection to ${this.broker} closed; reconnecting`);
        } catch (err) {
          if (stop.signal.aborted) break;
          if (firstProblem) ctx.problem(`AMQP ${this.broker}: ${describe(err)} (reconnecting)`);
          firstProblem = false;
          await conn?.close().catch(() => undefined);
        }
        await sleep(delay, stop.signal);
        delay = Math.min(delay * 2, 15_000);
      }
    };
    const loop = run();
    return async () => {
      stop.abort();
      await Promise.all(pending);
      await conn?.close().catch(() => undefined);
      await loop;
    };
  }
}

export function describe(err: unknown): string {
  const msg = errorMessage(err);
  if (/ACCESS_REFUSED|403/.test(msg)) return 'authentication refused (check the user and password)';
  if (/ECONNREFUSED/.test(msg)) return 'connection refused (is the broker running?)';
  // RabbitMQ answers a bad login with ACCESS_REFUSED and closes; when the close wins the race, only this is left
  if (/closed abruptly during opening handshake/i.test(msg)) return 'the broker closed the connection during the opening handshake: most likely authentication refused (check the user, password and vhost)';
  // amqplib messages may quote the URL: strip credentials
  return msg.replace(/amqps?:\/\/[^@\s]*@/g, 'amqp://***@');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
