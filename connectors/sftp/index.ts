import type { ConnectorDefinition } from '../contract.ts';
import { sftpDestinationSchema, sftpSourceSchema, type SftpDestinationConfig, type SftpSourceConfig } from './schema.ts';
import { SftpFs } from './client.ts';
import { RemoteDestination } from '../remote/destination.ts';
import { RemoteSource } from '../remote/source.ts';

export const sftpConnector: ConnectorDefinition = {
  type: 'sftp',
  sourceSchema: sftpSourceSchema,
  destinationSchema: sftpDestinationSchema,
  pathKeys: { source: ['privateKey'], destination: ['privateKey'] },
  createSource: (config: SftpSourceConfig, env) => new RemoteSource(config, new SftpFs(config, env.log), env.log),
  createDestination: (config: SftpDestinationConfig, env) => new RemoteDestination(config, new SftpFs(config, env.log)),
};
