import { z } from 'zod';

export const amqpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'amqp:' || u.protocol === 'amqps:') && u.hostname !== '';
    } catch {
      return false;
    }
  },
  { error: () => 'expected an amqp:// or amqps:// URL (amqp://user:password@host:5672/vhost)' },
);

const connection = {
  url: amqpUrl.meta({ description: 'Broker URL; put the password in ${secret:NAME}.' }),
  heartbeatSec: z.int().min(0).default(30).meta({ description: 'AMQP heartbeat; a dead broker connection is noticed after about twice this.' }),
};

export const amqpSourceSchema = z.strictObject({
  ...connection,
  queue: z.string().min(1).meta({ description: 'Queue to consume (declared durable if missing).' }),
  bindings: z
    .array(z.strictObject({ exchange: z.string().min(1), routingKey: z.string().default('#'), exchangeType: z.enum(['direct', 'topic', 'fanout', 'headers']).default('topic') }))
    .default([])
    .meta({ description: 'Exchanges the queue is bound to (declared durable).' }),
  prefetch: z.int().min(1).max(10_000).default(100).meta({ description: 'Unacknowledged messages the broker hands out at once.' }),
});

export const amqpDestinationSchema = z.strictObject({
  ...connection,
  exchange: z.string().default('').meta({ description: 'Exchange to publish to ("" = the default exchange, routing key = queue name).' }),
  exchangeType: z.enum(['direct', 'topic', 'fanout', 'headers']).default('topic'),
  routingKey: z.string().optional().meta({ description: 'Routing key; default: the queue name, or the item name for a named exchange.' }),
  queue: z.string().min(1).optional().meta({ description: 'Queue declared durable (and bound when an exchange is named) before publishing.' }),
  contentType: z.string().default('application/json'),
  concurrency: z.int().min(1).max(256).default(16).meta({ description: 'Messages awaiting confirmation at once.' }),
});

export type AmqpSourceConfig = z.output<typeof amqpSourceSchema>;
export type AmqpDestinationConfig = z.output<typeof amqpDestinationSchema>;

/** host:port/vhost of a broker URL, without credentials, for messages and logs. */
export function brokerName(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? 5671 : 5672)}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
}

/** The URL with the heartbeat as a query parameter (amqplib reads it from there). */
export function withHeartbeat(url: string, sec: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(sec));
  return u.toString();
}
