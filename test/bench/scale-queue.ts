// The `scale` suite's long-queue cases: a real `ferry run` over a queue of 1,000,000 items (delivered, dead and
// waiting mixed; 50,000 with BENCH_QUICK=1), seeded straight into the real schema with SQL:
// - GET /api/status and the dead-items page (/api/queue?state=dead, what the dashboard's queue page asks),
//   idle and while a burst is delivered; `ferry status` and `ferry queue list --state dead` as commands, against
//   the same commands on an empty queue; the same reads on the database alone (the CLI when no engine runs);
// - folder → HTTP intake and delivery rate next to the same burst into an empty queue, in alternating rounds;
// - retention pruning a million delivered items while webhooks are posted: the longest a webhook waited for
//   its reply (stored = answered) against the same posts with nothing to prune;
// - the database's size per million items.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ferryBin, runCli, writeConfig } from '../helpers/cli.ts';
import { freePort } from '../helpers/net.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { cpuMsOf, percentile, round, type BenchRow } from './harness.ts';
import { dropFiles, startProcess, waitAll } from './engine.bench.ts';
import { sequential, startFerry } from './admin.bench.ts';
import { keyPrefix, openDatabase } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey } from '../../main/engine/store/queue.ts';
import { loadConfig } from '../../main/engine/config/load.ts';
import { StoreApi } from '../../main/engine/api/store-api.ts';

const DAY = 86_400_000;
const BODY_BYTES = 512;

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-scale-queue-'));
}

export interface Mix {
  /** Items in the measured flow, by state; delivered ones settled `deliveredAgeDays` ago. */
  delivered: number;
  dead: number;
  /** Retrying, next attempt a day away: waiting, not sent during the measurement. */
  retrying: number;
  /** Queued in a paused flow. */
  parked: number;
  deliveredAgeDays: number;
}

/**
 * Seeds a data dir's database the way a long-running Ferry leaves it: each item with its inline body, each
 * settled one with its activity event, each dead one with its failed attempt. One transaction, no fsync
 * (a bench's seed, not a queue's write); the counts table is filled from the items at the end.
 */
