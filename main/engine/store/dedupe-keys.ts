// The idempotency-key index, in two levels. Keys are hashes, so one large index of them makes each new item
// write a page of its own in it once the queue is long (a million items: about one 4 KB page per item, written
// to the WAL, copied back and fsynced), and pruning an item wrote one more. Here:
// - the large level is item_keys: (52-bit key prefix, id) of every item and fingerprint up to a watermark
//   (key_merge.merged_upto), narrow and sorted;
// - the small level is every id above the watermark. Ids only grow, so those rows sit at the end of items (and
//   of fingerprints), and a new key writes no page of any key index: its prefix is held in memory, rebuilt from
//   those rows at the first write after a start (and caught up with when another process wrote);
// - a merge pass (KeyMergePass) writes the small level into the large one in sorted slices, each a short
//   transaction, then moves the watermark: a page of the large index is written once for the many keys that
//   land on it. A pass cut short (a stop, kill -9) leaves the watermark where it was and is simply run again.
// A pruned item's fingerprint takes the item's id, so its entry stays valid and pruning writes no key page.
// A lookup checks both levels and compares the whole key on the row the id names (item, else fingerprint).
import type { WalPosition } from './checkpointer.ts';
import { keyPrefix, type Db } from './db.ts';
import { PrefixIds } from './prefix-ids.ts';
import type { ItemState } from './queue.ts';
import { SizedPass, SizedSteps } from './sized-steps.ts';

/** Keys in the small level that make a merge due: a merge then writes each page of a million-key index for ~10 keys. */
export const MERGE_AT = 50_000;
/** Past this many times mergeAt, a write merges on the spot (a queue used without an engine, which runs the passes). */
const MERGE_NOW_FACTOR = 4;
/** What one merge transaction aims to take and write (as a pruning step: store/retention.ts). */
const STEP_MS = 8;
const STEP_FRAMES = 250;
const MIN_KEYS = 200;
/** Rows per INSERT statement of a merge. */
const INSERT_ROWS = 100;
const MAX_KEYS = 20_000;

/** Items of a write transaction whose rows are not written yet: those from `from` on; flush() writes them. */
export interface UnwrittenItems {
  readonly from: number;
  flush(): void;
}

/** What a lookup found: a stored item, or only a pruned item's fingerprint. */
export type KeyMatch = { id: number; state: ItemState } | { id: number; state?: undefined };

export interface KeyMergeOptions {
  /** Where writers are in the WAL (Checkpointer.walPosition): steps are sized by the frames they write too. */
  walPosition?: () => WalPosition;
  stepFrames?: number;
}

export class DedupeKeys {
  private readonly db: Db;
  /** Key prefix → id (or ids, for two keys sharing 52 bits) of every item and fingerprint above the watermark. */
  private recent?: PrefixIds;
  /** Ids up to here are in item_keys. */
  private mergedUpto = 0;
  /** The next item's id: above every item, fingerprint and the watermark, so an id is never used twice. */
  private nextId = 1;
  /** data_version when this connection last looked at what other connections wrote. */
  private version = -1;
  /** Keys in the small level that make a merge due (tests lower it). */
  mergeAt = MERGE_AT;
  /** The first id the write transaction under way may take: its entries (ids from here on) go if it fails. */
  private firstOfWrite = Infinity;
  private readonly stmts;

  constructor(db: Db) {
    this.db = db;
    this.stmts = {
      dataVersion: db.prepare('PRAGMA data_version').pluck(),
      mergedUpto: db.prepare('SELECT merged_upto FROM key_merge').pluck(),
      setMergedUpto: db.prepare<[number, number]>('UPDATE key_merge SET merged_upto = ? WHERE merged_upto < ?'),
      topIds: db.prepare('SELECT max(COALESCE((SELECT max(id) FROM items), 0), COALESCE((SELECT max(id) FROM fingerprints), 0))').pluck(),
      itemsAbove: db.prepare<[number], [number, number]>('SELECT id, key_prefix FROM items WHERE id > ? ORDER BY id').raw(),
      fingerprintsAbove: db.prepare<[number], [number, string]>('SELECT id, idem_key FROM fingerprints WHERE id > ? ORDER BY id').raw(),
      // the large level: one index step; the whole key is then compared on the row each entry names
      largeIds: db.prepare<[number], number>('SELECT id FROM item_keys WHERE key_prefix = ?').pluck(),
      // a batch's prefixes at once: one statement instead of one per new item
      largeIdsIn: db.prepare<[string], [number, number]>('SELECT key_prefix, id FROM item_keys WHERE key_prefix IN (SELECT value FROM json_each(?))').raw(),
      itemById: db.prepare<[number, string, string], { id: number; state: ItemState }>('SELECT id, state FROM items WHERE id = ? AND idem_key = ? AND flow = ?'),
      fingerprintById: db.prepare<[number, string, string], { id: number }>('SELECT id FROM fingerprints WHERE id = ? AND idem_key = ? AND flow = ?'),
      insertLarge: db.prepare<[number, number]>('INSERT OR IGNORE INTO item_keys (key_prefix, id) VALUES (?, ?)'),
      // a merge's keys go in INSERT_ROWS at a time: one call into SQLite per block rather than per key
      insertLargeBlock: db.prepare<number[]>(`INSERT OR IGNORE INTO item_keys (key_prefix, id) VALUES ${Array.from({ length: INSERT_ROWS }, () => '(?, ?)').join(', ')}`),
      insertItemsBetween: db.prepare<[number, number]>('INSERT OR IGNORE INTO item_keys (key_prefix, id) SELECT key_prefix, id FROM items WHERE id > ? AND id <= ?'),
      fingerprintsBetween: db.prepare<[number, number], [number, string]>('SELECT id, idem_key FROM fingerprints WHERE id > ? AND id <= ?').raw(),
      deleteLarge: db.prepare<[number, number]>('DELETE FROM item_keys WHERE key_prefix = ? AND id = ?'),
    };
  }

