import type { ConnectorDefinition } from '../contract.ts';
import { httpPollSourceSchema, type HttpPollSourceConfig } from './schema.ts';
import { HttpPollSource } from './source.ts';
import { ENDPOINT_TLS_PATH_KEYS } from '../net/schema.ts';

export const httpPollConnector: ConnectorDefinition = {
  type: 'http-poll',
  sourceSchema: httpPollSourceSchema,
  pathKeys: { source: ENDPOINT_TLS_PATH_KEYS },
  createSource: (config: HttpPollSourceConfig, env) => new HttpPollSource(config, env),
};
