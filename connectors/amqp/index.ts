import type { ConnectorDefinition } from '../contract.ts';
import { amqpDestinationSchema, amqpSourceSchema, type AmqpDestinationConfig, type AmqpSourceConfig } from './schema.ts';
import { AmqpSource } from './source.ts';
import { AmqpDestination } from './destination.ts';

/** `amqp`: RabbitMQ subscription (manual acks after durable queueing) and publisher (confirms). */
export const amqpConnector: ConnectorDefinition = {
  type: 'amqp',
  sourceSchema: amqpSourceSchema,
  destinationSchema: amqpDestinationSchema,
  changeEvents: true,
  eventsOnly: true,
  createSource: (config: AmqpSourceConfig, env) => new AmqpSource(config, env),
  createDestination: (config: AmqpDestinationConfig) => new AmqpDestination(config),
};
