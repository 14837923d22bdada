import type { ConnectorDefinition } from '../contract.ts';
import { ftpDestinationSchema, ftpSourceSchema, type FtpDestinationConfig, type FtpSourceConfig } from './schema.ts';
import { FtpFs } from './client.ts';
import { RemoteDestination } from '../remote/destination.ts';
import { RemoteSource } from '../remote/source.ts';

export const ftpConnector: ConnectorDefinition = {
  type: 'ftp',
  sourceSchema: ftpSourceSchema,
  destinationSchema: ftpDestinationSchema,
  createSource: (config: FtpSourceConfig, env) => new RemoteSource(config, new FtpFs(config), env.log),
  createDestination: (config: FtpDestinationConfig) => new RemoteDestination(config, new FtpFs(config)),
};