export function seed(file: string, flow: string, parkedFlow: string, mix: Mix): number {
  const db = openDatabase(file);
  const t0 = Date.now();
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const body = Buffer.alloc(BODY_BYTES, 'x');
  const item = db.prepare(
    `INSERT INTO items (id, flow, state, idem_key, key_prefix, source_key, name, attrs, size, sha256, attempts, next_at, last_error, last_status, created_at, updated_at, settled_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const bodyRow = db.prepare('INSERT INTO bodies (item_id, body) VALUES (?, ?)');
  const event = db.prepare(`INSERT INTO events (at, type, flow, item_id, data) VALUES (?, ?, ?, ?, ?)`);
  const attempt = db.prepare('INSERT INTO attempts (item_id, at, outcome, error, status) VALUES (?, ?, ?, ?, ?)');
  const now = Date.now();
  const settledAt = now - mix.deliveredAgeDays * DAY;
  const total = mix.delivered + mix.dead + mix.retrying + mix.parked;
  // states interleaved as a real queue's are (a dead item every 20, and so on), in arrival order
  const plan: Array<['delivered' | 'dead' | 'retrying' | 'queued', number]> = [['delivered', mix.delivered], ['dead', mix.dead], ['retrying', mix.retrying], ['queued', mix.parked]];
  const left = plan.map(([, n]) => n);
  db.transaction(() => {
    for (let id = 1; id <= total; id++) {
      let k = 0;
      // weighted round-robin: the state with the most left (relative to its share) goes next
      let best = -1;
      for (let j = 0; j < plan.length; j++) if (left[j] > 0 && (best < 0 || left[j] / plan[j][1] > left[best] / plan[best][1])) best = j;
      k = best;
      left[k]--;
      const state = plan[k][0];
      const f = state === 'queued' ? parkedFlow : flow;
      const sha = String(id);
      const key = idempotencyKey(f, `invoices/2026/${id}.xml`, sha);
      const at = state === 'delivered' ? settledAt - (total - id) : now - (total - id);
      item.run(
        id, f, state, key, keyPrefix(key), `invoices/2026/${id}.xml`, `${id}.xml`, JSON.stringify({ relativePath: `invoices/2026/${id}.xml`, size: BODY_BYTES }),
        BODY_BYTES, sha, state === 'queued' ? 0 : state === 'retrying' ? 3 : 1, state === 'retrying' ? now + DAY : 0,
        state === 'dead' ? 'HTTP 422: the invoice number is already used' : state === 'retrying' ? 'HTTP 503' : null, state === 'dead' ? 422 : state === 'retrying' ? 503 : null,
        at, at, state === 'delivered' || state === 'dead' ? at : null,
      );
      bodyRow.run(id, body);
      if (state === 'delivered') event.run(at, 'delivered', f, id, JSON.stringify({ name: `${id}.xml`, detail: null, nextAt: null }));
      if (state === 'dead') {
        attempt.run(id, at, 'dead', 'HTTP 422: the invoice number is already used', 422);
        event.run(at, 'dead', f, id, JSON.stringify({ name: `${id}.xml`, detail: 'HTTP 422', nextAt: null }));
      }
    }
    db.exec('DELETE FROM item_counts; INSERT INTO item_counts (flow, state, n, bytes) SELECT flow, state, COUNT(*), SUM(size) FROM items GROUP BY flow, state');
    // every key in the dedupe index's large level, as after migration 7 or a merge (store/dedupe-keys.ts)
    db.exec('INSERT INTO item_keys (key_prefix, id) SELECT key_prefix, id FROM items ORDER BY key_prefix, id; UPDATE key_merge SET merged_upto = (SELECT max(id) FROM items)');
    db.prepare('INSERT OR IGNORE INTO flow_state (flow, first_seen_at, updated_at, paused) VALUES (?, ?, ?, 1)').run(parkedFlow, now, now);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  // Seeding skips fsyncs for speed; a database that held these items for a week is on disk. Without this, the
  // engine's first fsync paid for writing the whole seed back (about 1 s for 900 MB), and the measured
  // webhooks waited on it.
  const fd = fs.openSync(file, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return Date.now() - t0;
}

function flowsConfig(dir: string, sinkUrl: string, extra: Record<string, unknown> = {}) {
  fs.mkdirSync(path.join(dir, 'outbox'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'parked'), { recursive: true });
  return writeConfig(dir, {
    dataDir: './data',
    logLevel: 'warn',
    minFreeDiskMb: 64,
    admin: { port: 0 },
    ...extra,
    integrations: [{
      name: 'scale',
      flows: [
        {
          name: 'invoices',
          source: { type: 'folder', path: './outbox', settleMs: 100, afterDelivery: { action: 'delete' } },
          trigger: { on: 'change' },
          destination: { type: 'http', url: `${sinkUrl}/in`, concurrency: 4 },
          retry: { maxAttempts: 12, initialDelayMs: 1000, maxDelayMs: 600000 },
        },
        { name: 'parked', source: { type: 'folder', path: './parked' }, trigger: { schedule: '0 3 1 1 *', catchUp: false }, destination: { type: 'folder', path: './parked-out' } },
      ],
    }],
  });
}

function dbBytes(dataDir: string): number {
  return ['ferry.db', 'ferry.db-wal'].reduce((n, f) => n + (fs.existsSync(path.join(dataDir, f)) ? fs.statSync(path.join(dataDir, f)).size : 0), 0);
}

/** Wall time of a CLI command, `runs` times (each a new process, as an admin types it). */
async function cliTimes(args: string[], runs: number): Promise<{ min: number; p50: number }> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await runCli(args);
    if (r.code !== 0) throw new Error(`ferry ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { min: round(times[0]), p50: round(percentile(times, 50)) };
}

/** Times of an in-process read `n` times. */
async function inProcess(fn: () => Promise<unknown>, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50: round(percentile(times, 50), 2), p99: round(percentile(times, 99), 2) };
}

