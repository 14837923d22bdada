// The durable queue. Item states: queued → inflight (leased until lease_until) → delivered | retrying
// (next attempt at next_at) | dead (reason); discarded is an admin's drop. Every write path takes a batch,
// so callers group many items into one transaction (one fsync).
import crypto from 'node:crypto';
import { keyPrefix, type Db } from './db.ts';
import { DedupeKeys, type KeyMergeOptions, type KeyMergePass, type UnwrittenItems } from './dedupe-keys.ts';
import { ItemInserts } from './item-inserts.ts';
import { CountChanges, ItemCounts } from './item-counts.ts';
import { PrunePass, type PruneHorizons, type PrunePassOptions } from './retention.ts';
import type { ItemAttributes } from '../../../connectors/contract.ts';

export type ItemState = 'queued' | 'inflight' | 'retrying' | 'delivered' | 'dead' | 'discarded';
export const ITEM_STATES: ItemState[] = ['queued', 'inflight', 'retrying', 'delivered', 'dead', 'discarded'];

export interface NewRow {
  flow: string;
  idemKey: string;
  sourceKey: string;
  name: string;
  attributes: ItemAttributes;
  size: number;
  sha256: string;
  inline?: Buffer;
  bodyFile?: string;
  group?: string;
  /** Insert the item already leased until this time (a synchronous call sends it at once). */
  leaseUntil?: number;
}

/** How the lease orders a flow's items: none (ready items, retries first), fifo (one at a time, in order), group (FIFO per grp). */
export type LeaseOrdering = 'none' | 'fifo' | 'group';

/** A destination's reply kept for a synchronous caller. */
export interface StoredReply {
  status: number;
  contentType?: string;
  body: Buffer;
}

export interface ItemRow {
  id: number;
  flow: string;
  state: ItemState;
  idem_key: string;
  source_key: string;
  name: string;
  attrs: string;
  body_file: string | null;
  size: number;
  sha256: string;
  grp: string | null;
  attempts: number;
  next_at: number;
  lease_until: number | null;
  last_error: string | null;
  last_status: number | null;
  last_response: string | null;
  created_at: number;
  updated_at: number;
  settled_at: number | null;
  after_pending: number;
}

/** What a lease returns: the columns a delivery needs (fewer columns read back per leased item). */
export type LeasedItem = Pick<ItemRow, 'id' | 'flow' | 'state' | 'idem_key' | 'source_key' | 'name' | 'attrs' | 'body_file' | 'size' | 'sha256' | 'grp' | 'attempts' | 'next_at' | 'lease_until'>;
// A lease reads its items' rows, then updates them by id: an UPDATE ... RETURNING passes every row through a
// temporary table first (about 1.5 µs more per leased item). flow, state, lease_until and attempts are then the
// lease's own values, set here rather than read back (fewer strings made per item). The state read is the one
// before the lease (for the counts).
const LEASED_COLUMNS = 'id, idem_key, source_key, name, attrs, body_file, size, sha256, grp, attempts, next_at, state';
type LeasedRaw = [number, string, string, string, string, string | null, number, string, string | null, number, number, ItemState];

/**
 * A leased row read as an array (LEASED_COLUMNS' order) made an object here: better-sqlite3 builds a row
 * object property by property, which cost more than the UPDATE itself (a lease of 1,000 items: ~3 ms of 8).
 */
function leasedItem(r: LeasedRaw, flow: string, leaseUntil: number): LeasedItem {
  return {
    id: r[0], flow, state: 'inflight', idem_key: r[1], source_key: r[2], name: r[3], attrs: r[4], body_file: r[5], size: r[6], sha256: r[7], grp: r[8],
    attempts: r[9] + 1, next_at: r[10], lease_until: leaseUntil,
  };
}

/** The leased item a row inserted already leased (NewRow.leaseUntil) became, as lease() would return it. */
export function leasedItemOf(row: NewRow, id: number): LeasedItem {
  return {
    id,
    flow: row.flow,
    state: 'inflight',
    idem_key: row.idemKey,
    source_key: row.sourceKey,
    name: row.name,
    attrs: JSON.stringify(row.attributes),
    body_file: row.bodyFile ?? null,
    size: row.size,
    sha256: row.sha256,
    grp: row.group ?? null,
    attempts: 1,
    next_at: 0,
    lease_until: row.leaseUntil ?? null,
  };
}

/** The flow and size of an item a statement moved to another state (for the counts). */
interface Moved {
  flow: string;
  size: number;
}

/** An item row (bodies live apart: Queue.body()). */
export type ItemSummary = ItemRow;

