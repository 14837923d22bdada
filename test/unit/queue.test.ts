// The durable queue on a real SQLite file: transitions, leases, retention, dedupe, filters, events, pragmas;
// and the data dir guards around it: back pressure, the free-disk floor, tmpfs refusal and the run lock.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ITEMS_STATE_CHECK, keyPrefix, migrations, openDatabase, SCHEMA_VERSION, type Db } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey, type NewRow } from '../../main/engine/store/queue.ts';
import { DataDirError, isDataDirLocked, lockDataDir, prepareDataDir } from '../../main/engine/store/datadir.ts';
import { ContentStore, INLINE_MAX_BYTES } from '../../main/engine/store/content.ts';
import { tempDir, waitFor, listFiles } from '../helpers/tmp.ts';
import { closeAfterTest, freshQueue } from '../helpers/queue-db.ts';
import { runCli, startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { writeOldQueue } from '../helpers/old-queue.ts';


function row(n: number, flow = 'f', extra: Partial<NewRow> = {}): NewRow {
  const body = Buffer.from(`body ${n}`);
  const sha256 = `sha-${n}`;
  return { flow, idemKey: idempotencyKey(flow, `k${n}`, sha256), sourceKey: `k${n}`, name: `file${n}.txt`, attributes: { n }, size: body.length, sha256, inline: body, ...extra };
}

describe('queue on a real SQLite file', () => {
  it('runs WAL with synchronous=FULL and a busy timeout', () => {
    const { db, file } = freshQueue();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // 2 = FULL
    expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(1000);
    // WAL is a property of the file: another connection sees it too
    const other = new Database(file, { readonly: true });
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
    other.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(true);
  });

  it('queued → inflight → delivered, with an event and a settled time', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1)], [], 1000);
    expect(queue.get(ids[0])!.state).toBe('queued');
    const leased = queue.lease('f', 10, 60_000, 2000);
    expect(leased.map((r) => r.id)).toEqual(ids);
    expect(leased[0].state).toBe('inflight');
    expect(leased[0].attempts).toBe(1);
    expect(leased[0].lease_until).toBe(62_000);
    expect(queue.body(ids[0])!.toString()).toBe('body 1');
    expect(queue.lease('f', 10, 60_000, 2001)).toEqual([]); // leased items are not handed out twice
    queue.settle([{ id: ids[0], kind: 'delivered', afterPending: true }], 3000);
    const done = queue.get(ids[0])!;
    expect(done.state).toBe('delivered');
    expect(done.settled_at).toBe(3000);
    expect(done.after_pending).toBe(1);
    expect(queue.afterPending().map((r) => r.id)).toEqual(ids);
    queue.markAfterDone(ids);
    expect(queue.afterPending()).toEqual([]);
    expect(queue.events(0).map((e) => e.type)).toEqual(['delivered']);
  });

  it('inflight → retrying waits for next_at, then leases again; dead records reason, status and response', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1), row(2)], [], 0);
    queue.lease('f', 10, 60_000, 1000);
    queue.settle([
      { id: ids[0], kind: 'retry', nextAt: 5000, reason: 'HTTP 503', status: 503, response: 'busy' },
      { id: ids[1], kind: 'dead', reason: 'HTTP 400', status: 400, response: 'bad' },
    ], 1000);
    const r = queue.get(ids[0])!;
    expect([r.state, r.next_at, r.last_error, r.last_status, r.last_response]).toEqual(['retrying', 5000, 'HTTP 503', 503, 'busy']);
    const d = queue.get(ids[1])!;
    expect([d.state, d.last_error, d.last_status, d.last_response, d.settled_at]).toEqual(['dead', 'HTTP 400', 400, 'bad', 1000]);
    expect(queue.nextRetryAt('f')).toBe(5000);
    expect(queue.lease('f', 10, 60_000, 4999)).toEqual([]);
    const again = queue.lease('f', 10, 60_000, 5000);
    expect(again.map((x) => [x.id, x.attempts])).toEqual([[ids[0], 2]]);
    expect(queue.attemptsOf(ids[0]).map((a) => [a.outcome, a.status])).toEqual([['retry', 503]]);
    expect(queue.attemptsOf(ids[1]).map((a) => [a.outcome, a.error])).toEqual([['dead', 'HTTP 400']]);
    // a settlement for an item no longer in flight changes nothing
    queue.settle([{ id: ids[1], kind: 'delivered', afterPending: false }], 6000);
    expect(queue.get(ids[1])!.state).toBe('dead');
  });

  it('release gives the lease back without spending an attempt', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1)], [], 0);
    queue.lease('f', 1, 60_000, 10);
    queue.settle([{ id: ids[0], kind: 'release' }], 20);
    const r = queue.get(ids[0])!;
    expect([r.state, r.attempts, r.lease_until]).toEqual(['queued', 0, null]);
  });

  it('an expired lease returns to queued; a lease still running here or not yet expired stays', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1), row(2), row(3)], [], 0);
    queue.lease('f', 2, 1000, 0); // ids[0], ids[1] until 1000
    queue.lease('f', 1, 10_000, 0); // ids[2] until 10000
    expect(queue.requeueExpired(999)).toBe(0);
    expect(queue.requeueExpired(1001, new Set([ids[1]]))).toBe(1);
    expect(queue.get(ids[0])!.state).toBe('queued');
    expect(queue.get(ids[1])!.state).toBe('inflight');
    expect(queue.get(ids[2])!.state).toBe('inflight');
    // start-up after a crash: every lease of the previous process returns
    expect(queue.requeueAllInflight(2000)).toBe(2);
    expect(queue.count({ state: 'inflight' })).toBe(0);
    expect(queue.count({ state: 'queued' })).toBe(3);
    // a lease that never reported an outcome spends no attempt (a killed process's prefetched items)
    expect(ids.map((id) => queue.get(id)!.attempts)).toEqual([0, 0, 0]);
  });

  it('marks the after-delivery step done for a batch of items at once, and only for those', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1), row(2), row(3)], [], 1000);
    queue.lease('f', 10, 60_000, 2000);
    queue.settle(ids.map((id) => ({ id, kind: 'delivered' as const, afterPending: true })), 3000);
    queue.markAfterDone([ids[0], ids[2]]);
    expect(queue.afterPending().map((r) => r.id)).toEqual([ids[1]]);
    expect(ids.map((id) => queue.get(id)!.after_pending)).toEqual([0, 1, 0]);
  });

  it('reads the inline bodies of several items in one call; items without one are left out', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1), row(2), row(3, 'f', { inline: undefined, bodyFile: 'ab/cd' }), row(4, 'f', { inline: Buffer.alloc(0), size: 0 })]);
    const bodies = queue.bodies([ids[0], ids[1], ids[2], ids[3], 999_999]);
    expect([...bodies.keys()].sort((a, b) => a - b)).toEqual([ids[0], ids[1], ids[3]]);
    expect(bodies.get(ids[0])!.toString()).toBe('body 1');
    expect(bodies.get(ids[1])!.toString()).toBe('body 2');
    expect(bodies.get(ids[3])!.length).toBe(0);
    expect(queue.bodies([]).size).toBe(0);
  });

  it('dedupes by idempotency key per flow and writes checkpoints in the same transaction', () => {
    const { queue, db } = freshQueue();
    const first = queue.enqueue([row(1), row(2)], [{ flow: 'f', key: 'cursor', value: 2 }]);
    expect(first.ids).toHaveLength(2);
    const second = queue.enqueue([row(2), row(3), row(1, 'other-flow')], [{ flow: 'f', key: 'cursor', value: 3 }]);
    expect(second.ids).toHaveLength(2);
    expect(second.duplicates.map((d) => [d.row.sourceKey, d.existing?.id])).toEqual([['k2', first.ids[1]]]);
    expect(queue.count({ flow: 'f' })).toBe(3);
    expect(queue.count({ flow: 'other-flow' })).toBe(1);
    expect(db.prepare("SELECT value FROM source_state WHERE flow = 'f' AND key = 'cursor'").get()).toEqual({ value: '3' });
    // the key depends on flow, source identity and content
    expect(idempotencyKey('f', 'a', 'h')).toBe(idempotencyKey('f', 'a', 'h'));
    expect(new Set([idempotencyKey('f', 'a', 'h'), idempotencyKey('g', 'a', 'h'), idempotencyKey('f', 'b', 'h'), idempotencyKey('f', 'a', 'i')]).size).toBe(4);
  });

  it('a key twice in one batch is stored once; a dead intake row dedupes against queued items and itself', () => {
    const { queue } = freshQueue();
    const first = queue.enqueue([row(1), row(2), row(1)]);
    expect(first.ids).toHaveLength(2);
    expect(first.duplicates.map((d) => [d.row.sourceKey, d.existing])).toEqual([['k1', { id: first.ids[0], state: 'queued' }]]);
    const dead = queue.enqueueDead([{ ...row(2), reason: 'bad' }, { ...row(3), reason: 'bad' }, { ...row(3), reason: 'bad' }]);
    expect(dead.ids).toHaveLength(1);
    expect(dead.duplicates.map((d) => [d.row.sourceKey, d.existing?.state])).toEqual([['k2', 'queued'], ['k3', 'dead']]);
    expect(queue.count({ state: 'queued' })).toBe(2);
    expect(queue.count({ state: 'dead' })).toBe(1);
  });

  it('a failed batch commits nothing: neither rows nor checkpoints; an invalid row is never taken for a duplicate', () => {
    const { queue, db } = freshQueue();
    const broken = { ...row(2), size: null as unknown as number }; // NOT NULL violation inside the batch
    expect(() => queue.enqueue([row(1), broken], [{ flow: 'f', key: 'cursor', value: 9 }])).toThrow(/could not be stored/);
    expect(queue.count()).toBe(0);
    expect(db.prepare("SELECT COUNT(*) AS n FROM source_state").get()).toEqual({ n: 0 });
  });

  it('retention prunes delivered items but keeps their fingerprints: a pruned key is still a duplicate', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1), row(2), row(3)], [], 0);
    queue.lease('f', 3, 60_000, 0);
    queue.settle([
      { id: ids[0], kind: 'delivered', afterPending: false },
      { id: ids[1], kind: 'delivered', afterPending: true }, // after-delivery step still due: kept
      { id: ids[2], kind: 'dead', reason: 'x' }, // dead items wait for an admin: kept
    ], 1000);
    const pruned = queue.prune(5000, 0, 0);
    expect(pruned.items).toBe(1);
    expect(queue.get(ids[0])).toBeUndefined();
    expect(queue.get(ids[1])!.state).toBe('delivered');
    expect(queue.get(ids[2])!.state).toBe('dead');
    const again = queue.enqueue([row(1)]);
    expect(again.ids).toEqual([]);
    expect(again.duplicates).toHaveLength(1);
    expect(again.duplicates[0].existing).toBeUndefined();
    // fingerprints expire after their own horizon
    queue.prune(5000, 2000, 0);
    expect(queue.enqueue([row(1)]).ids).toHaveLength(1);
  });

  it('prune keeps items settled after the cut-off', () => {
    const { queue } = freshQueue();
    const { ids } = queue.enqueue([row(1)], [], 0);
    queue.lease('f', 1, 60_000, 0);
    queue.settle([{ id: ids[0], kind: 'delivered', afterPending: false }], 10_000);
    expect(queue.prune(9_999, 0, 0).items).toBe(0);
    expect(queue.get(ids[0])!.state).toBe('delivered');
  });

  it('retry and discard honour their filters and never touch delivered or in-flight items', () => {
    const { queue } = freshQueue();
    const a = queue.enqueue([row(1), row(2), row(3), row(4)], [], 0).ids;
    const b = queue.enqueue([row(1, 'g'), row(2, 'g')], [], 0).ids;
    queue.lease('f', 4, 60_000, 0);
    queue.lease('g', 2, 60_000, 0);
    queue.settle([
      { id: a[0], kind: 'dead', reason: 'x' },
      { id: a[1], kind: 'dead', reason: 'x' },
      { id: a[2], kind: 'delivered', afterPending: false },
      { id: b[0], kind: 'dead', reason: 'x' },
      { id: b[1], kind: 'retry', nextAt: 99_999, reason: 'y' },
    ], 100);
    // a[3] stays in flight
    expect(queue.retry({ id: a[0] })).toBe(1);
    const r = queue.get(a[0])!;
    expect([r.state, r.attempts, r.next_at, r.settled_at]).toEqual(['queued', 0, 0, null]);
    expect(queue.retry({ flow: 'g', state: 'dead' })).toBe(1);
    expect(queue.get(b[1])!.state).toBe('retrying');
    expect(queue.retry({ id: a[2] })).toBe(0); // delivered: nothing to retry
    expect(queue.retry({ id: a[3] })).toBe(0); // in flight
    expect(queue.list({ state: 'dead' }).map((x) => x.id)).toEqual([a[1]]);

    const dropped = queue.discard({ flow: 'f' });
    expect(dropped.map((d) => d.id).sort()).toEqual([a[0], a[1]].sort());
    expect(queue.get(a[2])!.state).toBe('delivered');
    expect(queue.get(a[3])!.state).toBe('inflight');
    expect(queue.get(a[0])!.state).toBe('discarded');
    expect(queue.body(a[0])).toBeUndefined();
    // a discarded item is a tombstone: the same key is not taken again
    expect(queue.enqueue([row(1)]).ids).toEqual([]);
    expect(queue.count({ flow: 'g', state: 'queued' })).toBe(1);
  });

  it('list pages newest first; counts and backlog sum per flow', () => {
    const { queue } = freshQueue();
    const ids = queue.enqueue([row(1), row(2), row(3), row(4), row(5)], [], 0).ids;
    expect(queue.list({ limit: 2 }).map((x) => x.id)).toEqual([ids[4], ids[3]]);
    expect(queue.list({ limit: 2, offset: 2 }).map((x) => x.id)).toEqual([ids[2], ids[1]]);
    expect((queue.list({ id: ids[0] })[0] as any).body).toBeUndefined(); // listings carry no body
    queue.lease('f', 1, 60_000, 0);
    queue.settle([{ id: ids[0], kind: 'delivered', afterPending: false }]);
    const size = row(2).size;
    expect(queue.backlog('f')).toEqual({ n: 4, bytes: 4 * size });
    expect(queue.counts().find((c) => c.state === 'delivered')).toEqual({ flow: 'f', state: 'delivered', n: 1, bytes: size });
  });

  it('the events stream resumes from a cursor', () => {
    const { queue } = freshQueue();
    const ids = queue.enqueue([row(1), row(2), row(3)], [], 0).ids;
    queue.lease('f', 3, 60_000, 0);
    queue.settle([{ id: ids[0], kind: 'delivered', afterPending: false }]);
    const first = queue.events(0);
    expect(first).toHaveLength(1);
    queue.settle([{ id: ids[1], kind: 'dead', reason: 'nope' }, { id: ids[2], kind: 'retry', nextAt: 0, reason: 'later' }]);
    queue.addEvent('problem', 'f', null, { message: 'x' });
    const rest = queue.events(first[0].id);
    expect(rest.map((e) => [e.type, e.item_id])).toEqual([['dead', ids[1]], ['retrying', ids[2]], ['problem', null]]);
    expect(queue.events(rest[2].id)).toEqual([]);
    expect(queue.events(0, 2)).toHaveLength(2);
  });

  it('committed items survive closing and reopening the file; migrations do not re-run', () => {
    const { db, queue, file } = freshQueue();
    const ids = queue.enqueue([row(1), row(2)]).ids;
    db.close();
    const again = closeAfterTest(openDatabase(file));
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(new Queue(again).list().map((r) => r.id).sort()).toEqual(ids.sort());
  });

  it('the content store keeps small bodies inline and large ones as fsynced files; garbage is collected', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const small = await store.put({ bytes: Buffer.from('tiny') });
    expect(small.inline?.toString()).toBe('tiny');
    expect(small.file).toBeUndefined();
    const bigBytes = Buffer.alloc(INLINE_MAX_BYTES + 10, 7);
    const srcFile = path.join(dir, 'big.bin');
    fs.writeFileSync(srcFile, bigBytes);
    const big = await store.put({ file: srcFile });
    expect(big.file).toBeDefined();
    expect(fs.readFileSync(store.pathOf(big.file!)).equals(bigBytes)).toBe(true);
    expect(big.size).toBe(bigBytes.length);
    const orphan = await store.put({ bytes: bigBytes });
    expect(await store.collectGarbage((f) => f === big.file, 0)).toBe(1);
    expect(fs.existsSync(store.pathOf(big.file!))).toBe(true);
    expect(fs.existsSync(store.pathOf(orphan.file!))).toBe(false);
    await expect(store.put({ file: path.join(dir, 'missing') })).rejects.toThrow(/ENOENT/);
  });
});