  /**
   * Called first in every transaction that inserts items (the write lock is held): loads the small level at
   * the first write, takes in what another connection wrote since the last one, and fixes the next id.
   */
  beginWrite(): void {
    const version = this.stmts.dataVersion.get() as number;
    // another connection wrote (rare: one engine writes a data dir): the small level is read again whole
    if (!this.recent || version !== this.version) this.load();
    this.version = version;
    this.firstOfWrite = this.nextId;
  }

  /** The transaction under way failed: its entries are taken back (its ids are skipped, never reused here). */
  abortWrite(): void {
    if (this.firstOfWrite !== Infinity) this.recent?.dropFrom(this.firstOfWrite);
    this.firstOfWrite = Infinity;
  }

  /** Whether the small level holds enough keys for a merge pass. */
  mergeDue(): boolean {
    return this.pendingKeys() >= this.mergeAt;
  }

  /** Keys in the small level (not yet merged). */
  get pending(): number {
    return this.pendingKeys();
  }

  private pendingKeys(): number {
    return this.recent?.size ?? 0;
  }

  /**
   * The item or fingerprint holding this whole key, if any. Inside a write transaction (after beginWrite).
   * `large`: the large level's entries for this prefix, looked up beforehand for a whole batch (largeIdsOf).
   * `unwritten`: items of the transaction whose rows are not written yet (from its `from` id on); written first
   * when one of them may hold the key, so the comparison on the row finds it.
   */
  find(flow: string, idemKey: string, prefix: number, large?: ReadonlyMap<number, number[]>, unwritten?: UnwrittenItems): KeyMatch | undefined {
    const recent = this.recent!.idsOf(prefix);
    if (recent !== undefined) {
      if (unwritten && recent.some((id) => id >= unwritten.from)) unwritten.flush();
      const hit = this.match(recent, flow, idemKey);
      if (hit) return hit;
    }
    const ids = large ? large.get(prefix) : this.stmts.largeIds.all(prefix);
    return ids === undefined || ids.length === 0 ? undefined : this.match(ids, flow, idemKey);
  }

  /** The large level's ids for each of these prefixes that has any, in one statement. */
  largeIdsOf(prefixes: readonly number[]): Map<number, number[]> {
    const found = new Map<number, number[]>();
    if (prefixes.length === 0) return found;
    for (const [prefix, id] of this.stmts.largeIdsIn.all(JSON.stringify(prefixes))) {
      const had = found.get(prefix);
      if (had) had.push(id);
      else found.set(prefix, [id]);
    }
    return found;
  }

  /** The item (else the fingerprint) among `ids` that holds this whole key. */
  private match(ids: number[], flow: string, idemKey: string): KeyMatch | undefined {
    for (const id of ids) {
      const hit = this.stmts.itemById.get(id, idemKey, flow) ?? this.stmts.fingerprintById.get(id, idemKey, flow);
      if (hit) return hit;
    }
    return undefined;
  }

  /** The id for the next item; the caller inserts it with this id and calls inserted(). */
  takeId(): number {
    return this.nextId++;
  }

  /** Records a new item's key in the small level. */
  inserted(prefix: number, id: number): void {
    this.add(prefix, id);
  }

  /** After a committed write: a queue used without an engine merges here once the small level is very large. */
  afterWrite(): void {
    this.firstOfWrite = Infinity;
    // not inside a caller's transaction (together()): the merge's steps are transactions of their own
    if (this.pendingKeys() >= this.mergeAt * MERGE_NOW_FACTOR && !this.db.inTransaction) {
      const pass = this.mergePass();
      while (!pass.step().done);
    }
  }

