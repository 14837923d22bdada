// WAL checkpoints with their fsyncs off the engine's thread, on a real SQLite file: frames copied back while
// the WAL is pinned, the WAL never restarted (its frames never overwritten) before the database file is
// fsynced, restart points under steady writes, and a failed fsync that keeps the WAL pinned for good.
import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { Checkpointer, type WalPosition } from '../../main/engine/store/checkpointer.ts';
import { Queue, idempotencyKey, type NewRow } from '../../main/engine/store/queue.ts';
import { closeAfterTest, freshQueue } from '../helpers/queue-db.ts';
import { runPrunePass } from '../../main/engine/store/retention.ts';

const running: Checkpointer[] = [];
afterEach(async () => {
  for (const c of running.splice(0)) await c.close();
});

function rows(from: number, n: number): NewRow[] {
  return Array.from({ length: n }, (_, i) => {
    const k = from + i;
    const body = Buffer.alloc(600, k % 251);
    return { flow: 'f', idemKey: idempotencyKey('f', `k${k}`, `sha-${k}`), sourceKey: `k${k}`, name: `${k}.txt`, attributes: {}, size: body.length, sha256: `sha-${k}`, inline: body };
  });
}

/** The WAL header's checkpoint sequence number and first salt: both change when a writer restarts the WAL. */
function walGeneration(file: string): string {
  const fd = fs.openSync(`${file}-wal`, 'r');
  try {
    const head = Buffer.alloc(32);
    fs.readSync(fd, head, 0, 32, 0);
    return `${head.readUInt32BE(12)}:${head.readUInt32BE(16)}`;
  } finally {
    fs.closeSync(fd);
  }
}

/** An fsync whose calls wait until the test lets them through (to look at the files in between). */
function heldFsync() {
  const waiting: Array<{ fd: number; done: (err: NodeJS.ErrnoException | null) => void }> = [];
  return {
    waiting,
    fsync: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void waiting.push({ fd, done }),
    /** Lets the waiting calls run the real fsync. */
    release() {
      for (const w of waiting.splice(0)) fs.fsync(w.fd, w.done);
    },
  };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
}

/** Stops the checkpointer, closes the engine's connection and opens the file again, as the next start does: every item is there and the file is sound. */
async function expectSoundAfterReopen(cp: Checkpointer, db: Db, file: string, items: number): Promise<void> {
  await cp.close();
  db.close();
  const again = closeAfterTest(openDatabase(file));
  expect(count(again)).toBe(items);
  expect(again.pragma('integrity_check', { simple: true })).toBe('ok');
}

