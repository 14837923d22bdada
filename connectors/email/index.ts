import type { ConnectorDefinition } from '../contract.ts';
import { emailDestinationSchema, type EmailDestinationConfig } from './schema.ts';
import { EmailDestination } from './destination.ts';

export const emailConnector: ConnectorDefinition = {
  type: 'email',
  destinationSchema: emailDestinationSchema,
  pathKeys: { destination: ['tls.ca'] },
  createDestination: (config: EmailDestinationConfig) => new EmailDestination(config),
};