/** One burst of files through a running Ferry: files/s and CPU ms per file. */
async function burst(dir: string, sink: Sink, n: number, tag: string): Promise<{ filesPerSec: number; cpuMsPerFile: number; statusP99?: number }> {
  const config = path.join(dir, 'ferry.yaml');
  const proc = await startProcess([ferryBin, 'run', '--config', config, '--log-level', 'warn']);
  try {
    const cpu0 = cpuMsOf(proc.child.pid!);
    const start = Date.now();
    await dropFiles(path.join(dir, 'outbox'), n, tag);
    const arrived = await waitAll(sink, tag, n, 600_000);
    const cpu = cpuMsOf(proc.child.pid!) - cpu0;
    const last = Math.max(...arrived.values());
    return { filesPerSec: round(n / ((last - start) / 1000)), cpuMsPerFile: round(cpu / n, 3) };
  } finally {
    await proc.stop();
  }
}

/** Posts webhooks one after another for `ms` (or until `until()`); each reply's wait in ms. */
async function postWebhooks(port: number, until: () => boolean, maxMs: number): Promise<{ warmUp: number[]; waits: number[] }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const warmUp: number[] = [];
  const waits: number[] = [];
  const warm = Date.now() + 1000;
  const end = Date.now() + maxMs;
  let i = 0;
  while (!until() && Date.now() < end) {
    const body = JSON.stringify({ order: i++, at: Date.now() });
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/hooks/hooks', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode! < 300 ? resolve() : reject(new Error(`webhook: HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(body);
    });
    (Date.now() < warm ? warmUp : waits).push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 2));
  }
  agent.destroy();
  return { warmUp, waits };
}

