import type { ConnectorDefinition } from '../contract.ts';
import { httpStepsDestinationSchema, type HttpStepsDestinationConfig } from './schema.ts';
import { HttpStepsDestination } from './destination.ts';
import { ENDPOINT_TLS_PATH_KEYS } from '../net/schema.ts';

/** `http-steps`: ordered API calls per item (the sync pattern's "charge, then fulfil"). */
export const httpStepsConnector: ConnectorDefinition = {
  type: 'http-steps',
  destinationSchema: httpStepsDestinationSchema,
  pathKeys: { destination: ENDPOINT_TLS_PATH_KEYS },
  createDestination: (config: HttpStepsDestinationConfig, env) => new HttpStepsDestination(config, env),
};
