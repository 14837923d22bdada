// The dedupe index in two levels (store/dedupe-keys.ts) on real SQLite files: a key is never queued twice while
// it sits in the small level, during a merge, after one, after its item was pruned to a fingerprint, across a
// restart, after kill -9 in the middle of a merge, and after the migration from schema 6.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { keyPrefix, openDatabase, SCHEMA_VERSION, type Db } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey, type NewRow, type Settlement } from '../../main/engine/store/queue.ts';
import { tempDir } from '../helpers/tmp.ts';
import { closeAfterTest, freshQueue } from '../helpers/queue-db.ts';
import { oldRow, writeOldQueue } from '../helpers/old-queue.ts';

const repo = path.resolve(import.meta.dirname, '../..');

function row(n: number, flow = 'f'): NewRow {
  const sha256 = `sha-${n}`;
  return { flow, idemKey: idempotencyKey(flow, `k${n}`, sha256), sourceKey: `k${n}`, name: `file${n}.txt`, attributes: { n }, size: 3, sha256, inline: Buffer.from('abc') };
}

const rowsFrom = (from: number, n: number, flow = 'f') => Array.from({ length: n }, (_, i) => row(from + i, flow));

/** Every entry of the large level, as "prefix:id". */
function largeLevel(db: Db): string[] {
  return (db.prepare('SELECT key_prefix, id FROM item_keys ORDER BY key_prefix, id').raw().all() as Array<[number, number]>).map(([p, id]) => `${p}:${id}`);
}

/** What the large level must hold once everything is merged: one entry per item and per fingerprint. */
function expectedLevel(db: Db): string[] {
  const items = db.prepare('SELECT key_prefix, id FROM items').raw().all() as Array<[number, number]>;
  const fps = (db.prepare('SELECT idem_key, id FROM fingerprints').raw().all() as Array<[string, number]>).map(([k, id]): [number, number] => [keyPrefix(k), id]);
  return [...items, ...fps].sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([p, id]) => `${p}:${id}`);
}

function mergeAll(queue: Queue): void {
  const pass = queue.keyMergePass();
  while (!pass.step().done);
}

function deliverAll(queue: Queue, flow: string, at: number): void {
  for (;;) {
    const leased = queue.lease(flow, 1000, 60_000, at);
    if (leased.length === 0) return;
    queue.settle(leased.map((r): Settlement => ({ id: r.id, kind: 'delivered', afterPending: false })), at);
  }
}

