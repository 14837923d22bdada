// Where heartbeats live on the broker: a durable topic exchange (routing key status.<agent>) and, bound to
// it, a RabbitMQ stream that keeps the last hours of heartbeats. A viewer reads the stream from a recent
// point in time instead of waiting for every agent's next heartbeat, so `ferry fleet status` answers at once.
import type { Channel, ChannelModel } from 'amqplib';
import { brokerName, withHeartbeat } from '../../../connectors/amqp/schema.ts';
import { describe as describeAmqpError } from '../../../connectors/amqp/source.ts';

/** The stream's settings: every agent and viewer declares it with exactly these (RabbitMQ refuses others). */
export const STREAM_ARGUMENTS = {
  'x-queue-type': 'stream',
  'x-max-age': '6h',
  'x-max-length-bytes': 256 * 1024 * 1024,
  // small segments, so retention (applied per segment) drops old heartbeats in step
  'x-stream-max-segment-size-bytes': 8 * 1024 * 1024,
};

export const streamOf = (exchange: string) => `${exchange}.status`;
export const routingKeyOf = (agent: string) => `status.${agent}`;

export interface FleetChannel {
  conn: ChannelModel;
  ch: Channel;
  close(): Promise<void>;
  /** Calls `fn` once when the connection or the channel closes (the broker went away); the rest is closed. */
  onLost(fn: () => void): void;
}

/** Connects and declares the exchange, the stream and its binding. Errors name the broker, never a password. */
export async function openFleetChannel(url: string, exchange: string, opts: { timeoutMs?: number } = {}): Promise<FleetChannel> {
  const amqp = await import('amqplib');
  let conn: ChannelModel;
  try {
    conn = await amqp.connect(withHeartbeat(url, 15), { timeout: opts.timeoutMs ?? 10_000 });
  } catch (err) {
    throw new Error(`AMQP ${brokerName(url)}: ${describeAmqpError(err)}`);
  }
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(streamOf(exchange), { durable: true, arguments: STREAM_ARGUMENTS });
    await ch.bindQueue(streamOf(exchange), exchange, 'status.*');
    const close = () => conn.close().catch(() => undefined);
    let lost = false;
    const listeners: Array<() => void> = [];
    const lose = () => {
      if (lost) return;
      lost = true;
      void close();
      for (const fn of listeners) fn();
    };
    conn.on('close', lose);
    ch.on('close', lose);
    return { conn, ch, close, onLost: (fn) => listeners.push(fn) };
  } catch (err) {
    await conn.close().catch(() => undefined);
    throw new Error(`AMQP ${brokerName(url)}: ${describeAmqpError(err)}`);
  }
}
