import type { ConnectorDefinition } from '../contract.ts';
import { httpDestinationSchema, type HttpDestinationConfig } from './schema.ts';
import { HttpDestination } from './destination.ts';
import { ENDPOINT_TLS_PATH_KEYS } from '../net/schema.ts';

export const httpConnector: ConnectorDefinition = {
  type: 'http',
  destinationSchema: httpDestinationSchema,
  createDestination: (config: HttpDestinationConfig, env) => new HttpDestination(config, env),
  pathKeys: { destination: ENDPOINT_TLS_PATH_KEYS },
};
