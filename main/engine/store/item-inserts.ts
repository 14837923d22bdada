// New items and their inline bodies, written a block of rows per INSERT statement. Each statement call costs a
// trip into SQLite (bind, step, reset) on top of the row it writes, and each bound value costs its own
// conversion (a string is copied twice): a batch of 1,000 new items went in as 2,000 calls binding 18,000
// values, a third of the queue's CPU per item. In a block, the values its rows share (flow, state, times, lease)
// are bound once and the ids are counted up from the first; the rows written are exactly what single-row
// inserts wrote.
import type { Db } from './db.ts';
import type { ItemState, NewRow } from './queue.ts';

/** Rows per block statement (9 values per item row bound apart: 288 per statement, far below SQLite's 32,766). */
export const BLOCK_ROWS = 32;

const ITEM_COLUMNS = 'id, flow, state, idem_key, key_prefix, source_key, name, attrs, body_file, size, sha256, grp, next_at, created_at, updated_at, lease_until, attempts';
const ITEM_VALUES = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)';
/** Row k of a block: what the rows share by name, the rest in order. */
const blockRow = (k: number) => `(@id + ${k}, @flow, @state, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, @now, @now, @leaseUntil, @attempts)`;

/** An item not written yet. */
export interface UnwrittenItem {
  id: number;
  row: NewRow;
  prefix: number;
  state: ItemState;
  leaseUntil: number | null;
  attempts: number;
}

/** The statements; one ItemInserts per queue, one PendingItems per write transaction. */
export class ItemInserts {
  private readonly itemOne;
  private readonly itemBlock;
  private readonly bodyOne;
  private readonly bodyBlock;

  constructor(db: Db) {
    this.itemOne = db.prepare(`INSERT INTO items (${ITEM_COLUMNS}) VALUES ${ITEM_VALUES}`);
    this.itemBlock = db.prepare(`INSERT INTO items (${ITEM_COLUMNS}) VALUES ${Array.from({ length: BLOCK_ROWS }, (_, k) => blockRow(k)).join(', ')}`);
    this.bodyOne = db.prepare('INSERT INTO bodies (item_id, body) VALUES (?, ?)');
    this.bodyBlock = db.prepare(`INSERT INTO bodies (item_id, body) VALUES ${Array.from({ length: BLOCK_ROWS }, () => '(?, ?)').join(', ')}`);
  }

  /** Collects the items of one write transaction at `now`; flush() writes them. */
  begin(now: number): PendingItems {
    return new PendingItems(this, now);
  }

  /** One item row, at once (the bad-record path, and naming the bad row of a failed block). */
  insertOne(item: UnwrittenItem, now: number): void {
    const { id, row } = item;
    try {
      this.itemOne.run(
        id, row.flow, item.state, row.idemKey, item.prefix, row.sourceKey, row.name, JSON.stringify(row.attributes), row.bodyFile ?? null,
        row.size, row.sha256, row.group ?? null, now, now, item.leaseUntil, item.attempts,
      );
    } catch (err) {
      // the whole batch fails: nothing of it (rows, checkpoints) is committed, the source keeps its files
      throw new Error(`item ${JSON.stringify(row.name)} of flow ${row.flow} could not be stored: ${(err as Error).message}`);
    }
  }

  insertBody(id: number, body: Buffer): void {
    this.bodyOne.run(id, body);
  }

  /** Writes items: runs of BLOCK_ROWS that share flow, state and lease in one statement each, the rest one by one. */
  write(items: UnwrittenItem[], now: number): void {
    const values: unknown[] = [];
    let i = 0;
    while (i < items.length) {
      if (i + BLOCK_ROWS > items.length || !sharesBlock(items, i)) {
        this.insertOne(items[i++], now);
        continue;
      }
      const first = items[i];
      try {
        values.length = 0;
        for (let k = i; k < i + BLOCK_ROWS; k++) {
          const row = items[k].row;
          values.push(row.idemKey, items[k].prefix, row.sourceKey, row.name, JSON.stringify(row.attributes), row.bodyFile ?? null, row.size, row.sha256, row.group ?? null);
        }
        this.itemBlock.run(values, { id: first.id, flow: first.row.flow, state: first.state, now, leaseUntil: first.leaseUntil, attempts: first.attempts });
      } catch (err) {
        // a failed statement leaves nothing behind: the block again row by row names the bad row; a failure of
        // no row in particular (the disk) is thrown as it was
        for (let k = i; k < i + BLOCK_ROWS; k++) this.insertOne(items[k], now);
        throw err;
      }
      i += BLOCK_ROWS;
    }
    const bodies: unknown[] = [];
    for (const item of items) if (item.row.inline) bodies.push(item.id, item.row.inline);
    let b = 0;
    for (; b + 2 * BLOCK_ROWS <= bodies.length; b += 2 * BLOCK_ROWS) this.bodyBlock.run(bodies.slice(b, b + 2 * BLOCK_ROWS));
    for (; b < bodies.length; b += 2) this.bodyOne.run(bodies[b], bodies[b + 1]);
  }
}

/** Whether the BLOCK_ROWS items from `i` can go in one block: consecutive ids, one flow, state and lease. */
function sharesBlock(items: UnwrittenItem[], i: number): boolean {
  const first = items[i];
  for (let k = i + 1; k < i + BLOCK_ROWS; k++) {
    const item = items[k];
    if (item.id !== first.id + (k - i) || item.row.flow !== first.row.flow || item.state !== first.state || item.leaseUntil !== first.leaseUntil || item.attempts !== first.attempts) return false;
  }
  return true;
}

/** The items of one write transaction not written yet (ids from `from` on). */
export class PendingItems {
  private readonly inserts: ItemInserts;
  private readonly now: number;
  private items: UnwrittenItem[] = [];
  /** The lowest id not written yet (Infinity: none). */
  from = Infinity;

  constructor(inserts: ItemInserts, now: number) {
    this.inserts = inserts;
    this.now = now;
  }

  add(item: UnwrittenItem): void {
    if (this.items.length === 0) this.from = item.id;
    this.items.push(item);
    // written every few blocks: the values held in memory stay small whatever the batch
    if (this.items.length >= 8 * BLOCK_ROWS) this.flush();
  }

  /** Writes every pending row (before a statement must see them, and at the end of the transaction). */
  flush(): void {
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.from = Infinity;
    this.inserts.write(items, this.now);
  }
}
