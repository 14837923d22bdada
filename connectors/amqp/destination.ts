// AMQP publisher: persistent messages on a confirm channel; an item is delivered only once the broker
// confirmed it. message_id = the item's idempotency key, so consumers can drop duplicates after a retry.
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { connect } from './connect.ts';
import { delivered, retryLater, type CheckResult, type DeliveryOutcome, type Destination, type OutgoingItem } from '../contract.ts';
import { brokerName, withHeartbeat, type AmqpDestinationConfig } from './schema.ts';
import { describe } from './source.ts';

export class AmqpDestination implements Destination {
  private readonly cfg: AmqpDestinationConfig;
  private readonly broker: string;
  readonly concurrency: number;
  private opening?: Promise<ConfirmChannel>;
  private conn?: ChannelModel;

  constructor(cfg: AmqpDestinationConfig) {
    this.cfg = cfg;
    this.broker = brokerName(cfg.url);
    this.concurrency = cfg.concurrency;
  }

  private async open(): Promise<ConfirmChannel> {
    const conn = await connect(withHeartbeat(this.cfg.url, this.cfg.heartbeatSec), { timeout: 10_000 });
    conn.on('error', () => undefined);
    try {
      const ch = await conn.createConfirmChannel();
      ch.on('error', () => undefined);
      const forget = () => {
        this.opening = undefined;
        void conn.close().catch(() => undefined);
      };
      ch.on('close', forget);
      conn.on('close', forget);
      if (this.cfg.exchange) await ch.assertExchange(this.cfg.exchange, this.cfg.exchangeType, { durable: true });
      if (this.cfg.queue) {
        await ch.assertQueue(this.cfg.queue, { durable: true });
        if (this.cfg.exchange) await ch.bindQueue(this.cfg.queue, this.cfg.exchange, this.cfg.routingKey ?? '#');
      }
      this.conn = conn;
      return ch;
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
  }

  private channel(): Promise<ConfirmChannel> {
    if (!this.opening) {
      this.opening = this.open();
      this.opening.catch(() => (this.opening = undefined));
    }
    return this.opening;
  }

  async check(): Promise<CheckResult> {
    try {
      await this.channel();
      return { ok: true, message: `connected to ${this.broker}` };
    } catch (err) {
      return { ok: false, message: `${this.broker}: ${describe(err)}` };
    }
  }

  async send(item: OutgoingItem): Promise<DeliveryOutcome> {
    let ch: ConfirmChannel;
    try {
      ch = await this.channel();
    } catch (err) {
      return retryLater(`AMQP ${this.broker}: ${describe(err)}`);
    }
    const body = await item.readBody();
    const routingKey = this.cfg.routingKey ?? (this.cfg.exchange ? item.name : (this.cfg.queue ?? ''));
    try {
      await new Promise<void>((resolve, reject) => {
        try {
          ch.publish(
            this.cfg.exchange,
            routingKey,
            body,
            { persistent: true, messageId: item.idempotencyKey, contentType: this.cfg.contentType, headers: { 'x-ferry-flow': item.flow, 'x-ferry-name': item.name } },
            (err) => (err ? reject(err instanceof Error ? err : new Error('the broker refused the message (nack)')) : resolve()),
          );
        } catch (err) {
          reject(err);
        }
      });
    } catch (err) {
      return retryLater(`AMQP ${this.broker}: not confirmed: ${describe(err)}`);
    }
    return delivered(`confirmed by ${this.broker}`);
  }

  async close(): Promise<void> {
    this.opening = undefined;
    await this.conn?.close().catch(() => undefined);
  }
}
