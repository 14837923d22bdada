// Copies the WAL back into the database file from a worker thread. SQLite normally does this inside the
// commit that crosses 1,000 WAL pages, on the committing thread: with synchronous=FULL that commit then also
// writes and fsyncs the database file, stalling the engine's event loop (about a sixth of the queue bench's
// time). Here a second connection checkpoints in parallel (WAL allows it alongside the writer), and the
// engine's own connection checkpoints only as a fallback, should this thread fall far behind or die.
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { Db } from './db.ts';

/** The writer's own checkpoint threshold while the worker runs (pages; ~80 MB): a safety net only. */
const FALLBACK_AUTOCHECKPOINT = 20_000;
const EVERY_MS = 100;

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = FULL');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const run = () => { try { checkpoint.get(); } catch (err) { parentPort.postMessage({ error: String(err && err.message || err) }); } };
const timer = setInterval(run, workerData.everyMs);
parentPort.on('message', (m) => { if (m === 'stop') { clearInterval(timer); run(); db.close(); parentPort.postMessage('stopped'); } });
`;

export interface Checkpointer {
  stop(): Promise<void>;
}

export function startCheckpointer(db: Db, onError: (message: string) => void = () => undefined): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  // a small isolate: the thread holds one connection and a timer
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { driver, file: db.name, everyMs: EVERY_MS },
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 1, stackSizeMb: 1 },
  });
  db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT}`);
  let stopped: Promise<void> | undefined;
  worker.on('message', (m: unknown) => {
    if (m && typeof m === 'object' && 'error' in m) onError(`WAL checkpoint failed: ${String((m as { error: string }).error)}`);
  });
  worker.on('error', (err) => {
    // the writer's fallback threshold takes over; go back to SQLite's default so the WAL stays small
    onError(`WAL checkpoint thread stopped: ${err.message}`);
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  });
  worker.unref();
  return {
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5000);
        worker.once('exit', () => (clearTimeout(timer), resolve()));
        worker.once('message', (m) => m === 'stopped' && void worker.terminate());
        worker.postMessage('stop');
      });
      return stopped;
    },
  };
}
