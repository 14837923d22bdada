// Bulk stats on a share (or with usePolling) in one small worker thread. There a stat may stall for seconds,
// so the engine's thread must not make it synchronously; but each asynchronous fs.stat is a thread-pool round
// trip costing ~20 µs of the engine thread's CPU (against 2–3 µs for the syscall), and a million-file tree
// polled by folder pays it for every folder each second and for every file each listing. The worker makes the
// same stats with statSync, up to STAT_CHUNK per message, and answers with typed arrays it hands over
// (transferred, not copied). A stalled share then blocks only the worker, not the thread pool other fs work
// needs. The worker starts when first needed and ends after IDLE_MS without requests; if it cannot start or
// dies, the requests it held (and the rest) go through callback fs.stat, as before.
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ConnectorLogger } from '../contract.ts';
import { BULK_STAT_JS } from './bulk-stat.ts';

/** Paths per message: large enough to share the message's cost, small enough to answer a poll promptly. */
export const STAT_CHUNK = 1000;
/** A worker with no request for this long ends (a process that does not poll keeps no thread). */
const IDLE_MS = 30_000;
/** A request unanswered this long is told in the log (it goes on waiting: a slow share answers late). */
const SLOW_MS = 10_000;
/** Stats in flight at once on the fallback path. */
const FALLBACK_BATCH = 64;
/** After this many unexpected ends the worker is not started again (stats stay on the thread pool). */
const MAX_DEATHS = 3;

/** What a stat found: `kind` 0 = gone or unreadable, 1 = file, 2 = folder, 3 = something else. */
export interface Stats {
  size: Float64Array;
  mtimeMs: Float64Array;
  ino: Float64Array;
  kind: Uint8Array;
}

const statsFor = (n: number): Stats => ({ size: new Float64Array(n), mtimeMs: new Float64Array(n), ino: new Float64Array(n), kind: new Uint8Array(n) });

export const KIND_FILE = 1;
export const KIND_DIR = 2;

