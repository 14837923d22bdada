// Items per flow and state, with their body bytes, kept in the item_counts table. Counting a million items
// takes a tenth of a second, and status pages, `ferry status`, metrics and back pressure ask all the time.
// Every write of the queue that changes an item's state collects its changes in a CountChanges and applies
// them in its own transaction (one upsert per flow and state touched, not one per item), so the table always
// matches the items committed with it, in every process.
import type { Db } from './db.ts';
import type { ItemState } from './queue.ts';

export interface StateCount {
  flow: string;
  state: ItemState;
  n: number;
  bytes: number;
}

/** The changes one transaction makes to the counts (sums per flow and state). */
export class CountChanges {
  private readonly byKey = new Map<string, StateCount>();

  add(flow: string, state: ItemState, n: number, bytes: number): void {
    const key = `${state}\0${flow}`;
    const c = this.byKey.get(key);
    if (c) {
      c.n += n;
      c.bytes += bytes;
    } else this.byKey.set(key, { flow, state, n, bytes });
  }

  /** One item (of `bytes`) moved from one state to another. */
  move(flow: string, from: ItemState, to: ItemState, bytes: number): void {
    this.moveMany(flow, from, to, 1, bytes);
  }

  /** `n` items of one flow, of `bytes` in all, moved from one state to another (a batch summed by the caller). */
  moveMany(flow: string, from: ItemState, to: ItemState, n: number, bytes: number): void {
    if (from === to || n === 0) return;
    this.add(flow, from, -n, -bytes);
    this.add(flow, to, n, bytes);
  }

  entries(): Iterable<StateCount> {
    return this.byKey.values();
  }
}

export class ItemCounts {
  private readonly upsert;
  private readonly all;
  private readonly ofFlow;

  constructor(db: Db) {
    this.upsert = db.prepare<[string, string, number, number]>(
      'INSERT INTO item_counts (flow, state, n, bytes) VALUES (?, ?, ?, ?) ON CONFLICT (flow, state) DO UPDATE SET n = n + excluded.n, bytes = bytes + excluded.bytes',
    );
    this.all = db.prepare<[], StateCount>('SELECT flow, state, n, bytes FROM item_counts WHERE n <> 0');
    this.ofFlow = db.prepare<[string], StateCount>('SELECT flow, state, n, bytes FROM item_counts WHERE flow = ? AND n <> 0');
  }

  /** Writes the changes; call inside the transaction that made them. */
  apply(changes: CountChanges): void {
    for (const c of changes.entries()) if (c.n !== 0 || c.bytes !== 0) this.upsert.run(c.flow, c.state, c.n, c.bytes);
  }

  /** Every flow's counts (states with no item left are not listed). */
  list(flow?: string): StateCount[] {
    return flow === undefined ? this.all.all() : this.ofFlow.all(flow);
  }

  /** How many items a filter of flow and/or state matches. */
  count(flow: string | undefined, state: ItemState | undefined): number {
    let n = 0;
    for (const c of this.list(flow)) if (state === undefined || c.state === state) n += c.n;
    return n;
  }

  /** The flows holding items in `state`. */
  flowsIn(state: ItemState): string[] {
    return this.list().filter((c) => c.state === state && c.n > 0).map((c) => c.flow);
  }
}
