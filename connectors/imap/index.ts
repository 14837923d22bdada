import type { ConnectorDefinition } from '../contract.ts';
import { imapSourceSchema, type ImapSourceConfig } from './schema.ts';
import { ImapSource } from './source.ts';

/** `imap`: takes attachments (or whole messages) from a mailbox; IMAP IDLE or a schedule. */
export const imapConnector: ConnectorDefinition = {
  type: 'imap',
  sourceSchema: imapSourceSchema,
  changeEvents: true,
  createSource: (config: ImapSourceConfig, env) => new ImapSource(config, env),
};
