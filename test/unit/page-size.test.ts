// New databases get 8 KB pages: a queue batch writes about the same bytes in half the WAL frames (every frame is
// two write calls, and a read and a write when copied back). A database made with 4 KB pages keeps them and keeps
// working; the WAL thresholds are sizes in bytes, whatever the page size.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { NEW_PAGE_SIZE, openDatabase, SCHEMA_VERSION, type Db } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey, type NewRow, type Settlement } from '../../main/engine/store/queue.ts';
import { Checkpointer } from '../../main/engine/store/checkpointer.ts';
import { tempDir } from '../helpers/tmp.ts';
import { closeAfterTest } from '../helpers/queue-db.ts';
import { writeOldQueue } from '../helpers/old-queue.ts';

function rows(from: number, n: number): NewRow[] {
  const body = crypto.randomBytes(512);
  const sha256 = crypto.hash('sha256', body, 'hex');
  return Array.from({ length: n }, (_, i) => ({ flow: 'q', idemKey: idempotencyKey('q', `item-${from + i}`, sha256), sourceKey: `item-${from + i}`, name: `item-${from + i}`, attributes: {}, size: body.length, sha256, inline: body }));
}

/** WAL frames written by enqueue + lease + delivery of 1,000 small items (after a first batch laid the tables out). */
function framesForOneBatch(db: Db, file: string): number {
  const queue = new Queue(db);
  queue.enqueue(rows(0, 1000));
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const wal0 = fs.statSync(`${file}-wal`).size;
  queue.enqueue(rows(1000, 1000));
  const leased = queue.lease('q', 2000, 60_000);
  queue.settle(leased.slice(1000).map((r): Settlement => ({ id: r.id, kind: 'delivered', afterPending: false, detail: 'HTTP 200' })));
  return (fs.statSync(`${file}-wal`).size - wal0) / (pageSize + 24);
}

it('a new database has 8 KB pages: a batch of 1,000 items writes about half the WAL frames 4 KB pages took', () => {
  const file = path.join(tempDir(), 'ferry.db');
  const db = closeAfterTest(openDatabase(file));
  expect(db.pragma('page_size', { simple: true })).toBe(NEW_PAGE_SIZE);
  expect(NEW_PAGE_SIZE).toBe(8192);
  // the WAL thresholds in bytes: SQLite's own checkpoint every ~40 MB
  expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(5120);
  const frames = framesForOneBatch(db, file);
  // ~216 here; with 4 KB pages the same work wrote ~425 frames (the 4 KB case below)
  expect(frames).toBeLessThan(300);
  expect(frames).toBeGreaterThan(100);
});

it('a database made with 4 KB pages keeps them, migrates and works; its WAL thresholds stay the same bytes', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'ferry.db');
  const old = writeOldQueue(file, 6, 50, 10); // an older Ferry's file, with SQLite's default pages
  const db = closeAfterTest(openDatabase(file));
  expect(db.pragma('page_size', { simple: true })).toBe(4096);
  expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
  expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(10240);
  const queue = new Queue(db);
  // the old keys are still known, new ones go in
  expect(queue.enqueue(old.rows).ids).toHaveLength(0);
  const frames = framesForOneBatch(db, file);
  expect(frames).toBeGreaterThan(350);
  // the checkpointer copies it back and the WAL restarts as usual
  const cp = new Checkpointer(db, { intervalMs: 60_000 });
  await cp.cycle(1);
  expect(cp.stats.framesCopied).toBeGreaterThan(350);
  await cp.close();
  expect(new Queue(db).count({ flow: 'q' })).toBe(2000);
  // a fresh empty file made by hand with 4 KB pages before Ferry opens it keeps them too
  const made = path.join(dir, 'made.db');
  const pre = new Database(made);
  pre.pragma('page_size = 4096');
  pre.pragma('journal_mode = WAL');
  pre.close();
  expect(closeAfterTest(openDatabase(made)).pragma('page_size', { simple: true })).toBe(4096);
});
