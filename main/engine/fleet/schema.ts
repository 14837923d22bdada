// `fleet:` in the config: this agent's name and labels, where its heartbeats go, and the broker the
// dashboard's Fleet page reads.
import os from 'node:os';
import { z } from 'zod';
import { amqpUrl } from '../../../connectors/amqp/schema.ts';

const exchange = z.string().min(1).regex(/^[A-Za-z0-9_.:-]+$/, { error: 'expected an exchange name of letters, digits, "_", ".", ":" or "-"' });

export const fleetPublishSchema = z
  .strictObject({
    type: z.literal('amqp').meta({ description: 'The broker kind (RabbitMQ over AMQP 0-9-1).' }),
    url: amqpUrl.meta({ description: 'Broker URL; put the password in ${secret:NAME}.' }),
    exchange: exchange.default('ferry.fleet').meta({ description: 'Topic exchange (declared durable); routing key status.<agent>.' }),
    intervalSec: z.int().min(1).max(3600).default(30).meta({ description: 'Seconds between heartbeats; one is also sent at once when a flow changes health.' }),
  })
  .meta({ description: 'Publish this agent\'s status (outbound connection only).' });

export const fleetViewSchema = z
  .strictObject({
    amqp: amqpUrl.meta({ description: 'Broker URL the dashboard\'s Fleet page reads heartbeats from.' }),
    exchange: exchange.default('ferry.fleet'),
  })
  .meta({ description: 'Show the fleet (every agent publishing to this broker) on the dashboard\'s Fleet page, read-only.' });

export const fleetSchema = z
  .strictObject({
    agent: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, { error: 'expected an agent name of letters, digits, "_", "." or "-"' })
      .optional()
      .meta({ description: 'This agent\'s name in the fleet; default: the host name.' }),
    labels: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}).meta({ description: 'Free labels shown beside the agent (region: north).' }),
    publish: fleetPublishSchema.optional(),
    view: fleetViewSchema.optional(),
  })
  .meta({ description: 'Fleet: heartbeats to a RabbitMQ exchange, and the fleet view.' });

export type FleetConfig = z.output<typeof fleetSchema>;

/** The agent name: `fleet.agent`, else the host name made safe for a routing key. */
export function agentName(fleet: FleetConfig | undefined): string {
  return fleet?.agent ?? (os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'ferry');
}
