// Config keys FTP and SFTP share: the connection (host, login, pool size, timeouts), the remote-folder source
// and the upload destination. Each protocol adds its own port and credentials (ftp/schema.ts, sftp/schema.ts).
import { z } from 'zod';

const glob = z.string().min(1);
const remoteFolder = z
  .string()
  .min(1)
  .refine((s) => s.startsWith('/'), { error: (iss) => `expected an absolute remote path starting with "/", got ${JSON.stringify(iss.input)}` });

export const remoteAfterDeliverySchema = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('move'), to: remoteFolder.meta({ description: 'Remote folder the delivered file is renamed into (sub-folders kept; collisions get a suffix).' }) }),
    z.strictObject({ action: z.literal('delete') }),
    z.strictObject({ action: z.literal('keep') }),
  ], { error: (iss) => `expected { action: move, to: </remote/folder> } | { action: delete } | { action: keep }, got ${JSON.stringify((iss.input as any)?.action ?? iss.input)}` })
  .meta({ description: 'What happens to the remote file once its destination confirmed delivery.' });

/** Connection keys every remote connector has (host, port and credentials are added per protocol). */
export const connectionShape = {
  host: z.string().min(1).meta({ description: 'Server name or address.' }),
  username: z.string().min(1).meta({ description: 'Login name.' }),
  maxConnections: z.int().min(1).max(16).default(2).meta({ description: 'Connections kept to the server at once (each carries one transfer).' }),
  connectTimeoutMs: z.int().min(100).default(15_000).meta({ description: 'Time allowed to connect and log in.' }),
  timeoutMs: z.int().min(100).default(30_000).meta({ description: 'Time allowed without progress on a command or transfer; the connection is dropped and opened again.' }),
};

export const remoteSourceShape = {
  path: remoteFolder.meta({ description: 'Remote folder to take files from (absolute, e.g. /outgoing/orders).' }),
  include: z.array(glob).default(['**/*']).meta({ description: 'Globs (relative to path) of files to take.' }),
  exclude: z.array(glob).default([]).meta({ description: 'Globs of files to leave alone.' }),
  recursive: z.boolean().default(false).meta({ description: 'Look into sub-folders.' }),
  settleMs: z.int().min(0).default(5000).meta({
    description: 'A file is complete when two listings at least this far apart show the same size and time (0: take at first sight, for writers that use temp names).',
  }),
  readyMarker: z.string().includes('{name}', { error: 'expected a pattern containing {name}, e.g. "{name}.done"' }).optional().meta({
    description: 'Take a file only once a marker file exists, e.g. "{name}.done"; the marker goes with the file.',
  }),
  tempNames: z.array(glob).default(['*.part', '*.tmp', '~*', '*.partial']).meta({ description: 'Names of files still being written: never taken.' }),
  afterDelivery: remoteAfterDeliverySchema.default({ action: 'keep' }),
};

export const remoteDestinationShape = {
  path: remoteFolder.meta({ description: 'Remote folder to upload into (created when missing).' }),
  keepSubfolders: z.boolean().default(true).meta({ description: "Recreate the item's relative path under the folder." }),
  onCollision: z.enum(['suffix', 'overwrite', 'fail']).default('suffix').meta({ description: 'An existing file of the same name: "name (1).ext", replace it, or the item goes dead.' }),
};

export interface RemoteCommonConfig {
  host: string;
  username: string;
  maxConnections: number;
  connectTimeoutMs: number;
  timeoutMs: number;
}
export interface RemoteSourceConfig extends RemoteCommonConfig {
  path: string;
  include: string[];
  exclude: string[];
  recursive: boolean;
  settleMs: number;
  readyMarker?: string;
  tempNames: string[];
  afterDelivery: { action: 'move'; to: string } | { action: 'delete' } | { action: 'keep' };
}
export interface RemoteDestinationConfig extends RemoteCommonConfig {
  path: string;
  keepSubfolders: boolean;
  onCollision: 'suffix' | 'overwrite' | 'fail';
}
