import type { ConnectorDefinition } from '../contract.ts';
import { httpDestinationSchema, type HttpDestinationConfig } from './schema.ts';
import { HttpDestination } from './destination.ts';

export const httpConnector: ConnectorDefinition = {
  type: 'http',
  destinationSchema: httpDestinationSchema,
  createDestination: (config: HttpDestinationConfig, env) => new HttpDestination(config, env),
};
