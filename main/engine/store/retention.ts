// Retention: delivered and discarded items older than the horizon are deleted (their idempotency keys kept as
// fingerprints), then fingerprints and activity events past their own horizons. A week of deliveries can be a
// million items, and the queue's writer is the engine's one thread: the work goes in small transactions, each
// sized to take about STEP_MS, so intake and deliveries get the database between them. A step is not fsynced
// on its own (losing one to a power cut only means pruning it again). Its pages go back into the database
// file with the engine's other writes (store/checkpointer.ts), whose fsyncs do not hold up the thread.
import type { WalPosition } from './checkpointer.ts';
import { keyPrefix, type Db } from './db.ts';
import type { DedupeKeys } from './dedupe-keys.ts';
import { CountChanges, type ItemCounts } from './item-counts.ts';
import type { ItemState } from './queue.ts';
import { SizedPass, SizedSteps } from './sized-steps.ts';

/**
 * What one transaction of pruning aims to take: short enough that intake waits on it unnoticed. On a busy
 * machine a step takes many times its aim (pages of a large database read cold from disk): aiming at 8 ms and
 * 250 frames, the longest step of a million-item prune was 119 ms at load 2–6; at 4 ms and 120 frames, 45–55 ms.
 */
const STEP_MS = 4;
/**
 * And what it aims to write: WAL frames (4 KB pages; SQLite's own checkpoint threshold is 1,000). A deleted item
 * writes no page of the key index (its fingerprint keeps its id and its entry there), but a busy step could still
 * write many MB; the checkpoint cycle after it then fsyncs that much twice (WAL, database), and an intake commit's
 * fsync queues behind it on the disk.
 */
const STEP_FRAMES = 120;
const MIN_ROWS = 50;
/** The longest rest between two steps of background work (runInSteps). */
const REST_MS = 20;
const MAX_ROWS = 5000;

export interface PruneHorizons {
  /** Delivered/discarded items settled before this are deleted. */
  settledBefore: number;
  fingerprintsBefore: number;
  eventsBefore: number;
}

export interface PrunePassOptions {
  /** Where writers are in the WAL (Checkpointer.walPosition): steps are sized by the frames they write too. */
  walPosition?: () => WalPosition;
  /** The frames a step aims to write (default STEP_FRAMES). */
  stepFrames?: number;
  /** The time a step aims to take (default STEP_MS). */
  stepMs?: number;
}

export interface PruneStep {
  /** Items deleted by this step. */
  items: number;
  /** Their content-store body files, to delete once the step committed. */
  bodyFiles: string[];
  /** True when nothing is left to prune for these horizons. */
  done: boolean;
}

type Phase = 'items' | 'fingerprints' | 'events';

/** One pruning pass: call step() until it says done. */
export class PrunePass extends SizedPass {
  private readonly db: Db;
  private readonly counts: ItemCounts;
  private readonly keys: DedupeKeys;
  private readonly horizons: PruneHorizons;
  private phase: Phase = 'items';
  /** Where the fingerprint scan goes on from (their table has no index on settled_at: it is read in id order). */
  private fpCursor = 0;
  private readonly stmts;

  constructor(db: Db, counts: ItemCounts, keys: DedupeKeys, horizons: PruneHorizons, opts: PrunePassOptions = {}) {
    // steps sized in rows
    super(new SizedSteps(db, { walPosition: opts.walPosition, stepMs: opts.stepMs ?? STEP_MS, stepFrames: opts.stepFrames ?? STEP_FRAMES, start: 500, min: MIN_ROWS, max: MAX_ROWS }));
    this.db = db;
    this.counts = counts;
    this.keys = keys;
    this.horizons = horizons;
    this.stmts = {
      oldItems: db.prepare<[number, number], { id: number; flow: string; state: ItemState; size: number; body_file: string | null }>(
        `SELECT id, flow, state, size, body_file FROM items WHERE state IN ('delivered','discarded') AND settled_at < ? AND after_pending = 0 ORDER BY settled_at LIMIT ?`,
      ),
      // the fingerprint takes the item's id: the key index's entry for that id stays right as it is
      keepKeys: db.prepare<[string]>(
        `INSERT INTO fingerprints (id, flow, idem_key, settled_at) SELECT id, flow, idem_key, settled_at FROM items WHERE id IN (SELECT value FROM json_each(?))`,
      ),
      delAttempts: db.prepare<[string]>('DELETE FROM attempts WHERE item_id IN (SELECT value FROM json_each(?))'),
      delBodies: db.prepare<[string]>('DELETE FROM bodies WHERE item_id IN (SELECT value FROM json_each(?))'),
      delReplies: db.prepare<[string]>('DELETE FROM replies WHERE item_id IN (SELECT value FROM json_each(?))'),
      delItems: db.prepare<[string]>('DELETE FROM items WHERE id IN (SELECT value FROM json_each(?))'),
      fingerprints: db.prepare<[number, number], { id: number; idem_key: string; settled_at: number }>(
        'SELECT id, idem_key, settled_at FROM fingerprints WHERE id > ? ORDER BY id LIMIT ?',
      ),
      delFingerprint: db.prepare<[number]>('DELETE FROM fingerprints WHERE id = ?'),
      // events are written in time order: the old ones are the first ids
      oldestEvents: db.prepare<[number], { id: number; at: number }>('SELECT id, at FROM events ORDER BY id LIMIT ?'),
      delEventsUpTo: db.prepare<[number]>('DELETE FROM events WHERE id <= ?'),
    };
  }