/** The flow and name of a settled item, when the caller has them (its activity event then needs no lookup). */
export interface SettledItemName {
  flow: string;
  name: string;
}

/** Outcome of one delivery attempt, applied by settle(). */
export type Settlement =
  | { id: number; kind: 'delivered'; afterPending: boolean; detail?: string; reply?: StoredReply; item?: SettledItemName }
  | { id: number; kind: 'retry'; nextAt: number; reason: string; status?: number; response?: string; item?: SettledItemName }
  | { id: number; kind: 'dead'; reason: string; status?: number; response?: string; item?: SettledItemName }
  /** the lease is given back without counting an attempt (shutdown, circuit opened) */
  | { id: number; kind: 'release' };

export interface ItemFilter {
  flow?: string;
  state?: ItemState;
  id?: number;
  limit?: number;
  offset?: number;
}

export interface Duplicate {
  row: NewRow;
  /** The existing item with the same key, or undefined when only its fingerprint is left (pruned). */
  existing?: { id: number; state: ItemState };
}

/** Idempotency key: stable across retries and restarts (flow + source identity + content hash). */
export function idempotencyKey(flow: string, sourceKey: string, sha256: string): string {
  // crypto.hash: one call, no Hash object per key (about a microsecond less per item than createHash)
  return crypto.hash('sha256', `${flow}\0${sourceKey}\0${sha256}`, 'hex').slice(0, 40);
}

const SUMMARY_COLUMNS =
  'id, flow, state, idem_key, source_key, name, attrs, body_file, size, sha256, grp, attempts, next_at, lease_until, last_error, last_status, last_response, created_at, updated_at, settled_at, after_pending';

export class Queue {
  private readonly db: Db;
  private readonly stmts;
  /** Items per flow and state, kept by every write below in its own transaction. */
  readonly itemCounts: ItemCounts;
  /** The idempotency keys of items and fingerprints, in two levels (store/dedupe-keys.ts). */
  readonly keys: DedupeKeys;
  /** New items' rows, written a block per statement (store/item-inserts.ts). */
  private readonly inserts: ItemInserts;
  /** Filter for error texts and replies before they are stored (the engine removes secret values with it). */
  redact: (text: string) => string = (t) => t;