// Plain JavaScript run with `eval: true`: no second entry point for the CLI bundle, tsx or vitest.
const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
${BULK_STAT_JS}
const bulkStat = makeBulkStat(fs, require('node:path'), process, true);
parentPort.on('message', ({ id, paths }) => {
  const n = paths.length;
  const size = new Float64Array(n), mtimeMs = new Float64Array(n), ino = new Float64Array(n), kind = new Uint8Array(n);
  bulkStat(paths, size, mtimeMs, ino, kind, 0);
  parentPort.postMessage({ id, size, mtimeMs, ino, kind }, [size.buffer, mtimeMs.buffer, ino.buffer, kind.buffer]);
});
`;

interface Pending {
  paths: string[];
  resolve(stats: Stats): void;
  sent: number;
  slow?: NodeJS.Timeout;
  log?: ConnectorLogger;
}

/** The same stats through callback fs.stat (the thread pool), FALLBACK_BATCH at once. */
export async function statOnPool(paths: string[]): Promise<Stats> {
  const n = paths.length;
  const out = statsFor(n);
  for (let i = 0; i < n; i += FALLBACK_BATCH) {
    const end = Math.min(n, i + FALLBACK_BATCH);
    await new Promise<void>((resolve) => {
      let left = end - i;
      for (let k = i; k < end; k++) {
        fs.stat(paths[k], (err, st) => {
          if (!err) {
            out.size[k] = st.size;
            out.mtimeMs[k] = st.mtimeMs;
            out.ino[k] = st.ino;
            out.kind[k] = st.isFile() ? KIND_FILE : st.isDirectory() ? KIND_DIR : 3;
          }
          if (--left === 0) resolve();
        });
      }
    });
  }
  return out;
}

export class StatWorker {
  private worker?: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private idleTimer?: NodeJS.Timeout;
  private deaths = 0;
  private warned = false;
  /** Where the worker's own troubles are told: the constructor's log, else the last caller's. */
  private log?: ConnectorLogger;
  /** Workers started so far (for tests and the log). */
  started = 0;

  constructor(private readonly opts: { idleMs?: number; slowMs?: number; log?: ConnectorLogger } = {}) {
    this.log = opts.log;
  }

  /** The running worker thread, if any (tests end it to play a crash). */
  get thread(): Worker | undefined {
    return this.worker;
  }

  /**
   * The stats of these paths, in order, STAT_CHUNK per message. Never rejects: a path that is gone or cannot be
   * looked at has kind 0. `log` hears of a request the share is slow to answer.
   */
  async stat(paths: string[], log?: ConnectorLogger): Promise<Stats> {
    if (paths.length <= STAT_CHUNK) return this.request(paths, log);
    const parts = await Promise.all(Array.from({ length: Math.ceil(paths.length / STAT_CHUNK) }, (_, i) => this.request(paths.slice(i * STAT_CHUNK, (i + 1) * STAT_CHUNK), log)));
    const n = paths.length;
    const out = statsFor(n);
    parts.forEach((p, i) => {
      out.size.set(p.size, i * STAT_CHUNK);
      out.mtimeMs.set(p.mtimeMs, i * STAT_CHUNK);
      out.ino.set(p.ino, i * STAT_CHUNK);
      out.kind.set(p.kind, i * STAT_CHUNK);
    });
    return out;
  }

  /** Ends the worker now (the next request starts another). */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const w = this.worker;
    this.worker = undefined;
    // this.worker is cleared first: its exit is then not taken for a crash
    if (w) await w.terminate();
    // requests it held finish on the thread pool
    this.redoOnPool();
  }

  private request(paths: string[], log?: ConnectorLogger): Promise<Stats> {
    if (log && !this.opts.log) this.log = log;
    if (paths.length === 0) return Promise.resolve(statsFor(0));
    const worker = this.ensureWorker();
    if (!worker) return statOnPool(paths);
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const id = this.nextId++;
    return new Promise<Stats>((resolve) => {
      const p: Pending = { paths, resolve, sent: Date.now(), log: log ?? this.log };
      const slowMs = this.opts.slowMs ?? SLOW_MS;
      p.slow = setTimeout(() => {
        p.slow = undefined;
        p.log?.warn({ path: paths[0], files: paths.length, waitedMs: Date.now() - p.sent }, `looking at ${paths.length} files from ${paths[0]} on takes over ${slowMs} ms: the share is slow or not answering (still waiting)`);
      }, slowMs);
      p.slow.unref();
      this.pending.set(id, p);
      if (this.pending.size === 1) worker.ref(); // a request under way keeps the process alive, as an fs.stat would
      worker.postMessage({ id, paths });
    });
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker) return this.worker;
    if (this.deaths >= MAX_DEATHS) return undefined;
    let worker: Worker;
    try {
      worker = new Worker(WORKER_CODE, { eval: true, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 } });
    } catch (err) {
      this.deaths = MAX_DEATHS;
      this.tell(`cannot start the stat worker (${(err as Error).message}): stats go through the thread pool`);
      return undefined;
    }
    this.started++;
    this.worker = worker;
    worker.unref();
    worker.on('message', (m: { id: number } & Stats) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.settle(p, { size: m.size, mtimeMs: m.mtimeMs, ino: m.ino, kind: m.kind });
      if (this.pending.size === 0 && this.worker === worker) {
        worker.unref();
        this.armIdle();
      }
    });
    const ended = (why: string) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      clearTimeout(this.idleTimer);
      this.deaths++;
      this.tell(`the stat worker ended (${why}): its requests go through the thread pool${this.deaths >= MAX_DEATHS ? ' from now on' : ''}`);
      this.redoOnPool();
    };
    worker.on('error', (err) => ended(err.message));
    worker.on('exit', (code) => ended(`exit code ${code}`));
    return worker;
  }

  private settle(p: Pending, stats: Stats): void {
    if (p.slow) clearTimeout(p.slow);
    else p.log?.info({ path: p.paths[0], files: p.paths.length, waitedMs: Date.now() - p.sent }, `the share answered after ${Date.now() - p.sent} ms`);
    p.resolve(stats);
  }

  /** Requests a worker held when it ended: made again on the thread pool (none is lost). */
  private redoOnPool(): void {
    const held = [...this.pending.values()];
    this.pending.clear();
    for (const p of held) void statOnPool(p.paths).then((stats) => this.settle(p, stats));
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.pending.size > 0 || !this.worker) return;
      const w = this.worker;
      this.worker = undefined;
      void w.terminate();
    }, this.opts.idleMs ?? IDLE_MS);
    this.idleTimer.unref();
  }

  /** Said once per StatWorker: the fallback works, and a log line per crash would repeat itself. */
  private tell(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.log?.warn({}, message);
  }
}

/** The process's one stat worker, shared by every folder source on a share or polled. */
export const statWorker = new StatWorker();
