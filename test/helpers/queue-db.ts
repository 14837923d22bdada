// A queue on a fresh SQLite file per test, closed after each test of the file that asks for one.
import path from 'node:path';
import { afterEach } from 'vitest';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { Queue } from '../../main/engine/store/queue.ts';
import { tempDir } from './tmp.ts';

const open: Db[] = [];
afterEach(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
});

export function freshQueue(): { db: Db; queue: Queue; file: string } {
  const file = path.join(tempDir(), 'ferry.db');
  const db = openDatabase(file);
  open.push(db);
  return { db, queue: new Queue(db), file };
}

/** Closes `db` after the test (a database a test opened itself). */
export function closeAfterTest(db: Db): Db {
  open.push(db);
  return db;
}