describe('dedupe index in two levels', () => {
  it('a key in the small level is a duplicate, in the same batch, in later batches and after a restart (the level is rebuilt from the rows)', () => {
    const { db, queue, file } = freshQueue();
    const first = queue.enqueue([...rowsFrom(0, 100), row(5)]);
    expect(first.ids).toHaveLength(100);
    expect(first.duplicates.map((d) => d.row.sourceKey)).toEqual(['k5']);
    expect(queue.keys.pending).toBe(100);
    expect(largeLevel(db)).toEqual([]); // nothing merged: no key page written
    expect(queue.enqueue(rowsFrom(50, 100)).ids).toHaveLength(50);
    db.close();
    const again = closeAfterTest(openDatabase(file));
    const q2 = new Queue(again);
    const r = q2.enqueue(rowsFrom(0, 200));
    expect(r.ids).toHaveLength(50);
    expect(r.duplicates.every((d) => d.existing?.state === 'queued')).toBe(true);
    expect(again.prepare('SELECT COUNT(*) FROM items').pluck().get()).toBe(200);
  });

  it('during a merge, keys merged, not yet merged and new ones are each found; after it the large level holds every key once', () => {
    const { db, queue } = freshQueue();
    for (let i = 0; i < 20_000; i += 1000) queue.enqueue(rowsFrom(i, 1000));
    const pass = queue.keyMergePass({ stepFrames: 1 });
    let next = 20_000;
    let steps = 0;
    for (;;) {
      const step = pass.step();
      steps++;
      // every old key, some of them already in the large level, is still a duplicate; fresh ones go in
      const sample = Array.from({ length: 200 }, (_, i) => row((steps * 997 + i * 101) % 20_000));
      const r = queue.enqueue([...sample, ...rowsFrom(next, 50)]);
      expect(r.ids).toHaveLength(50);
      expect(r.duplicates).toHaveLength(200);
      // a key added during the merge is a duplicate at once
      expect(queue.enqueue([row(next)]).ids).toEqual([]);
      next += 50;
      if (step.done) break;
    }
    expect(steps).toBeGreaterThan(3);
    // merged: the keys before the pass; the ones added during it stay in the small level
    expect(queue.keys.pending).toBe(next - 20_000);
    expect(largeLevel(db)).toHaveLength(20_000);
    mergeAll(queue);
    expect(queue.keys.pending).toBe(0);
    expect(largeLevel(db)).toEqual(expectedLevel(db));
    expect(queue.enqueue(rowsFrom(0, next)).ids).toEqual([]);
  });

  it('a pruned item is a duplicate by its fingerprint, whether its key was in the small level or the large one, and after its fingerprint expires it may come again', () => {
    const { db, queue } = freshQueue();
    queue.enqueue(rowsFrom(0, 300), [], 0);
    mergeAll(queue); // 0–299 in the large level
    queue.enqueue(rowsFrom(300, 300), [], 0); // 300–599 in the small level
    deliverAll(queue, 'f', 1000);
    const framesBefore = largeLevel(db);
    expect(queue.prune(5000, 0, 0).items).toBe(600);
    // pruning wrote no entry of the key index: a fingerprint keeps its item's id
    expect(largeLevel(db)).toEqual(framesBefore);
    expect(db.prepare('SELECT COUNT(*) FROM fingerprints').pluck().get()).toBe(600);
    const again = queue.enqueue(rowsFrom(0, 600));
    expect(again.ids).toEqual([]);
    expect(again.duplicates.every((d) => d.existing === undefined)).toBe(true);
    mergeAll(queue);
    expect(largeLevel(db)).toEqual(expectedLevel(db));
    expect(queue.enqueue(rowsFrom(0, 600)).ids).toEqual([]);
    // fingerprints expire with their key entries; the keys may then be queued again
    queue.prune(5000, 2000, 0);
    expect(db.prepare('SELECT COUNT(*) FROM fingerprints').pluck().get()).toBe(0);
    expect(largeLevel(db)).toEqual([]);
    expect(queue.enqueue(rowsFrom(0, 600)).ids).toHaveLength(600);
  });

  it('ids never go back, not even when every item and fingerprint is gone: a new item is never taken for an old one', () => {
    const { db, queue, file } = freshQueue();
    const first = queue.enqueue(rowsFrom(0, 10), [], 0).ids;
    deliverAll(queue, 'f', 1000);
    queue.prune(5000, 0, 0); // all pruned: the newest ids are fingerprints only
    const second = queue.enqueue(rowsFrom(10, 1), [], 6000).ids;
    expect(second[0]).toBeGreaterThan(Math.max(...first));
    mergeAll(queue);
    deliverAll(queue, 'f', 7000);
    queue.prune(8000, 9000, 0); // items and fingerprints all gone, the watermark stays
    expect(db.prepare('SELECT (SELECT COUNT(*) FROM items) + (SELECT COUNT(*) FROM fingerprints)').pluck().get()).toBe(0);
    db.close();
    const reopened = closeAfterTest(openDatabase(file));
    const q2 = new Queue(reopened);
    const third = q2.enqueue(rowsFrom(100, 1), [], 9000).ids;
    expect(third[0]).toBeGreaterThan(second[0]);
    // and that item is found after another restart, though its id is above a watermark nobody moved since
    reopened.close();
    const q3 = new Queue(closeAfterTest(openDatabase(file)));
    expect(q3.enqueue(rowsFrom(100, 1)).duplicates[0].existing?.state).toBe('queued');
  });

  it('a failed batch takes its keys back out of the small level', () => {
    const { queue } = freshQueue();
    const broken = { ...row(2), size: null as unknown as number };
    expect(() => queue.enqueue([row(1), broken])).toThrow(/could not be stored/);
    expect(queue.keys.pending).toBe(0);
    expect(queue.enqueue([row(1), row(2)]).ids).toHaveLength(2);
  });

  it('two connections queueing into one file each see the keys the other queued', () => {
    const { db, file } = freshQueue();
    const a = new Queue(db);
    const b = new Queue(closeAfterTest(openDatabase(file)));
    expect(a.enqueue(rowsFrom(0, 10)).ids).toHaveLength(10);
    expect(b.enqueue(rowsFrom(5, 10)).ids).toHaveLength(5);
    expect(a.enqueue(rowsFrom(0, 20)).ids).toHaveLength(5);
    mergeAll(b);
    expect(a.enqueue(rowsFrom(0, 20)).ids).toEqual([]);
    expect(b.enqueue(rowsFrom(0, 21)).ids).toHaveLength(1);
    expect(new Set(db.prepare('SELECT id FROM items').pluck().all()).size).toBe(21);
  });

  it('an item another connection queued during a merge, under an id inside the merged range, is merged too', () => {
    const { db, file } = freshQueue();
    const a = new Queue(db);
    const b = new Queue(closeAfterTest(openDatabase(file)));
    a.enqueue(rowsFrom(0, 100));
    // a failed batch: its ids are skipped here, so this connection's next id is ahead of the file's
    expect(() => a.enqueue([row(100), { ...row(101), size: null as unknown as number }])).toThrow(/could not be stored/);
    const pass = a.keyMergePass();
    const late = b.enqueue([row(500)]).ids[0];
    expect(late).toBeLessThanOrEqual(102); // inside the range the pass moves the watermark over
    while (!pass.step().done);
    expect(db.prepare('SELECT merged_upto FROM key_merge').pluck().get()).toBeGreaterThanOrEqual(late);
    expect(largeLevel(db)).toEqual(expectedLevel(db));
    const fresh = new Queue(closeAfterTest(openDatabase(file)));
    expect(fresh.enqueue([row(500)]).ids).toEqual([]);
    expect(a.enqueue([row(500)]).ids).toEqual([]);
  });

  it('kill -9 in the middle of a merge: the watermark stays, every key is still a duplicate, and the next merge completes it', () => {
    const { db, queue, file } = freshQueue();
    queue.enqueue(rowsFrom(0, 2000));
    mergeAll(queue);
    const watermark = db.prepare('SELECT merged_upto FROM key_merge').pluck().get();
    db.close();
    const child = spawnSync(process.execPath, [path.join(repo, 'bin/run-ts.js'), path.join(repo, 'test/helpers/merge-and-die.ts'), file, '1'], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toMatch(/^merged 4000 of 3000/); // 2,000 before plus one slice of the 3,000 new keys
    const after = closeAfterTest(openDatabase(file));
    expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(after.prepare('SELECT merged_upto FROM key_merge').pluck().get()).toBe(watermark);
    expect(largeLevel(after)).toHaveLength(4000);
    const q = new Queue(after);
    const late = Array.from({ length: 3000 }, (_, i) => {
      const sha256 = `late-${i}`;
      return { ...row(0), idemKey: idempotencyKey('f', `late${i}`, sha256), sourceKey: `late${i}`, sha256 };
    });
    const r = q.enqueue([...rowsFrom(0, 2000), ...late]);
    expect(r.ids).toEqual([]);
    expect(q.keys.pending).toBe(3000);
    mergeAll(q);
    expect(largeLevel(after)).toEqual(expectedLevel(after));
    expect(q.keys.pending).toBe(0);
    expect(q.enqueue(late).ids).toEqual([]);
  });

  it('migration 7 from schema 6: every item and fingerprint is in the large level, fingerprints get ids above every item, and every old key stays a duplicate', () => {
    const file = path.join(tempDir(), 'queue.db');
    const { rows, fingerprints, items } = writeOldQueue(file, 6, 900, 300);
    const db = closeAfterTest(openDatabase(file));
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE name = 'items_key_prefix'").get()).toBeUndefined();
    expect(db.prepare('SELECT min(id) FROM fingerprints').pluck().get()).toBeGreaterThan(db.prepare('SELECT max(id) FROM items').pluck().get() as number);
    expect(db.prepare('SELECT COUNT(*) FROM fingerprints').pluck().get()).toBe(fingerprints);
    expect(largeLevel(db)).toEqual(expectedLevel(db));
    expect(db.prepare('SELECT merged_upto FROM key_merge').pluck().get()).toBe(items + fingerprints);
    const q = new Queue(db);
    const again = q.enqueue(rows);
    expect(again.ids).toEqual([]);
    expect(again.duplicates.filter((d) => d.existing === undefined)).toHaveLength(fingerprints);
    expect(again.duplicates.filter((d) => d.existing !== undefined)).toHaveLength(items);
    const fresh = q.enqueue([oldRow(5000, 'a')]).ids;
    expect(fresh[0]).toBeGreaterThan(items + fingerprints);
    // the old fingerprints expire as new ones do, with their entries
    q.prune(0, 9e12, 0);
    expect(db.prepare('SELECT COUNT(*) FROM fingerprints').pluck().get()).toBe(0);
    expect(q.enqueue(rows.slice(items)).ids).toHaveLength(fingerprints);
  });

  it('a queue used without an engine merges on its own once the small level is very large', () => {
    const { db, queue } = freshQueue();
    for (let i = 0; i < 200_000; i += 5000) queue.enqueue(rowsFrom(i, 5000));
    expect(queue.keys.pending).toBe(0);
    expect(db.prepare('SELECT COUNT(*) FROM item_keys').pluck().get()).toBe(200_000);
    expect(db.prepare('SELECT merged_upto FROM key_merge').pluck().get()).toBe(200_000);
  });
});
