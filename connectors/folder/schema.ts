import { z } from 'zod';

const glob = z.string().min(1);

export const afterDeliverySchema = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('move'), to: z.string().min(1).meta({ description: 'Folder the delivered file moves into (sub-folders kept; collisions get a suffix).' }) }),
    z.strictObject({ action: z.literal('delete') }),
    z.strictObject({ action: z.literal('keep') }),
  ], { error: (iss) => `expected { action: move, to: <folder> } | { action: delete } | { action: keep }, got ${JSON.stringify((iss.input as any)?.action ?? iss.input)}` })
  .meta({ description: 'What happens to a source file once its destination confirmed delivery.' });

export const folderSourceSchema = z.strictObject({
  path: z.string().min(1).meta({ description: 'Folder to watch (relative to the config file).' }),
  include: z.array(glob).default(['**/*']).meta({ description: 'Globs (relative to path) of files to take.' }),
  exclude: z.array(glob).default([]).meta({ description: 'Globs of files to leave alone.' }),
  recursive: z.boolean().default(true).meta({ description: 'Look into sub-folders.' }),
  depth: z.int().min(0).optional().meta({ description: 'How many sub-folder levels to descend (0 = only path itself).' }),
  settleMs: z.int().min(0).default(1000).meta({ description: 'A file is complete when its size and mtime stay unchanged this long.' }),
  readyMarker: z.string().includes('{name}', { error: 'expected a pattern containing {name}, e.g. "{name}.done"' }).optional().meta({
    description: 'Take a file only once a marker file exists, e.g. "{name}.done"; the marker goes with the file.',
  }),
  afterDelivery: afterDeliverySchema.default({ action: 'keep' }),
  existingFiles: z.enum(['process', 'skip']).default('process').meta({
    description: 'Files already in the folder when the flow first starts: "process" takes them, "skip" leaves them alone (only new or changed files are taken).',
  }),
  usePolling: z.boolean().default(false).meta({ description: 'Poll instead of native events (network shares, mounted volumes).' }),
  pollIntervalMs: z.int().min(50).default(1000).meta({ description: 'With usePolling: how often to look for changes.' }),
  pollFilesUpTo: z.int().min(0).default(2000).meta({
    description:
      'With usePolling: a tree of at most this many files has each file polled (a file rewritten in place is seen within pollIntervalMs). ' +
      'A larger one is polled by folder, which costs little however many files it holds: new, renamed and removed files are seen within ' +
      'pollIntervalMs, a file rewritten in place under its name by the next full listing (every 12 × reconcileMs).',
  }),
  reconcileMs: z.int().min(1000).default(300_000).meta({ description: 'Periodic full scan that catches events a watcher missed.' }),
});

export const folderDestinationSchema = z.strictObject({
  path: z.string().min(1).meta({ description: 'Folder to write into (relative to the config file).' }),
  keepSubfolders: z.boolean().default(true).meta({ description: "Recreate the item's relative path under the folder." }),
  onCollision: z.enum(['suffix', 'overwrite', 'fail']).default('suffix').meta({ description: 'An existing file of the same name: "name (1).ext", replace it, or the item goes dead.' }),
});

export type FolderSourceConfig = z.output<typeof folderSourceSchema>;
export type FolderDestinationConfig = z.output<typeof folderDestinationSchema>;
