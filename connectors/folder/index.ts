import type { ConnectorDefinition } from '../contract.ts';
import { folderDestinationSchema, folderSourceSchema, type FolderDestinationConfig, type FolderSourceConfig } from './schema.ts';
import { FolderSource } from './source.ts';
import { FolderDestination } from './destination.ts';

export const folderConnector: ConnectorDefinition = {
  type: 'folder',
  sourceSchema: folderSourceSchema,
  destinationSchema: folderDestinationSchema,
  changeEvents: true,
  pathKeys: { source: ['path', 'afterDelivery.to'], destination: ['path'] },
  createSource: (config: FolderSourceConfig, env) => new FolderSource(config, env),
  createDestination: (config: FolderDestinationConfig) => new FolderDestination(config),
};