  constructor(db: Db) {
    this.db = db;
    this.itemCounts = new ItemCounts(db);
    this.keys = new DedupeKeys(db);
    // A plain INSERT after the key lookup: an INSERT ... SELECT ... WHERE NOT EXISTS on items made SQLite copy each
    // row through a temporary b-tree first (the SELECT reads the table it writes), two temporary b-trees per item.
    // The id is given (DedupeKeys.takeId): ids never go back, not even after the newest items were pruned.
    this.inserts = new ItemInserts(db);
    this.stmts = {
      // FIFO: an item is not handed out while an earlier item of the flow (fifo) or of its group is unfinished.
      // The items are picked first (their state before the lease is counted), then leased by id.
      pickFifo: db.prepare<[string, number, number], LeasedRaw>(
        `SELECT ${LEASED_COLUMNS.replace(/(\w+)/g, 'i.$1')} FROM items i WHERE i.flow = ? AND i.state IN ('queued','retrying') AND i.next_at <= ?
           AND NOT EXISTS (SELECT 1 FROM items e WHERE e.flow = i.flow AND e.state IN ('queued','inflight','retrying') AND e.id < i.id)
           ORDER BY i.id LIMIT ?`,
      ).raw(),
      pickGroup: db.prepare<[string, number, number], LeasedRaw>(
        `SELECT ${LEASED_COLUMNS.replace(/(\w+)/g, 'i.$1')} FROM items i WHERE i.flow = ? AND i.state IN ('queued','retrying') AND i.next_at <= ?
           AND NOT EXISTS (SELECT 1 FROM items e WHERE e.flow = i.flow AND e.grp IS i.grp AND e.state IN ('queued','inflight','retrying') AND e.id < i.id)
           ORDER BY i.id LIMIT ?`,
      ).raw(),
      leaseIds: db.prepare<[number, number, string]>(
        `UPDATE items SET state = 'inflight', lease_until = ?, attempts = attempts + 1, updated_at = ? WHERE id IN (SELECT value FROM json_each(?))`,
      ),
      getItem: db.prepare<[number], ItemRow>('SELECT * FROM items WHERE id = ?'),
      insertReply: db.prepare('INSERT OR REPLACE INTO replies (item_id, status, content_type, body) VALUES (@id, @status, @type, @body)'),
      reply: db.prepare<[number], { status: number; content_type: string | null; body: Buffer }>('SELECT status, content_type, body FROM replies WHERE item_id = ?'),
      body: db.prepare<[number], { body: Buffer }>('SELECT body FROM bodies WHERE item_id = ?'),
      bodiesOf: db.prepare<[string], [number, Buffer]>('SELECT item_id, body FROM bodies WHERE item_id IN (SELECT value FROM json_each(?))').raw(),
      // Queued items go in arrival order straight off (flow, state, id); due retries (few) by their time.
      dueRetries: db.prepare<[string, number, number], LeasedRaw>(
        `SELECT ${LEASED_COLUMNS} FROM items WHERE flow = ? AND state = 'retrying' AND next_at <= ? ORDER BY next_at, id LIMIT ?`,
      ).raw(),
      firstQueued: db.prepare<[string, number], LeasedRaw>(`SELECT ${LEASED_COLUMNS} FROM items WHERE flow = ? AND state = 'queued' ORDER BY id LIMIT ?`).raw(),
      delivered: db.prepare<[{ id: number; now: number; after: number }], Moved>(
        `UPDATE items SET state = 'delivered', lease_until = NULL, settled_at = @now, updated_at = @now, last_error = NULL,
         after_pending = @after WHERE id = @id AND state = 'inflight' RETURNING flow, size`,
      ),
      // Plain deliveries: what moves is counted per flow first (one row per flow), its events written, then the
      // rows updated, all three on the items still in flight; no RETURNING, which passed every row through a
      // temporary table (about 1 µs more per item).
      inflightOf: db.prepare<[string], [string, number, number]>(
        `SELECT flow, count(*), total(size) FROM items WHERE id IN (SELECT value FROM json_each(?)) AND state = 'inflight' GROUP BY flow`,
      ).raw(),
      deliveredEvents: db.prepare(
        `INSERT INTO events (at, type, flow, item_id, data)
         SELECT ?, 'delivered', flow, id, json_object('name', name, 'detail', ?, 'nextAt', NULL) FROM items WHERE id IN (SELECT value FROM json_each(?)) AND state = 'inflight' ORDER BY id`,
      ),
      deliveredMany: db.prepare(
        `UPDATE items SET state = 'delivered', lease_until = NULL, settled_at = ?, updated_at = ?, last_error = NULL, after_pending = ?
         WHERE id IN (SELECT value FROM json_each(?)) AND state = 'inflight'`,
      ),
      retry: db.prepare<[{ id: number; now: number; nextAt: number; reason: string; status: number | null; response: string | null }], Moved>(
        `UPDATE items SET state = 'retrying', lease_until = NULL, next_at = @nextAt, last_error = @reason, last_status = @status,
         last_response = @response, updated_at = @now WHERE id = @id AND state = 'inflight' RETURNING flow, size`,
      ),
      dead: db.prepare<[{ id: number; now: number; reason: string; status: number | null; response: string | null }], Moved>(
        `UPDATE items SET state = 'dead', lease_until = NULL, last_error = @reason, last_status = @status, last_response = @response,
         settled_at = @now, updated_at = @now WHERE id = @id AND state = 'inflight' RETURNING flow, size`,
      ),
      release: db.prepare<[{ id: number; now: number }], Moved>(
        `UPDATE items SET state = 'queued', lease_until = NULL, attempts = MAX(attempts - 1, 0), updated_at = @now WHERE id = @id AND state = 'inflight' RETURNING flow, size`,
      ),
      attempt: db.prepare('INSERT INTO attempts (item_id, at, outcome, error, status) VALUES (?, ?, ?, ?, ?)'),
      event: db.prepare('INSERT INTO events (at, type, flow, item_id, data) VALUES (?, ?, ?, ?, ?)'),
      // one statement: the event takes flow and name from the item row
      itemEvent: db.prepare(
        `INSERT INTO events (at, type, flow, item_id, data) SELECT @now, @type, flow, id, json_object('name', name, 'detail', @detail, 'nextAt', @nextAt) FROM items WHERE id = @id`,
      ),
      setState: db.prepare('INSERT INTO source_state (flow, key, value) VALUES (?, ?, ?) ON CONFLICT (flow, key) DO UPDATE SET value = excluded.value'),
      afterDone: db.prepare('UPDATE items SET after_pending = 0 WHERE id IN (SELECT value FROM json_each(?))'),
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      anyQueued: db.prepare<[string], { x: number }>(`SELECT 1 AS x FROM items WHERE flow = ? AND state = 'queued' LIMIT 1`),
      firstRetry: db.prepare<[string], { t: number }>(`SELECT next_at AS t FROM items WHERE flow = ? AND state = 'retrying' ORDER BY next_at LIMIT 1`),
      syncNormal: db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
    };
  }

