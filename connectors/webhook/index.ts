import type { ConnectorDefinition } from '../contract.ts';
import { exposureWarnings } from './exposure.ts';
import {
  syncExposure,
  syncSourceSchema,
  webhookExposure,
  webhookDestinationSchema,
  webhookSourceSchema,
  type SyncSourceConfig,
  type WebhookDestinationConfig,
  type WebhookSourceConfig,
} from './schema.ts';
import { WebhookSource } from './source.ts';
import { WebhookDestination } from './destination.ts';
import { SyncSource } from './sync.ts';
import { ENDPOINT_TLS_PATH_KEYS } from '../net/schema.ts';

/** `webhook`: receiver (POST /hooks/<flow>, or webhook-relay mode) and signed sender. */
export const webhookConnector: ConnectorDefinition = {
  type: 'webhook',
  sourceSchema: webhookSourceSchema,
  destinationSchema: webhookDestinationSchema,
  changeEvents: true,
  eventsOnly: true,
  pathKeys: { source: ['tls.cert', 'tls.key', ...ENDPOINT_TLS_PATH_KEYS.map((k) => `relay.${k}`)], destination: ENDPOINT_TLS_PATH_KEYS },
  createSource: (config: WebhookSourceConfig, env) => new WebhookSource(config, env),
  createDestination: (config: WebhookDestinationConfig, env) => new WebhookDestination(config, env),
  warnings: (role, config: WebhookSourceConfig) => (role === 'source' && config.mode === 'listen' ? exposureWarnings(webhookExposure(config)) : []),
};

/** `sync`: the synchronous endpoint (POST /sync/<flow>, GET /sync/<flow>/<ticket>); it shares the webhook listener. */
export const syncConnector: ConnectorDefinition = {
  type: 'sync',
  sourceSchema: syncSourceSchema,
  changeEvents: true,
  eventsOnly: true,
  pathKeys: { source: ['tls.cert', 'tls.key'] },
  createSource: (config: SyncSourceConfig, env) => new SyncSource(config, env),
  warnings: (role, config: SyncSourceConfig) => (role === 'source' ? exposureWarnings(syncExposure(config)) : []),
};