function count(db: Db): number {
  return (db.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n;
}

describe('checkpointer', () => {
  it('turns off the automatic checkpoint, copies committed frames back and restarts the WAL under steady writes', async () => {
    const { db, queue, file } = freshQueue();
    const cp = new Checkpointer(db, { intervalMs: 60_000, minFrames: 1, restartFrames: 100 });
    running.push(cp);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    queue.enqueue(rows(0, 200));
    const first = walGeneration(file);
    const sizes: number[] = [];
    for (let b = 1; b <= 20; b++) {
      // each batch commits while a cycle's fsyncs are under way, as intake does
      const cycle = cp.cycle();
      queue.enqueue(rows(b * 200, 200));
      await cycle;
      sizes.push(fs.statSync(`${file}-wal`).size);
    }
    expect(cp.stats.framesCopied).toBeGreaterThan(0);
    expect(cp.stats.restartSteps).toBeGreaterThan(0);
    expect(walGeneration(file)).not.toBe(first); // restarted: the WAL does not grow for ever
    // 4,200 items of 600 bytes are ~4 MB of pages: the WAL file stays well under it
    expect(Math.max(...sizes)).toBeLessThan(2_500_000);
    await expectSoundAfterReopen(cp, db, file, 4200);
  });

  it('never restarts the WAL while copied pages wait for the database fsync, whoever writes meanwhile', async () => {
    const { db, queue, file } = freshQueue();
    const held = heldFsync();
    const cp = new Checkpointer(db, { intervalMs: 60_000, minFrames: 1, restartFrames: 1_000_000, fsync: held.fsync });
    running.push(cp);
    queue.enqueue(rows(0, 300));
    const generation = walGeneration(file);
    const cycle = cp.cycle();
    await until(() => held.waiting.length === 1); // the WAL's fsync
    held.release();
    await until(() => held.waiting.length === 1); // the database file's fsync, after the copy
    expect(cp.stats.framesCopied).toBeGreaterThan(0);
    // Every frame is copied and no fsync has reached the disk yet: a writer that finds the WAL copied and
    // unused restarts it here. The pin keeps it: this process's writer and another connection append instead.
    queue.enqueue(rows(300, 50));
    const other = closeAfterTest(new Database(file));
    new Queue(other).enqueue(rows(350, 50));
    expect(walGeneration(file)).toBe(generation);
    held.release();
    await cycle;
    // the copy is on disk: the next cycle copies what came meanwhile, and a writer may then restart the WAL
    const next = cp.cycle();
    await until(() => held.waiting.length === 1);
    held.release();
    await until(() => held.waiting.length === 1);
    held.release();
    await next;
    queue.enqueue(rows(400, 10));
    expect(walGeneration(file)).not.toBe(generation);
    expect(count(db)).toBe(410);
  });

  it('keeps the WAL pinned while the database file cannot be fsynced, tells once, and lets go once an fsync succeeds', async () => {
    const { db, queue, file } = freshQueue();
    const errors: Error[] = [];
    let dbFsyncFails = true;
    let calls = 0;
    const cp = new Checkpointer(db, {
      intervalMs: 60_000,
      minFrames: 1,
      restartFrames: 1_000_000,
      // the WAL's fsync (each cycle's first) works; the database file's fails while dbFsyncFails
      fsync: (fd, done) => (++calls % 2 === 1 || !dbFsyncFails ? fs.fsync(fd, done) : done(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))),
      onError: (err) => errors.push(err),
    });
    running.push(cp);
    queue.enqueue(rows(0, 200));
    const generation = walGeneration(file);
    await cp.cycle();
    for (let b = 1; b <= 5; b++) {
      queue.enqueue(rows(b * 200, 200));
      calls = 1; // every try now fsyncs the database file alone, and fails
      await cp.cycle();
    }
    expect(errors.map((e) => e.message)).toEqual(['EIO: i/o error, fsync']); // told once
    expect(walGeneration(file)).toBe(generation); // pinned: nothing overwritten
    dbFsyncFails = false;
    await cp.cycle(); // the fsync succeeds: the pin goes
    await cp.cycle(); // copies the rest
    queue.enqueue(rows(1200, 10));
    expect(walGeneration(file)).not.toBe(generation);
    await expectSoundAfterReopen(cp, db, file, 1210);
  });

  it('looks less and less often while nothing is committed, and at its pace again once something is', async () => {
    const { db, queue } = freshQueue();
    const cp = new Checkpointer(db, { intervalMs: 10, minFrames: 1 });
    running.push(cp);
    queue.enqueue(rows(0, 5));
    await until(() => cp.stats.cycles >= 1);
    // quiet: 10, 20, 40, 80, 160 ms… between looks; at a fixed 10 ms it would be 60 looks in 600 ms
    const looked = cp.stats.looks;
    await new Promise((r) => setTimeout(r, 600));
    expect(cp.stats.looks - looked).toBeLessThan(12);
    expect(cp.stats.looks - looked).toBeGreaterThan(0);
    // a commit is seen at the next look and copied back
    const cycles = cp.stats.cycles;
    queue.enqueue(rows(5, 5));
    await until(() => cp.stats.cycles > cycles);
  });

  it('leaves fewer than minFrames frames in the WAL, as the automatic checkpoint of SQLite does', async () => {
    const { db, queue, file } = freshQueue();
    const cp = new Checkpointer(db, { intervalMs: 60_000, minFrames: 100_000 });
    running.push(cp);
    queue.enqueue(rows(0, 200));
    const generation = walGeneration(file);
    await cp.cycle();
    queue.enqueue(rows(200, 10));
    expect(cp.stats.cycles).toBe(0);
    expect(walGeneration(file)).toBe(generation); // nothing copied: the WAL grows on
  });

  it('a close waits for the running cycle and leaves the engine connection the last one (the WAL is removed)', async () => {
    const { db, queue, file } = freshQueue();
    const held = heldFsync();
    const cp = new Checkpointer(db, { intervalMs: 60_000, minFrames: 1, fsync: held.fsync });
    queue.enqueue(rows(0, 100));
    void cp.cycle();
    await until(() => held.waiting.length === 1);
    let closed = false;
    const closing = cp.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    held.release();
    await closing;
    db.close();
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    const again = closeAfterTest(openDatabase(file));
    expect(count(again)).toBe(100);
  });

  it('prunes in steps sized by the WAL frames they write, each copied back before the next', async () => {
    // 10,000 delivered items spread over three flows (about a quarter of a WAL frame each to prune: rows,
    // bodies, events, the state index; their keys' entries stay, kept by their fingerprints)
    const seedItems = (queue: Queue) => {
      for (let b = 0; b < 10; b++) {
        const batch = rows(b * 1000, 1000).map((r, i) => ({ ...r, flow: `f${i % 3}` }));
        const { ids } = queue.enqueue(batch, [], 0);
        for (const flow of ['f0', 'f1', 'f2']) queue.lease(flow, 1000, 60_000, 0);
        queue.settle(ids.map((id) => ({ id, kind: 'delivered' as const, afterPending: false })), 1000);
      }
    };
    const horizons = { settledBefore: 5000, fingerprintsBefore: 0, eventsBefore: 0 };
    const noFiles = { remove: async () => undefined };
    /** Frames per step, from the pairs of looks a pass makes around each step. */
    const perStep = (looks: WalPosition[]) => looks.flatMap((l, i) => (i % 2 === 1 ? [l.generation === looks[i - 1].generation ? l.frames - looks[i - 1].frames : l.frames] : []));
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

    // a budget this small database's steps reach (the engine's is 1,000 frames, reached by a million items)
    const budget = 30;
    const run = async (sized: boolean) => {
      const { db, queue, file } = freshQueue();
      const cp = new Checkpointer(db, { intervalMs: 60_000, minFrames: budget });
      running.push(cp);
      seedItems(queue);
      const looks: WalPosition[] = [];
      const walPosition = () => {
        const p = cp.walPosition();
        looks.push(p);
        return p;
      };
      // steps sized by neither frames nor time (a time this machine's load would make them meet) are counted the
      // same way, through budgets they never reach
      const pass = queue.pruneSteps(horizons, sized ? { walPosition, stepFrames: budget } : { walPosition, stepFrames: 1e9, stepMs: 1e9 });
      const cycles = cp.stats.cycles;
      const pruned = await runPrunePass(pass, noFiles, () => false, () => cp.cycle());
      return { db, file, cp, pass, pruned, frames: perStep(looks), cycles: cp.stats.cycles - cycles };
    };

    const unsized = await run(false);
    const byFrames = await run(true);
    for (const r of [unsized, byFrames]) {
      expect(r.pruned).toBe(10_000);
      expect(count(r.db)).toBe(0);
    }
    // the first step (500 rows) overshoots, and the next ones are halved until they fit
    expect(byFrames.frames[0]).toBeGreaterThan(budget * 2);
    expect(median(byFrames.frames)).toBeLessThanOrEqual(budget * 2);
    expect(median(unsized.frames)).toBeGreaterThan(budget * 2);
    expect(byFrames.pass.mostFrames).toBe(Math.max(...byFrames.frames));
    // the pages went back into the database file step by step, not in one go at the end
    expect(byFrames.cycles).toBeGreaterThan(byFrames.pass.steps / 4);
    await expectSoundAfterReopen(byFrames.cp, byFrames.db, byFrames.file, 0);
  });
});
