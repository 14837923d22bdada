// Libraries that only some configs use, loaded on their first use rather than at start: a process whose flows
// never map with JSONata, run on a schedule or re-encode text holds none of them (together about 2.5 MB of
// heap, for the life of the process). Loaded synchronously, so their callers stay as they were.
import { createRequire } from 'node:module';
import type Jsonata from 'jsonata';
import type * as Iconv from 'iconv-lite';
import type * as CronParser from 'cron-parser';
import type NodeCron from 'node-cron';

const require = createRequire(import.meta.url);

/** A module loaded by the first call, the same one after. */
function onFirstUse<T>(load: () => T): () => T {
  let loaded: { module: T } | undefined;
  return () => (loaded ??= { module: load() }).module;
}

export const jsonataLib = onFirstUse(() => require('jsonata') as typeof Jsonata);
export const iconvLib = onFirstUse(() => require('iconv-lite') as typeof Iconv);
export const cronParserLib = onFirstUse(() => require('cron-parser') as typeof CronParser);
export const nodeCronLib = onFirstUse(() => {
  const m = require('node-cron') as { default?: typeof NodeCron } & typeof NodeCron;
  return m.default ?? m;
});