/** Retention over `delivered` old items with webhooks posted meanwhile; `delivered` 0: the same posts for `quietMs`, nothing to prune. */
async function pruneCase(delivered: number, quietMs = 10_000): Promise<{ waits: number[]; warmUp: number[]; pruneMs: number; pruned: number; seedMs: number; dbMb: number; engine: Record<string, number | undefined> }> {
  const dir = tmp();
  try {
    const port = await freePort();
    const file = writeConfig(dir, {
      dataDir: './data',
      minFreeDiskMb: 64,
      retention: { deliveredDays: 7, fingerprintDays: 90 },
      integrations: [{
        name: 'scale',
        flows: [
          { name: 'hooks', source: { type: 'webhook', port, verify: { scheme: 'none' } }, destination: { type: 'http', url: `http://127.0.0.1:${await freePort()}/down` }, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } },
          { name: 'invoices', source: { type: 'folder', path: './outbox' }, trigger: { schedule: '0 3 1 1 *', catchUp: false }, destination: { type: 'folder', path: './out' } },
        ],
      }],
    });
    fs.mkdirSync(path.join(dir, 'outbox'));
    const seedMs = delivered > 0 ? seed(path.join(dir, 'data', 'ferry.db'), 'invoices', 'parked', { delivered, dead: 0, retrying: 0, parked: 0, deliveredAgeDays: 8 }) : 0;
    const dbMb = round(dbBytes(path.join(dir, 'data')) / 1048576);
    // the engine starts pruning as it starts; its log says when it is done
    const child = await startProcess([ferryBin, 'run', '--config', file, '--log-level', 'info']);
    let out = '';
    child.child.stdout!.on('data', (d) => (out += d));
    child.child.stderr!.on('data', (d) => (out += d));
    const t0 = Date.now();
    try {
      const pruneDone = () => /pruned delivered items/.test(out);
      const { waits, warmUp } = await postWebhooks(port, delivered > 0 ? pruneDone : () => false, delivered > 0 ? 600_000 : quietMs);
      if (delivered > 0 && !pruneDone()) throw new Error(`pruning did not end within 10 minutes:\n${out.slice(-2000)}`);
      const pruned = Number(/"items":(\d+)[^\n]*pruned delivered items/.exec(out)?.[1] ?? /pruned delivered items[^\n]*"items":(\d+)/.exec(out)?.[1] ?? 0);
      // the engine's own account of the pass: its longest step, and the WAL checkpoints' (fsyncs off the thread)
      const line = out.split('\n').find((l) => l.includes('pruned delivered items')) ?? '';
      const logged = JSON.parse(line.slice(line.indexOf('{', line.indexOf('pruned delivered items'))) || '{}') as { longestStepMs?: number; mostFrames?: number; checkpoints?: { longestStepMs: number; longestFsyncMs: number; longestRestartMs: number; restartSteps: number } };
      const engine = { longestStepMs: logged.longestStepMs, mostFrames: logged.mostFrames, checkpointStepMs: round(logged.checkpoints?.longestStepMs ?? NaN, 1), restartStepMs: round(logged.checkpoints?.longestRestartMs ?? NaN, 1), fsyncMs: round(logged.checkpoints?.longestFsyncMs ?? NaN), restarts: logged.checkpoints?.restartSteps };
      return { waits, warmUp, pruneMs: Date.now() - t0, pruned, seedMs, dbMb, engine };
    } finally {
      await child.stop();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function longQueueCases(N: number, quick: boolean): Promise<BenchRow[]> {
  const BURST = quick ? 300 : 3000;
  const rows: BenchRow[] = [];
  const sink = await startSink();
  const full = tmp();
  const empty = tmp();
  try {
    // ---- the mixed queue: 90% delivered (within retention), 5% dead, 2.5% retrying later, 2.5% queued in a paused flow
    const mix: Mix = { delivered: N * 0.9, dead: N * 0.05, retrying: N * 0.025, parked: N * 0.025, deliveredAgeDays: 1 };
    const fullConfig = flowsConfig(full, sink.url);
    flowsConfig(empty, sink.url);
    const seedMs = seed(path.join(full, 'data', 'ferry.db'), 'invoices', 'parked', mix);
    const bytes = dbBytes(path.join(full, 'data'));
    rows.push({ suite: 'scale', case: `queue ${N} items: database size`, figures: { 'MB': round(bytes / 1048576), 'MB per million items': round(bytes / 1048576 / (N / 1e6)), 'body bytes per item': BODY_BYTES, 'seed s': round(seedMs / 1000) } });

    // ---- status and the dead page through the running engine (idle), then as commands
    const ferry = await startFerry(fullConfig);
    const token = fs.readFileSync(path.join(full, 'data', 'admin-token'), 'utf8').trim();
    const reads = quick ? 100 : 300;
    let status, dead, cliStatus, cliDead;
    try {
      status = await sequential(ferry.port, token, '/api/status', reads);
      dead = await sequential(ferry.port, token, '/api/queue?state=dead&limit=50&offset=0', reads);
      cliStatus = await cliTimes(['status', '--config', fullConfig], quick ? 3 : 5);
      cliDead = await cliTimes(['queue', 'list', '--config', fullConfig, '--state', 'dead'], quick ? 3 : 5);
    } finally {
      await ferry.stop();
    }
    const emptyFerry = await startFerry(path.join(empty, 'ferry.yaml'));
    let cliStatusEmpty, cliDeadEmpty;
    try {
      cliStatusEmpty = await cliTimes(['status', '--config', path.join(empty, 'ferry.yaml')], quick ? 3 : 5);
      cliDeadEmpty = await cliTimes(['queue', 'list', '--config', path.join(empty, 'ferry.yaml'), '--state', 'dead'], quick ? 3 : 5);
    } finally {
      await emptyFerry.stop();
    }
    // the database alone (what the commands read when no engine runs)
    const store = new StoreApi(loadConfig(fullConfig));
    let storeStatus, storeDead;
    try {
      storeStatus = await inProcess(() => store.status(), reads);
      storeDead = await inProcess(() => store.listQueue({ state: 'dead', limit: 50 }), reads);
    } finally {
      store.close();
    }
    const target50 = 'p99 ≤ 50 ms';
    rows.push(
      { suite: 'scale', case: `queue ${N}: GET /api/status (sequential)`, figures: { 'p50 ms': status.p50, 'p99 ms': status.p99 }, target: target50, met: status.p99 <= 50 },
      { suite: 'scale', case: `queue ${N}: GET /api/queue?state=dead first page`, figures: { 'p50 ms': dead.p50, 'p99 ms': dead.p99 }, target: '≤ 100 ms', met: dead.p99 <= 100 },
      { suite: 'scale', case: `queue ${N}: database alone, status / dead page`, figures: { 'status p99 ms': storeStatus.p99, 'dead page p99 ms': storeDead.p99 }, target: 'status p99 ≤ 50 ms, page ≤ 100 ms', met: storeStatus.p99 <= 50 && storeDead.p99 <= 100 },
      {
        suite: 'scale',
        case: `queue ${N}: \`ferry status\` command (process included)`,
        figures: { 'min ms': cliStatus.min, 'p50 ms': cliStatus.p50, 'empty queue min ms': cliStatusEmpty.min, 'empty queue p50 ms': cliStatusEmpty.p50 },
      },
      {
        suite: 'scale',
        case: `queue ${N}: \`ferry queue list --state dead\` (process included)`,
        figures: { 'min ms': cliDead.min, 'p50 ms': cliDead.p50, 'empty queue min ms': cliDeadEmpty.min, 'empty queue p50 ms': cliDeadEmpty.p50 },
      },
    );

    // ---- intake and delivery: the same burst into the long queue and into an empty one, alternating
    const runs: Record<'full' | 'empty', Array<{ filesPerSec: number; cpuMsPerFile: number }>> = { full: [], empty: [] };
    // three rounds each, alternating: single rounds on this shared machine vary by 1.5× within minutes
    const ROUNDS = quick ? 2 : 3;
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      runs.empty.push(await burst(empty, sink, BURST, `empty-${round_}`));
      runs.full.push(await burst(full, sink, BURST, `full-${round_}`));
    }
    const best = (r: Array<{ filesPerSec: number }>) => Math.max(...r.map((x) => x.filesPerSec));
    const cpu = (r: Array<{ cpuMsPerFile: number }>) => Math.min(...r.map((x) => x.cpuMsPerFile));
    const ratio = round((best(runs.full) / best(runs.empty)) * 100);
    rows.push({
      suite: 'scale',
      case: `queue ${N}: folder→HTTP ${BURST} files, best of ${ROUNDS}`,
      figures: { 'files/s': best(runs.full), 'CPU ms/file': cpu(runs.full), 'empty queue files/s': best(runs.empty), 'empty CPU ms/file': cpu(runs.empty), '% of empty': ratio, rounds: runs.full.map((r) => r.filesPerSec).join('/') + ' vs ' + runs.empty.map((r) => r.filesPerSec).join('/') },
      target: '≥ 90% of the empty queue',
      met: ratio >= 90,
    });
  } finally {
    fs.rmSync(full, { recursive: true, force: true });
    fs.rmSync(empty, { recursive: true, force: true });
    await sink.close();
  }

  return rows;
}

/**
 * What the dedupe index costs at a million items, in process on a seeded queue: `n` new items queued in the engine's
 * batches (their keys go to the small level), then one merge pass of them into the large level, each with its CPU
 * and the WAL it wrote (no checkpoint in between: the WAL's growth is what the steps wrote).
 */
async function keyMergeCase(N: number, n: number): Promise<BenchRow> {
  const dir = tmp();
  try {
    const file = path.join(dir, 'ferry.db');
    seed(file, 'invoices', 'parked', { delivered: N * 0.9, dead: N * 0.05, retrying: N * 0.025, parked: N * 0.025, deliveredAgeDays: 1 });
    const db = openDatabase(file);
    db.pragma('wal_autocheckpoint = 0');
    const queue = new Queue(db);
    const walBytes = () => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
    const cpuUs = (from: NodeJS.CpuUsage) => {
      const c = process.cpuUsage(from);
      return c.user + c.system;
    };
    const body = Buffer.alloc(BODY_BYTES, 'y');
    const wal0 = walBytes();
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i += 50) {
      queue.enqueue(Array.from({ length: 50 }, (_, k) => {
        const sourceKey = `new/${i + k}.xml`;
        return { flow: 'invoices', idemKey: idempotencyKey('invoices', sourceKey, String(i + k)), sourceKey, name: `${i + k}.xml`, attributes: {}, size: BODY_BYTES, sha256: String(i + k), inline: body };
      }));
    }
    const enqueueUs = cpuUs(cpu0);
    const wal1 = walBytes();
    const cpu1 = process.cpuUsage();
    const t0 = performance.now();
    const pass = queue.keyMergePass();
    while (!pass.step().done);
    const mergeMs = performance.now() - t0;
    const mergeUs = cpuUs(cpu1);
    const wal2 = walBytes();
    const merged = db.prepare('SELECT COUNT(*) FROM item_keys').pluck().get() as number;
    db.close();
    if (merged !== N + n) throw new Error(`the large level holds ${merged} keys, expected ${N + n}`);
    return {
      suite: 'scale',
      case: `queue ${N}: ${n} new items in batches of 50, then their keys merged`,
      figures: {
        'enqueue CPU µs/item': round(enqueueUs / n, 1), 'enqueue WAL KB/item': round((wal1 - wal0) / 1024 / n, 2),
        'merge CPU µs/key': round(mergeUs / n, 1), 'merge WAL KB/key': round((wal2 - wal1) / 1024 / n, 2),
        'merge s': round(mergeMs / 1000, 2), 'merge steps': pass.steps, 'longest merge step ms': round(pass.longestStepMs, 1),
      },
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function queueScaleCases({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  // BENCH_SCALE_QUEUE_ITEMS: another size (a quicker look while working on one case)
  const N = Number(process.env.BENCH_SCALE_QUEUE_ITEMS) || (quick ? 50_000 : 1_000_000);
  const rows: BenchRow[] = [];
  // BENCH_SCALE_QUEUE=prune: only the retention case; =long: only the long queue's reads and rates
  const only = process.env.BENCH_SCALE_QUEUE;
  // BENCH_SCALE_QUEUE=merge: only the dedupe index's cost at N items
  if (only === 'merge' || only === undefined) rows.push(await keyMergeCase(N, 50_000));
  if (only === 'merge') return rows;
  if (only !== 'prune') rows.push(...(await longQueueCases(N, quick)));
  if (only === 'long') return rows;

  // ---- retention: a million delivered items past deliveredDays, pruned while webhooks come in
  let quiet, busy;
  try {
    // the same posts with nothing to prune, for as long as the prune took: the longest wait grows with the
    // number of posts, so a shorter baseline would make the machine's own stalls look like the prune's
    busy = await pruneCase(N);
    quiet = await pruneCase(0, busy.pruneMs);
  } catch (err) {
    rows.push({ suite: 'scale', case: 'prune: error', figures: { error: String((err as Error).stack ?? err) } });
    return rows;
  }
  const sorted = (w: number[]) => [...w].sort((a, b) => a - b);
  const b = sorted(busy.waits);
  const q = sorted(quiet.waits);
  rows.push({
    suite: 'scale',
    case: `prune ${N} delivered items while webhooks arrive`,
    figures: {
      'prune s': round(busy.pruneMs / 1000), pruned: busy.pruned, webhooks: b.length, 'max wait ms': round(b.at(-1)!), 'p99 ms': round(percentile(b, 99)),
      'first second max ms': round(Math.max(...busy.warmUp)),
      'nothing to prune: max ms': round(q.at(-1)!), 'nothing to prune: p99 ms': round(percentile(q, 99)), 'database MB before': busy.dbMb,
      'longest prune step ms': busy.engine.longestStepMs ?? NaN, 'most WAL frames in a prune step': busy.engine.mostFrames ?? NaN,
      'longest checkpoint step ms': busy.engine.checkpointStepMs ?? NaN, 'longest restart step ms': busy.engine.restartStepMs ?? NaN,
      'longest checkpoint fsync ms (off the thread)': busy.engine.fsyncMs ?? NaN, 'WAL restart steps': busy.engine.restarts ?? NaN,
    },
    target: 'no stall over 100 ms',
    met: b.at(-1)! <= 100 && busy.pruned === N,
  });
  return rows;
}
