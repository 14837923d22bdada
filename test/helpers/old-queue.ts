// A database as an older Ferry left it (schema 2 to 6), written with plain SQL the way that Ferry's queue wrote
// it: items in every state with their key prefixes, inline bodies, and fingerprints of pruned items. Migration
// tests open it with today's code.
import Database from 'better-sqlite3';
import { keyPrefix, migrations } from '../../main/engine/store/db.ts';
import { idempotencyKey, type ItemState, type NewRow } from '../../main/engine/store/queue.ts';

export interface OldQueue {
  /** Every key the old database knows, as rows a source would offer again. */
  rows: NewRow[];
  /** How many of them are fingerprints only (pruned items). */
  fingerprints: number;
  /** Item rows left in the table. */
  items: number;
}

const STATES: ItemState[] = ['queued', 'inflight', 'retrying', 'dead', 'discarded', 'delivered'];

export function oldRow(n: number, flow: string): NewRow {
  const body = Buffer.from(`body ${n}`);
  const sha256 = `sha-${n}`;
  return { flow, idemKey: idempotencyKey(flow, `k${n}`, sha256), sourceKey: `k${n}`, name: `file${n}.txt`, attributes: { n }, size: body.length, sha256, inline: body };
}

/** Writes `items` items of flows a and b (every state), and `pruned` fingerprints, with schema `version` (≥ 2). */
export function writeOldQueue(file: string, version: number, items: number, pruned: number): OldQueue {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  migrations.slice(0, version).forEach((m) => (typeof m === 'string' ? db.exec(m) : m(db)));
  db.pragma(`user_version = ${version}`);
  const insert = db.prepare(
    `INSERT INTO items (flow, state, idem_key, key_prefix, source_key, name, attrs, size, sha256, attempts, next_at, lease_until, settled_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1000, 2000)`,
  );
  const body = db.prepare('INSERT INTO bodies (item_id, body) VALUES (?, ?)');
  const fingerprint = db.prepare('INSERT INTO fingerprints (flow, idem_key, settled_at) VALUES (?, ?, ?)');
  const rows: NewRow[] = [];
  db.transaction(() => {
    for (let n = 0; n < items + pruned; n++) {
      const r = oldRow(n, n % 2 ? 'a' : 'b');
      rows.push(r);
      if (n >= items) {
        fingerprint.run(r.flow, r.idemKey, 3000 + n);
        continue;
      }
      const state = STATES[n % STATES.length];
      const info = insert.run(
        r.flow, state, r.idemKey, keyPrefix(r.idemKey), r.sourceKey, r.name, JSON.stringify(r.attributes), r.size, r.sha256,
        state === 'queued' ? 0 : 1, state === 'retrying' ? 9e12 : 0, state === 'inflight' ? 9e12 : null, ['dead', 'discarded', 'delivered'].includes(state) ? 3000 : null,
      );
      if (state !== 'discarded') body.run(Number(info.lastInsertRowid), r.inline);
    }
    if (version >= 5) db.exec('DELETE FROM item_counts; INSERT INTO item_counts (flow, state, n, bytes) SELECT flow, state, COUNT(*), SUM(size) FROM items GROUP BY flow, state');
  })();
  db.close();
  return { rows, fingerprints: pruned, items };
}
