import type { ConnectorDefinition } from '../contract.ts';
import { httpPollSourceSchema, type HttpPollSourceConfig } from './schema.ts';
import { HttpPollSource } from './source.ts';

export const httpPollConnector: ConnectorDefinition = {
  type: 'http-poll',
  sourceSchema: httpPollSourceSchema,
  createSource: (config: HttpPollSourceConfig, env) => new HttpPollSource(config, env),
};
