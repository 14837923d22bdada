// The one place the engine learns about connectors. Adding a connector: a folder in connectors/ and a line here.
import type { ConnectorDefinition } from '../../connectors/contract.ts';
import { folderConnector } from '../../connectors/folder/index.ts';
import { httpConnector } from '../../connectors/http/index.ts';
import { syncConnector, webhookConnector } from '../../connectors/webhook/index.ts';
import { amqpConnector } from '../../connectors/amqp/index.ts';
import { httpStepsConnector } from '../../connectors/http-steps/index.ts';
import { ftpConnector } from '../../connectors/ftp/index.ts';
import { sftpConnector } from '../../connectors/sftp/index.ts';
import { httpPollConnector } from '../../connectors/http-poll/index.ts';
import { emailConnector } from '../../connectors/email/index.ts';
import { imapConnector } from '../../connectors/imap/index.ts';

export const connectors: ConnectorDefinition[] = [
  folderConnector,
  httpConnector,
  webhookConnector,
  syncConnector,
  amqpConnector,
  httpStepsConnector,
  ftpConnector,
  sftpConnector,
  httpPollConnector,
  emailConnector,
  imapConnector,
];

export function connectorOf(type: string): ConnectorDefinition {
  const def = connectors.find((c) => c.type === type);
  if (!def) throw new Error(`unknown connector type "${type}"`);
  return def;
}