// /dev/shm is tmpfs on Linux machines like CI's; elsewhere these two cases are skipped, not faked
const shmIsTmpfs = process.platform === 'linux' && fs.existsSync('/dev/shm') && fs.statfsSync('/dev/shm').type === 0x01021994;

describe('data dir guards', () => {
  it.skipIf(!shmIsTmpfs)('refuses a data dir on tmpfs (/dev/shm) with a clear reason', () => {
    const dir = fs.mkdtempSync('/dev/shm/ferry-test-');
    try {
      expect(() => prepareDataDir(path.join(dir, 'data'))).toThrow(DataDirError);
      expect(() => prepareDataDir(path.join(dir, 'data'))).toThrow(/is on tmpfs; the queue needs a local disk/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!shmIsTmpfs)('`ferry run` refuses a tmpfs data dir: exit 2, one line naming the problem', async () => {
    const dir = tempDir();
    const shm = fs.mkdtempSync('/dev/shm/ferry-test-');
    try {
      fs.mkdirSync(path.join(dir, 'in'));
      const cfg = writeConfig(dir, { dataDir: path.join(shm, 'data'), integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] });
      const r = await runCli(['run', '--config', cfg]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toEqual([`ferry: dataDir ${path.join(shm, 'data')} is on tmpfs; the queue needs a local disk that survives a reboot`]);
    } finally {
      fs.rmSync(shm, { recursive: true, force: true });
    }
  });

  it('the lock: a second holder is refused, and the lock dies with its holder', () => {
    const dir = tempDir();
    expect(isDataDirLocked(dir)).toBe(false);
    const unlock = lockDataDir(dir);
    expect(isDataDirLocked(dir)).toBe(true);
    expect(() => lockDataDir(dir)).toThrow(/another Ferry is already running with data dir/);
    unlock();
    expect(isDataDirLocked(dir)).toBe(false);
    lockDataDir(dir)();
  });
});

describe('run lock, back pressure and disk floor through the CLI', () => {
  let ferry: RunningFerry | undefined;
  let sink: Sink | undefined;
  afterEach(async () => {
    if (ferry && ferry.child.exitCode === null) await ferry.kill9();
    ferry = undefined;
    await sink?.close();
    sink = undefined;
  });

  /** Waiting items keep waiting while the sink is down (over 3 minutes of attempts), however slowly a loaded machine looks. */
  const KEEP_RETRYING = { maxAttempts: 1000, initialDelayMs: 50, maxDelayMs: 200 };

  function config(dir: string, sinkUrl: string, extra: Record<string, unknown> = {}, flowExtra: Record<string, unknown> = {}) {
    fs.mkdirSync(path.join(dir, 'in'), { recursive: true });
    return writeConfig(dir, {
      dataDir: './data',
      minFreeDiskMb: 0,
      ...extra,
      integrations: [{
        name: 'i',
        flows: [{
          name: 'f',
          source: { type: 'folder', path: './in', settleMs: 100, afterDelivery: { action: 'move', to: './in/.sent' } },
          destination: { type: 'http', url: sinkUrl, timeoutMs: 2000 },
          retry: { maxAttempts: 50, initialDelayMs: 50, maxDelayMs: 200 },
          circuitBreaker: { failureThreshold: 1000, cooldownMs: 100 },
          ...flowExtra,
        }],
      }],
    });
  }

  it('a second `ferry run` on the same data dir is refused; a restart right after kill -9 is not', async () => {
    const dir = tempDir();
    sink = await startSink();
    const cfg = config(dir, sink.url);
    ferry = await startFerry(cfg);
    const second = await runCli(['run', '--config', cfg], { timeoutMs: 30_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`ferry: another Ferry is already running with data dir ${path.join(dir, 'data')}`);
    await ferry.kill9();
    const after = JSON.parse((await runCli(['status', '--config', cfg, '--json'])).stdout);
    expect(after.running).toBe(false); // the OS dropped the lock with the process
    ferry = await startFerry(cfg); // would throw if refused
    fs.writeFileSync(path.join(dir, 'in', 'a.txt'), 'after restart');
    await waitFor(() => sink!.accepted.size === 1, 'delivery after restart', 20_000);
    expect(await ferry.stop()).toBe(0);
  });

  it('back pressure: over maxQueuedItems intake stops, files stay, status says why; intake resumes when drained', async () => {
    const dir = tempDir();
    let down = true;
    sink = await startSink(() => (down ? { status: 503 } : undefined));
    const cfg = config(dir, sink.url, {}, { limits: { maxQueuedItems: 5 }, retry: KEEP_RETRYING });
    ferry = await startFerry(cfg);
    for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, 'in', `f${String(i).padStart(2, '0')}.txt`), `file ${i}`);
    let status: any;
    await waitFor(async () => {
      const r = await runCli(['status', '--config', cfg, '--json']);
      status = JSON.parse(r.stdout);
      return status.flows[0].source.intakeBlocked;
    }, 'status to show intake blocked', 30_000, 200);
    expect(status.flows[0].source.intakeBlocked).toMatch(/queue full: \d+ items waiting \(limits.maxQueuedItems 5\)/);
    const c = status.flows[0].counts;
    const waiting = c.queued + c.retrying + c.inflight;
    expect(waiting).toBeGreaterThanOrEqual(5);
    expect(waiting).toBeLessThan(20);
    // files not taken stay where they are
    expect(listFiles(path.join(dir, 'in')).filter((f) => !f.startsWith('.sent/')).length).toBe(20);
    const text = await runCli(['status', '--config', cfg]);
    expect(text.stdout).toMatch(/f\s+blocked/);
    expect(text.stdout).toContain('f: intake paused: queue full');
    down = false;
    await waitFor(() => listFiles(path.join(dir, 'in', '.sent')).length === 20, 'all 20 files delivered after the sink recovered', 60_000, 100);
    expect(new Set(sink.received.filter((r) => r.body.length > 0).map((r) => r.headers['x-ferry-filename'])).size).toBe(20);
    await waitFor(async () => {
      const r = await runCli(['status', '--config', cfg, '--json']);
      return JSON.parse(r.stdout).flows[0].source.intakeBlocked === null;
    }, 'status to clear intake blocked', 15_000, 200);
    expect(await ferry.stop()).toBe(0);
  });

  it('back pressure by bytes: intake stops once limits.maxQueuedBytes wait', async () => {
    const dir = tempDir();
    let down = true;
    sink = await startSink(() => (down ? { status: 503 } : undefined));
    const cfg = config(dir, sink.url, {}, { limits: { maxQueuedBytes: 1000 }, retry: KEEP_RETRYING });
    ferry = await startFerry(cfg);
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(dir, 'in', `b${i}.bin`), Buffer.alloc(400, i));
    let status: any;
    await waitFor(async () => {
      const r = await runCli(['status', '--config', cfg, '--json']);
      status = JSON.parse(r.stdout);
      return status.flows[0].source.intakeBlocked;
    }, 'status to show intake blocked by bytes', 30_000, 200);
    expect(status.flows[0].source.intakeBlocked).toMatch(/^queue full: \d+ bytes waiting \(limits.maxQueuedBytes 1000\)$/);
    expect(status.flows[0].waitingBytes).toBeGreaterThanOrEqual(1000);
    expect(status.flows[0].waitingBytes).toBeLessThan(1000 + 400 + 1);
    expect(listFiles(path.join(dir, 'in')).filter((f) => !f.startsWith('.sent/')).length).toBe(10);
    down = false;
    await waitFor(() => listFiles(path.join(dir, 'in', '.sent')).length === 10, 'all 10 files delivered after recovery', 60_000, 100);
    expect(await ferry.stop()).toBe(0);
  });

  it('free-disk floor: with minFreeDiskMb above the free space intake is blocked with a clear reason', async () => {
    const dir = tempDir();
    sink = await startSink();
    const cfg = config(dir, sink.url, { minFreeDiskMb: 1_000_000_000 });
    ferry = await startFerry(cfg);
    fs.writeFileSync(path.join(dir, 'in', 'a.txt'), 'waiting for disk');
    let status: any;
    await waitFor(async () => {
      const r = await runCli(['status', '--config', cfg, '--json']);
      status = JSON.parse(r.stdout);
      return status.flows[0].source.intakeBlocked;
    }, 'status to show the disk floor', 20_000, 200);
    expect(status.flows[0].source.intakeBlocked).toMatch(/^disk nearly full: \d+ MB free in .*data \(minFreeDiskMb 1000000000\)$/);
    // the engine decided: intake is blocked, so the file stays (no wait for something that cannot happen)
    expect(sink.received).toHaveLength(0);
    expect(fs.existsSync(path.join(dir, 'in', 'a.txt'))).toBe(true);
    expect(await ferry.stop()).toBe(0);
  });
});

describe('schema migrations', () => {
  it('migration 6 rewrites the state CHECK in place: items of every state, counts and fingerprints stay; unknown states are still refused; dedupe still holds', () => {
    const file = path.join(tempDir(), 'queue.db');
    // a database as Ferry with schema 5 left it
    const { rows, fingerprints } = writeOldQueue(file, 5, 600, 100);
    const old = new Database(file, { readonly: true });
    const before = old.prepare('SELECT * FROM items ORDER BY id').all();
    const countsBefore = old.prepare('SELECT flow, state, n, bytes FROM item_counts ORDER BY flow, state').all();
    const ids = (before as Array<{ id: number }>).map((r) => r.id);
    expect(new Set((before as Array<{ state: string }>).map((r) => r.state))).toEqual(new Set(['queued', 'inflight', 'retrying', 'dead', 'discarded', 'delivered']));
    old.close();

    const db = closeAfterTest(openDatabase(file));
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare('SELECT * FROM items ORDER BY id').all()).toEqual(before);
    const q = new Queue(db);
    expect(q.counts()).toEqual(countsBefore);
    // the constraint is in force, in its new form
    expect(() => db.prepare(`INSERT INTO items (flow, state, idem_key, source_key, name, size, sha256, created_at, updated_at) VALUES ('a', 'lost', 'k', 's', 'n', 1, 'x', 1, 1)`).run()).toThrow(
      "CHECK constraint failed: state = 'queued' OR state = 'inflight'",
    );
    expect(() => db.prepare("UPDATE items SET state = 'gone' WHERE id = ?").run(ids[0])).toThrow(/CHECK constraint failed/);
    // every key written before the upgrade is still known: stored items by their key, pruned ones by fingerprint
    const again = q.enqueue(rows);
    expect(again.ids).toEqual([]);
    expect(again.duplicates.filter((d) => d.existing === undefined)).toHaveLength(fingerprints);
    expect(again.duplicates.filter((d) => d.existing !== undefined)).toHaveLength(before.length);
    // and the queue goes on working
    const fresh = q.enqueue([row(1000, 'a')]).ids;
    expect(q.lease('a', 1000, 60_000).map((r) => r.id)).toContain(fresh[0]);
    // opened again: nothing to migrate, the definition is not touched twice
    db.close();
    const third = closeAfterTest(openDatabase(file));
    expect(third.prepare("SELECT sql FROM sqlite_schema WHERE name = 'items'").pluck().get()).toContain(ITEMS_STATE_CHECK);
  });

  it('migration 2 indexes existing items by key prefix: an item queued before the upgrade is still a duplicate after it', () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'queue.db');
      // a database as Ferry with schema 1 left it, holding one item
      const old = new Database(file);
      old.pragma('journal_mode = WAL');
      old.exec(migrations[0] as string);
      old.pragma('user_version = 1');
      const key = idempotencyKey('f', 'a.txt', 'abc');
      old.prepare(`INSERT INTO items (flow, state, idem_key, source_key, name, size, sha256, created_at, updated_at) VALUES ('f', 'queued', ?, 'a.txt', 'a.txt', 3, 'abc', 1, 1)`).run(key);
      old.close();

      const db = openDatabase(file);
      expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(db.prepare('SELECT key_prefix FROM items').pluck().get()).toBe(keyPrefix(key));
      const q = new Queue(db);
      const again = q.enqueue([{ flow: 'f', idemKey: key, sourceKey: 'a.txt', name: 'a.txt', attributes: {}, size: 3, sha256: 'abc', inline: Buffer.from('abc') }]);
      expect(again.ids).toEqual([]);
      expect(again.duplicates[0].existing?.state).toBe('queued');
      const fresh = q.enqueue([{ flow: 'f', idemKey: idempotencyKey('f', 'b.txt', 'abc'), sourceKey: 'b.txt', name: 'b.txt', attributes: {}, size: 3, sha256: 'abc', inline: Buffer.from('abc') }]);
      expect(fresh.ids).toHaveLength(1);
      db.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