  /** Expired fingerprints leave both levels (inside the pruning step's transaction). */
  forget(entries: Array<[number, number]>): void {
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [prefix, id] of entries) {
      this.stmts.deleteLarge.run(prefix, id);
      this.recent?.remove(prefix, id);
    }
  }

  /** A pass merging what the small level holds now into the large one, step by step. */
  mergePass(opts: KeyMergeOptions = {}): KeyMergePass {
    if (!this.recent) this.db.transaction(() => this.beginWrite()).immediate();
    const upto = this.nextId - 1;
    const from = this.mergedUpto;
    const version = this.stmts.dataVersion.get() as number;
    const pairs = [...this.recent!.entries()];
    pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return new KeyMergePass(this.db, pairs, opts, {
      insert: (pairs, from, to) => {
        let i = from;
        for (; i + INSERT_ROWS <= to; i += INSERT_ROWS) this.stmts.insertLargeBlock.run(...pairs.slice(i, i + INSERT_ROWS).flat());
        for (; i < to; i++) this.stmts.insertLarge.run(pairs[i][0], pairs[i][1]);
      },
      finish: () => {
        // Another connection wrote during the pass: it may have queued ids up to `upto` that this snapshot does
        // not hold. Everything in the range is then merged from the rows themselves (rare; under the write lock).
        if ((this.stmts.dataVersion.get() as number) !== version) {
          this.stmts.insertItemsBetween.run(from, upto);
          for (const [id, key] of this.stmts.fingerprintsBetween.all(from, upto)) this.stmts.insertLarge.run(keyPrefix(key), id);
        }
        this.stmts.setMergedUpto.run(upto, upto);
        this.dropUpTo(upto);
      },
    });
  }

  /** (Re)reads the small level: every item and fingerprint above the watermark. The next id never goes back. */
  private load(): void {
    this.recent = new PrefixIds();
    this.mergedUpto = this.stmts.mergedUpto.get() as number;
    this.takeAbove(this.mergedUpto);
    this.nextId = Math.max(this.nextId, (this.stmts.topIds.get() as number) + 1, this.mergedUpto + 1);
  }

  private takeAbove(id: number): void {
    for (const [itemId, prefix] of this.stmts.itemsAbove.all(id)) this.add(prefix, itemId);
    for (const [fpId, key] of this.stmts.fingerprintsAbove.all(id)) this.add(keyPrefix(key), fpId);
  }

  /** Drops every entry up to `upto` (now in the large level). */
  private dropUpTo(upto: number): void {
    this.mergedUpto = Math.max(this.mergedUpto, upto);
    this.recent?.dropUpTo(upto);
  }

  private add(prefix: number, id: number): void {
    this.recent!.add(prefix, id);
  }
}

export interface KeyMergeStep {
  /** Keys written by this step. */
  keys: number;
  /** True once every key is in the large level and the watermark moved. */
  done: boolean;
}

/** What a merge pass writes with: the sorted (prefix, id) pairs [from, to) into the large level; the watermark. */
interface MergeOps {
  insert(pairs: Array<[number, number]>, from: number, to: number): void;
  finish(): void;
}

/** One merge of the small level into the large one: call step() until it says done. */
export class KeyMergePass extends SizedPass {
  private readonly db: Db;
  private readonly pairs: Array<[number, number]>;
  private readonly ops: MergeOps;
  private next = 0;
  private finished = false;

  constructor(db: Db, pairs: Array<[number, number]>, opts: KeyMergeOptions, ops: MergeOps) {
    // steps sized in keys
    super(new SizedSteps(db, { walPosition: opts.walPosition, stepMs: STEP_MS, stepFrames: opts.stepFrames ?? STEP_FRAMES, start: 2000, min: MIN_KEYS, max: MAX_KEYS }));
    this.db = db;
    this.pairs = pairs;
    this.ops = ops;
  }

  /** Keys this pass merges. */
  get total(): number {
    return this.pairs.length;
  }

  /**
   * One short transaction: the next slice of keys in sorted order (a slice lost to a power cut is merged again:
   * the watermark never passes it). The last step moves the watermark.
   */
  step(): KeyMergeStep {
    if (this.finished) return { keys: 0, done: true };
    return this.sized.run(() => {
      if (this.next >= this.pairs.length) {
        this.db.transaction(() => this.ops.finish()).immediate();
        this.finished = true;
        return { keys: 0, done: true };
      }
      const end = Math.min(this.pairs.length, this.next + this.sized.size);
      this.db.transaction(() => {
        this.ops.insert(this.pairs, this.next, end);
      }).immediate();
      const keys = end - this.next;
      this.next = end;
      return { keys, done: false };
    });
  }
}