  /**
   * Inserts new items (skipping keys already queued, delivered or fingerprinted) and writes source state
   * (checkpoints) in the same transaction. Returns the inserted ids and the duplicates.
   */
  enqueue(rows: NewRow[], state: Array<{ flow: string; key: string; value: unknown }> = [], now = Date.now()): { ids: number[]; duplicates: Duplicate[] } {
    return this.writingKeys(() => {
      const ids: number[] = [];
      const duplicates: Duplicate[] = [];
      const counted = new CountChanges();
      // the batch's keys are looked up in the large level in one statement, and its rows written in blocks
      const prefixes = rows.map((row) => keyPrefix(row.idemKey));
      const large = this.keys.largeIdsOf(prefixes);
      const unwritten = this.inserts.begin(now);
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        const prefix = prefixes[i];
        const duplicate = this.duplicateOf(row, prefix, large, unwritten);
        if (duplicate) {
          duplicates.push(duplicate);
          continue;
        }
        const state = row.leaseUntil !== undefined ? 'inflight' : 'queued';
        const id = this.keys.takeId();
        unwritten.add({ id, row, prefix, state, leaseUntil: row.leaseUntil ?? null, attempts: state === 'inflight' ? 1 : 0 });
        this.keys.inserted(prefix, id);
        counted.add(row.flow, state, 1, row.size);
        ids.push(id);
      }
      unwritten.flush();
      this.itemCounts.apply(counted);
      for (const s of state) this.stmts.setState.run(s.flow, s.key, JSON.stringify(s.value));
      return { ids, duplicates };
    });
  }

  /**
   * A transaction that inserts items: the key index's small level is brought up to date first, and what the
   * transaction added to it is taken back if it fails.
   */
  private writingKeys<T>(write: () => T): T {
    let result: T;
    try {
      result = this.db.transaction(() => {
        this.keys.beginWrite();
        return write();
      }).immediate();
    } catch (err) {
      this.keys.abortWrite();
      throw err;
    }
    this.keys.afterWrite();
    return result;
  }

  /** The item or fingerprint already holding the row's key, as a duplicate (undefined: the key is new). */
  private duplicateOf(row: NewRow, prefix: number, large?: ReadonlyMap<number, number[]>, unwritten?: UnwrittenItems): Duplicate | undefined {
    const found = this.keys.find(row.flow, row.idemKey, prefix, large, unwritten);
    if (!found) return undefined;
    return found.state === undefined ? { row } : { row, existing: { id: found.id, state: found.state } };
  }

  /** A pass merging the key index's small level into its large one (the engine runs one when mergeDue()). */
  keyMergePass(opts?: KeyMergeOptions): KeyMergePass {
    return this.keys.mergePass(opts);
  }

  /**
   * Inserts items straight into the dead state (bad records found at intake), skipping keys already known,
   * with their reason and a 'dead' event each, in one transaction.
   */
  enqueueDead(rows: Array<NewRow & { reason: string }>, now = Date.now()): { ids: number[]; duplicates: Duplicate[] } {
    return this.writingKeys(() => {
      const ids: number[] = [];
      const duplicates: Duplicate[] = [];
      const counted = new CountChanges();
      const deadDetails = this.db.prepare('UPDATE items SET last_error = ?, settled_at = ? WHERE id = ?');
      for (const row of rows) {
        const prefix = keyPrefix(row.idemKey);
        const duplicate = this.duplicateOf(row, prefix);
        if (duplicate) {
          duplicates.push(duplicate);
          continue;
        }
        const id = this.keys.takeId();
        this.inserts.insertOne({ id, row, prefix, state: 'dead', leaseUntil: null, attempts: 0 }, now);
        this.keys.inserted(prefix, id);
        deadDetails.run(row.reason, now, id);
        if (row.inline) this.inserts.insertBody(id, row.inline);
        ids.push(id);
        counted.add(row.flow, 'dead', 1, row.size);
        this.stmts.attempt.run(id, now, 'dead', row.reason, null);
        this.stmts.event.run(now, 'dead', row.flow, id, JSON.stringify({ name: row.name, reason: row.reason }));
      }
      this.itemCounts.apply(counted);
      return { ids, duplicates };
    });
  }

  /** Whether any item of the flow whose source key starts with `prefix` is still waiting or in flight. */
  hasPendingWithPrefix(flow: string, prefix: string): boolean {
    const row = this.db
      .prepare<[string, string, string], { x: number }>(
        `SELECT 1 AS x FROM items WHERE flow = ? AND instr(source_key, '#') > 0 AND state IN ('queued','inflight','retrying') AND source_key >= ? AND source_key < ? LIMIT 1`,
      )
      .get(flow, prefix, `${prefix}\uffff`);
    return row !== undefined;
  }

  /** Leases up to `limit` ready items of a flow until `now + leaseMs`, honouring the flow's ordering. */
  lease(flow: string, limit: number, leaseMs: number, now = Date.now(), ordering: LeaseOrdering = 'none'): LeasedItem[] {
    if (limit <= 0) return [];
    const counted = new CountChanges();
    if (ordering !== 'none') {
      return this.db.transaction(() => {
        const picked = (ordering === 'fifo' ? this.stmts.pickFifo : this.stmts.pickGroup).all(flow, now, limit);
        return this.leaseRows(picked, flow, now, leaseMs, counted).sort((a, b) => a.id - b.id);
      }).immediate();
    }
    // A lease lost to a power cut is harmless (the item is simply still queued): no fsync of its own.
    return this.relaxed(() =>
      this.db.transaction(() => {
        const due = this.stmts.dueRetries.all(flow, now, limit);
        const raws = due.length < limit ? due.concat(this.stmts.firstQueued.all(flow, limit - due.length)) : due;
        return this.leaseRows(raws, flow, now, leaseMs, counted).sort((a, b) => a.next_at - b.next_at || a.id - b.id);
      }).immediate(),
    );
  }

  /** Leases the rows read (inside the lease's transaction): one UPDATE by id, the counts moved per prior state. */
  private leaseRows(raws: LeasedRaw[], flow: string, now: number, leaseMs: number, counted: CountChanges): LeasedItem[] {
    if (raws.length === 0) return [];
    this.stmts.leaseIds.run(now + leaseMs, now, JSON.stringify(raws.map((r) => r[0])));
    const items = raws.map((r) => leasedItem(r, flow, now + leaseMs));
    let queuedBytes = 0;
    let queued = 0;
    for (let i = 0; i < raws.length; i++) {
      if (raws[i][11] === 'queued') (queued++, (queuedBytes += items[i].size));
      else counted.move(flow, raws[i][11], 'inflight', items[i].size);
    }
    counted.moveMany(flow, 'queued', 'inflight', queued, queuedBytes);
    this.itemCounts.apply(counted);
    return items;
  }

  /** Applies attempt outcomes in one transaction; records failures and activity events. */
  settle(settlements: Settlement[], now = Date.now()): void {
    if (settlements.length === 0) return;
    this.db.transaction(() => {
      const counted = new CountChanges();
      // Plain deliveries (no reply kept: nearly all of them) are applied set-wise, a group per detail ("HTTP 200")
      // and after-delivery flag: one UPDATE and one INSERT of their events per group instead of two statements
      // per item.
      const plain = new Map<string, { after: number; detail: string | null; ids: number[] }>();
      const rest: Settlement[] = [];
      for (const s of settlements) {
        if (s.kind !== 'delivered' || s.reply) {
          rest.push(s);
          continue;
        }
        const after = s.afterPending ? 1 : 0;
        const key = s.detail === undefined ? `${after}` : `${after}:${s.detail}`;
        let group = plain.get(key);
        if (!group) plain.set(key, (group = { after, detail: s.detail ?? null, ids: [] }));
        group.ids.push(s.id);
      }
      for (const { after, detail, ids } of plain.values()) {
        const json = JSON.stringify(ids);
        const moving = this.stmts.inflightOf.all(json);
        if (moving.length === 0) continue;
        for (const [flow, n, bytes] of moving) counted.moveMany(flow, 'inflight', 'delivered', n, bytes);
        this.stmts.deliveredEvents.run(now, detail, json);
        this.stmts.deliveredMany.run(now, now, after, json);
      }
      for (const given of rest) {
        const s = given.kind === 'retry' || given.kind === 'dead' ? { ...given, reason: this.redact(given.reason), response: given.response === undefined ? undefined : this.redact(given.response) } : given;
        // the dispatcher knows the item's flow and name: the event is written without looking the item up
        const ev = (type: string, detail: string | null, nextAt: number | null = null) =>
          s.kind !== 'release' && s.item
            ? this.stmts.event.run(now, type, s.item.flow, s.id, JSON.stringify({ name: s.item.name, detail, nextAt }))
            : this.stmts.itemEvent.run({ now, type, id: s.id, detail, nextAt });
        let moved: Moved | undefined;
        switch (s.kind) {
          case 'delivered':
            if ((moved = this.stmts.delivered.get({ id: s.id, now, after: s.afterPending ? 1 : 0 }))) {
              counted.move(moved.flow, 'inflight', 'delivered', moved.size);
              if (s.reply) this.stmts.insertReply.run({ id: s.id, status: s.reply.status, type: s.reply.contentType ?? null, body: s.reply.body });
              ev('delivered', s.detail ?? null);
            }
            break;
          case 'retry':
            if ((moved = this.stmts.retry.get({ id: s.id, now, nextAt: s.nextAt, reason: s.reason, status: s.status ?? null, response: s.response ?? null }))) {
              counted.move(moved.flow, 'inflight', 'retrying', moved.size);
              this.stmts.attempt.run(s.id, now, 'retry', s.reason, s.status ?? null);
              ev('retrying', s.reason, s.nextAt);
            }
            break;
          case 'dead':
            if ((moved = this.stmts.dead.get({ id: s.id, now, reason: s.reason, status: s.status ?? null, response: s.response ?? null }))) {
              counted.move(moved.flow, 'inflight', 'dead', moved.size);
              this.stmts.attempt.run(s.id, now, 'dead', s.reason, s.status ?? null);
              ev('dead', s.reason);
            }
            break;
          case 'release':
            if ((moved = this.stmts.release.get({ id: s.id, now }))) counted.move(moved.flow, 'inflight', 'queued', moved.size);
            break;
        }
      }
      this.itemCounts.apply(counted);
    }).immediate();
  }

  /** Gives expired leases back to the queue (a crashed or stuck delivery); skips ids still running here. */
  requeueExpired(now = Date.now(), running: ReadonlySet<number> = new Set()): number {
    // per flow holding leases, through the (flow, state) index: every 30 s, so never a scan of every item
    const leased = this.db.prepare<[string, number], { id: number }>(`SELECT id FROM items WHERE flow = ? AND state = 'inflight' AND lease_until < ?`);
    const expired = this.itemCounts
      .flowsIn('inflight')
      .flatMap((flow) => leased.all(flow, now))
      .filter((r) => !running.has(r.id));
    if (expired.length === 0) return 0;
    // The holder never reported an outcome: like a release, the lease does not count as a failed attempt
    // (prefetched leases of a killed process were never even sent).
    const stmt = this.db.prepare<[number, number], Moved>(
      `UPDATE items SET state = 'queued', lease_until = NULL, attempts = MAX(attempts - 1, 0), updated_at = ? WHERE id = ? AND state = 'inflight' RETURNING flow, size`,
    );
    this.db.transaction(() => {
      const counted = new CountChanges();
      for (const r of expired) {
        const moved = stmt.get(now, r.id);
        if (moved) counted.move(moved.flow, 'inflight', 'queued', moved.size);
      }
      this.itemCounts.apply(counted);
    }).immediate();
    return expired.length;
  }

  /** At start-up the previous process is gone: every lease it held returns to the queue. */
  requeueAllInflight(now = Date.now()): number {
    return this.db.transaction(() => {
      const moved = this.db
        .prepare<[number], Moved>(`UPDATE items SET state = 'queued', lease_until = NULL, attempts = MAX(attempts - 1, 0), updated_at = ? WHERE state = 'inflight' RETURNING flow, size`)
        .all(now);
      const counted = new CountChanges();
      for (const m of moved) counted.move(m.flow, 'inflight', 'queued', m.size);
      this.itemCounts.apply(counted);
      return moved.length;
    }).immediate();
  }

  /**
   * Records that after-delivery steps ran. Not fsynced on its own (synchronous=NORMAL for this commit; the
   * next FULL commit makes it durable): losing it to a power cut only repeats the step, which finds the
   * original gone and does nothing, so an fsync per batch would buy nothing.
   */
  markAfterDone(ids: number[]): void {
    if (ids.length === 0) return;
    this.relaxed(() => this.db.transaction(() => this.markAfterDoneIn(ids)).immediate());
  }

  /** markAfterDone inside a transaction the caller runs (see together()). */
  markAfterDoneIn(ids: number[]): void {
    if (ids.length > 0) this.stmts.afterDone.run(JSON.stringify(ids)); // one statement for the batch
  }

  /** Runs several writes (enqueue, settle, markAfterDoneIn) as one transaction: one commit, one fsync. */
  together<T>(writes: () => T): T {
    return this.db.transaction(writes).immediate();
  }

  /** Runs a write whose loss on power failure is harmless without its own fsync (WAL stays consistent). */
  private relaxed<T>(write: () => T): T {
    this.stmts.syncNormal.run();
    try {
      return write();
    } finally {
      this.stmts.syncFull.run();
    }
  }

  /** SQLite's data_version: changes when another connection (another process) committed. */
  dataVersion(): number {
    return this.stmts.dataVersion.get() as number;
  }

  afterPending(limit = 500): ItemSummary[] {
    return this.db.prepare<[number], ItemSummary>(`SELECT ${SUMMARY_COLUMNS} FROM items WHERE after_pending = 1 ORDER BY id LIMIT ?`).all(limit);
  }

  get(id: number): ItemRow | undefined {
    return this.stmts.getItem.get(id); // prepared once: synchronous calls read items by id on their hot path
  }

  /** The inline body of an item (undefined when it lives in the content store or was dropped). */
  /** The destination's reply kept for a synchronous caller, if any. */
  reply(id: number): StoredReply | undefined {
    const r = this.stmts.reply.get(id);
    return r ? { status: r.status, contentType: r.content_type ?? undefined, body: r.body } : undefined;
  }

  body(id: number): Buffer | undefined {
    return this.stmts.body.get(id)?.body;
  }

  /**
   * The inline bodies of several items, by id, in one statement (one read transaction): a leased batch read
   * body by body cost a statement and a read transaction (two file locks) per item.
   */
  bodies(ids: number[]): Map<number, Buffer> {
    const found = new Map<number, Buffer>();
    if (ids.length === 0) return found;
    for (const [id, body] of this.stmts.bodiesOf.all(JSON.stringify(ids))) found.set(id, body);
    return found;
  }

  attemptsOf(id: number): Array<{ at: number; outcome: string; error: string | null; status: number | null }> {
    return this.db.prepare<[number], { at: number; outcome: string; error: string | null; status: number | null }>('SELECT at, outcome, error, status FROM attempts WHERE item_id = ? ORDER BY at').all(id);
  }

  private where(f: ItemFilter): { sql: string; params: unknown[] } {
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (f.flow) (clauses.push('flow = ?'), params.push(f.flow));
    if (f.state) (clauses.push('state = ?'), params.push(f.state));
    if (f.id !== undefined) (clauses.push('id = ?'), params.push(f.id));
    return { sql: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
  }

  list(f: ItemFilter = {}): ItemSummary[] {
    const limit = f.limit ?? 100;
    const offset = f.offset ?? 0;
    if (f.state && !f.flow && f.id === undefined) {
      // One state across flows: the newest of each flow that has any (one index range each), merged. Without
      // a flow, the index on (flow, state, id) cannot be used and the newest dead items could lie under a
      // million delivered ones.
      const flows = this.itemCounts.flowsIn(f.state);
      if (flows.length === 0) return [];
      if (flows.length > 200) return this.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM items WHERE state = ? ORDER BY id DESC LIMIT ? OFFSET ?`).all(f.state, limit, offset) as ItemSummary[];
      const each = `SELECT ${SUMMARY_COLUMNS} FROM items WHERE flow = ? AND state = ? ORDER BY id DESC LIMIT ?`;
      const sql = flows.map(() => `SELECT * FROM (${each})`).join(' UNION ALL ');
      return this.db
        .prepare(`${sql} ORDER BY id DESC LIMIT ? OFFSET ?`)
        .all(...flows.flatMap((flow) => [flow, f.state, limit + offset]), limit, offset) as ItemSummary[];
    }
    const { sql, params } = this.where(f);
    return this.db.prepare(`SELECT ${SUMMARY_COLUMNS} FROM items ${sql} ORDER BY id DESC LIMIT ? OFFSET ?`).all(...params, limit, offset) as ItemSummary[];
  }

  count(f: ItemFilter = {}): number {
    if (f.id === undefined) return this.itemCounts.count(f.flow, f.state); // kept counts: no scan
    const { sql, params } = this.where(f);
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM items ${sql}`).get(...params) as { n: number }).n;
  }

  /** Puts dead or retrying items (or one by id) back in the queue with a fresh attempt budget. */
  retry(f: ItemFilter, now = Date.now()): number {
    const { sql, params } = this.where(f);
    const cond = `${sql ? `${sql} AND` : 'WHERE'} state IN ('dead','retrying')`;
    return this.db.transaction(() => {
      const ids = this.db.prepare(`SELECT id, flow, state, size FROM items ${cond}`).all(...params) as Array<{ id: number; flow: string; state: ItemState; size: number }>;
      const upd = this.db.prepare(`UPDATE items SET state = 'queued', attempts = 0, next_at = 0, settled_at = NULL, updated_at = ? WHERE id = ?`);
      const counted = new CountChanges();
      for (const r of ids) {
        upd.run(now, r.id);
        counted.move(r.flow, r.state, 'queued', r.size);
        this.stmts.event.run(now, 'requeued', r.flow, r.id, null);
      }
      this.itemCounts.apply(counted);
      return ids.length;
    }).immediate();
  }

  /** Drops items that are not in flight: they are kept as 'discarded' tombstones so they are not taken again. */
  discard(f: ItemFilter, now = Date.now()): Array<{ id: number; flow: string; bodyFile: string | null }> {
    const { sql, params } = this.where(f);
    const cond = `${sql ? `${sql} AND` : 'WHERE'} state IN ('queued','retrying','dead')`;
    return this.db.transaction(() => {
      const rows = this.db.prepare(`SELECT id, flow, body_file, state, size FROM items ${cond}`).all(...params) as Array<{ id: number; flow: string; body_file: string | null; state: ItemState; size: number }>;
      const upd = this.db.prepare(`UPDATE items SET state = 'discarded', body_file = NULL, settled_at = ?, updated_at = ? WHERE id = ?`);
      const delBody = this.db.prepare('DELETE FROM bodies WHERE item_id = ?');
      const counted = new CountChanges();
      for (const r of rows) {
        upd.run(now, now, r.id);
        delBody.run(r.id);
        counted.move(r.flow, r.state, 'discarded', r.size);
        this.stmts.event.run(now, 'discarded', r.flow, r.id, null);
      }
      this.itemCounts.apply(counted);
      return rows.map((r) => ({ id: r.id, flow: r.flow, bodyFile: r.body_file }));
    }).immediate();
  }

  /** Per flow and state: item count and body bytes. */
  counts(): Array<{ flow: string; state: ItemState; n: number; bytes: number }> {
    return this.itemCounts.list(); // kept by every write: a few rows, whatever the queue holds
  }

  /** Waiting work of one flow (not yet delivered, dead or discarded), for back pressure. */
  backlog(flow: string): { n: number; bytes: number } {
    const waiting = { n: 0, bytes: 0 };
    for (const c of this.itemCounts.list(flow)) {
      if (c.state !== 'queued' && c.state !== 'inflight' && c.state !== 'retrying') continue;
      waiting.n += c.n;
      waiting.bytes += c.bytes;
    }
    return waiting;
  }

  /**
   * Deletes delivered/discarded items settled before `settledBefore`, keeping their keys as fingerprints,
   * and drops fingerprints and events older than their own horizons. Returns body files to delete. All at once:
   * the engine runs a PrunePass step by step instead (pruneSteps()), giving intake the database in between.
   */
  prune(settledBefore: number, fingerprintsBefore: number, eventsBefore: number): { items: number; bodyFiles: string[] } {
    const pass = this.pruneSteps({ settledBefore, fingerprintsBefore, eventsBefore });
    const total = { items: 0, bodyFiles: [] as string[] };
    for (;;) {
      const step = pass.step();
      total.items += step.items;
      total.bodyFiles.push(...step.bodyFiles);
      if (step.done) return total;
    }
  }

  /** A pruning pass done in short transactions (see store/retention.ts). */
  pruneSteps(horizons: PruneHorizons, opts?: PrunePassOptions): PrunePass {
    return new PrunePass(this.db, this.itemCounts, this.keys, horizons, opts);
  }

  isBodyFileReferenced(file: string): boolean {
    return this.db.prepare('SELECT 1 FROM items WHERE body_file = ?').get(file) !== undefined;
  }

  addEvent(type: string, flow: string | null, itemId: number | null, data: unknown, now = Date.now()): void {
    this.stmts.event.run(now, type, flow, itemId, data === undefined ? null : this.redact(JSON.stringify(data)));
  }

  events(since: number, limit = 500): Array<{ id: number; at: number; type: string; flow: string | null; item_id: number | null; data: string | null }> {
    return this.db.prepare('SELECT * FROM events WHERE id > ? ORDER BY id LIMIT ?').all(since, limit) as Array<{ id: number; at: number; type: string; flow: string | null; item_id: number | null; data: string | null }>;
  }

  /**
   * When the flow's newest delivered item was settled: its last delivery, near enough, in one index step (a
   * process killed before its facts were persisted still knows it at the next start).
   */
  lastDeliveredAt(flow: string): number | undefined {
    const row = this.db
      .prepare<[string], { settled_at: number | null }>(`SELECT settled_at FROM items WHERE flow = ? AND state = 'delivered' ORDER BY id DESC LIMIT 1`)
      .get(flow);
    return row?.settled_at ?? undefined;
  }

  /**
   * When the flow's next item falls due (to sleep until then): 0 while any is queued (queued items are due),
   * else the earliest retry, from the retries' own index (a long backlog is not read for it).
   */
  nextRetryAt(flow: string): number | undefined {
    if (this.stmts.anyQueued.get(flow)) return 0;
    return this.stmts.firstRetry.get(flow)?.t ?? undefined;
  }
}
