// The WAL checkpoint thread: pages committed by the engine's connection reach the database file without that
// connection checkpointing itself (its own threshold is raised to a fallback far above these writes).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../main/engine/store/db.ts';
import { startCheckpointer } from '../../main/engine/store/checkpointer.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

describe('WAL checkpoint thread', () => {
  it('copies committed pages into the database file in the background, and stops cleanly', async () => {
    const file = path.join(tempDir(), 'ferry.db');
    const db = openDatabase(file);
    const errors: string[] = [];
    const checkpointer = startCheckpointer(db, (m) => errors.push(m));
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(20_000);
    const before = fs.statSync(file).size;
    db.exec('CREATE TABLE blobs (b BLOB)');
    const insert = db.prepare('INSERT INTO blobs VALUES (?)');
    for (let i = 0; i < 50; i++) db.transaction(() => { for (let k = 0; k < 20; k++) insert.run(Buffer.alloc(4000, i)); })();
    // ~1,000 pages, far below the writer's own threshold: only the thread can have copied them
    await waitFor(() => fs.statSync(file).size > before + 3_000_000, 'the checkpoint thread to copy pages into the database file', 10_000);
    await checkpointer.stop();
    expect(errors).toEqual([]);
    expect(db.prepare('SELECT COUNT(*) FROM blobs').pluck().get()).toBe(1000);
    db.close();
  });
});