  /** One short transaction of pruning. */
  step(): PruneStep {
    return this.sized.run(() =>
      this.db.transaction((): PruneStep => {
        if (this.phase === 'items') return this.itemsStep();
        if (this.phase === 'fingerprints') return { items: 0, bodyFiles: [], done: this.fingerprintsStep() && this.next('events') };
        return { items: 0, bodyFiles: [], done: this.eventsStep() };
      }).immediate(),
    );
  }

  private next(phase: Phase): false {
    this.phase = phase;
    return false;
  }

  private itemsStep(): PruneStep {
    const old = this.stmts.oldItems.all(this.horizons.settledBefore, this.sized.size);
    if (old.length === 0) return { items: 0, bodyFiles: [], done: this.next('fingerprints') };
    const ids = JSON.stringify(old.map((r) => r.id));
    this.stmts.keepKeys.run(ids);
    this.stmts.delAttempts.run(ids);
    this.stmts.delBodies.run(ids);
    this.stmts.delReplies.run(ids);
    this.stmts.delItems.run(ids);
    const counted = new CountChanges();
    for (const r of old) counted.add(r.flow, r.state, -1, -r.size);
    this.counts.apply(counted);
    return { items: old.length, bodyFiles: old.map((r) => r.body_file).filter((f): f is string => f !== null), done: false };
  }

  /** Deletes expired fingerprints (and their key entries) among the next rows in id order; true when the scan reached the end. */
  private fingerprintsStep(): boolean {
    const rows = this.stmts.fingerprints.all(this.fpCursor, this.sized.size * 4);
    const expired: Array<[number, number]> = [];
    for (const r of rows) {
      if (r.settled_at >= this.horizons.fingerprintsBefore) continue;
      this.stmts.delFingerprint.run(r.id);
      expired.push([keyPrefix(r.idem_key), r.id]);
    }
    this.keys.forget(expired);
    const last = rows.at(-1);
    if (last) this.fpCursor = last.id;
    return rows.length < this.sized.size * 4;
  }

  /** Deletes the oldest events up to the first one inside the horizon; true once that one was reached. */
  private eventsStep(): boolean {
    const rows = this.stmts.oldestEvents.all(this.sized.size * 4);
    let upTo: number | undefined;
    for (const r of rows) {
      if (r.at >= this.horizons.eventsBefore) break;
      upTo = r.id;
    }
    if (upTo !== undefined) this.stmts.delEventsUpTo.run(upTo);
    return upTo === undefined || upTo !== rows.at(-1)!.id;
  }
}

/**
 * Runs a pass to its end, one step per turn of the event loop (what waits for the database runs in between),
 * deleting the pruned items' body files as it goes. Stops early when `stopping()` says so. Returns the items deleted.
 * `checkpoint` (the checkpointer's cycle) runs between steps (see runInSteps).
 */
export async function runPrunePass(pass: PrunePass, content: { remove(file: string): Promise<void> }, stopping: () => boolean, checkpoint?: () => Promise<void>): Promise<number> {
  let items = 0;
  await runInSteps(async () => {
    const step = pass.step();
    items += step.items;
    for (const f of step.bodyFiles) await content.remove(f);
    return step.done;
  }, stopping, checkpoint);
  return items;
}

/**
 * Runs `step` until it returns true (done) or `stopping()` says so, one step per turn of the event loop.
 *
 * `checkpoint` (the checkpointer's cycle) runs between steps: each step's pages go back into the database file
 * before the next step writes more. Left to the checkpointer's timer, a tenth of a second of steps piled up
 * 10,000+ frames, copied back in one go on the engine's thread (over 100 ms), and fsynced in one go while
 * intake's commits waited on the same disk.
 */
export async function runInSteps(step: () => boolean | Promise<boolean>, stopping: () => boolean, checkpoint?: () => Promise<void>): Promise<void> {
  for (;;) {
    const t0 = performance.now();
    if ((await step()) || stopping()) return;
    // then as long a rest as the step took (up to REST_MS): background work holds at most about half of the
    // engine's thread, and the disk gets the time to take what the step wrote before more comes
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(REST_MS, Math.ceil(performance.now() - t0))));
    // while copied pages are being fsynced, more writes would only queue behind them (and intake's commits with them)
    if (checkpoint) await checkpoint();
  }
}
