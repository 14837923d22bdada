// The dedupe index's small level in memory (store/dedupe-keys.ts): key prefix → item id, for every item and
// fingerprint above the merge watermark (up to a few hundred thousand entries). A JS Map held each 52-bit prefix
// as a heap number, so every new item allocated one, a million-entry map grew by rehashing, the collector walked
// them all, and dropping the merged entries deleted them one by one. Here both go in two typed arrays with open
// addressing (linear probing): no object per entry, one allocation per growth.
// A prefix may name several ids (two keys sharing 52 bits): each pair has its own slot.

const EMPTY = 0;
const MAX_LOAD = 0.7;
/** A removed pair: its slot is reused by a later add, and probing goes on past it. */
const REMOVED = -1;

export class PrefixIds {
  private keys: Float64Array;
  /** The id of each slot (ids start at 1), EMPTY or REMOVED. */
  private ids: Float64Array;
  private mask: number;
  /** Slots in use, removed ones included (what probing walks over). */
  private used = 0;
  /** Pairs held. */
  size = 0;

  constructor(capacity = 1024) {
    let slots = 1024;
    while (slots < capacity * 2) slots *= 2;
    this.keys = new Float64Array(slots);
    this.ids = new Float64Array(slots);
    this.mask = slots - 1;
  }

  /** Adds the pair; false if it was there already. */
  add(prefix: number, id: number): boolean {
    const { keys, ids, mask } = this;
    let free = -1;
    let h = slotOf(prefix, mask);
    for (;;) {
      const at = ids[h];
      if (at === EMPTY) break;
      if (at === REMOVED) {
        if (free < 0) free = h;
      } else if (at === id && keys[h] === prefix) return false;
      h = (h + 1) & mask;
    }
    if (free < 0) {
      free = h;
      this.used++;
    }
    keys[free] = prefix;
    ids[free] = id;
    this.size++;
    // at most 70% of the slots in use (removed ones count): probes stay short, and 50,000 keys take 2 MB
    if (this.used > this.mask * MAX_LOAD) this.resize(this.size);
    return true;
  }

  /** The ids held for a prefix, oldest pair first (undefined: none). */
  idsOf(prefix: number): number[] | undefined {
    const { keys, ids, mask } = this;
    let found: number[] | undefined;
    for (let h = slotOf(prefix, mask); ids[h] !== EMPTY; h = (h + 1) & mask) {
      if (ids[h] !== REMOVED && keys[h] === prefix) (found ??= []).push(ids[h]);
    }
    return found;
  }

  /** Removes the pair; false if it was not there. */
  remove(prefix: number, id: number): boolean {
    const { keys, ids, mask } = this;
    for (let h = slotOf(prefix, mask); ids[h] !== EMPTY; h = (h + 1) & mask) {
      if (ids[h] === id && keys[h] === prefix) {
        ids[h] = REMOVED;
        this.size--;
        return true;
      }
    }
    return false;
  }

  /** Drops every pair whose id is at most `upto`; returns how many went. */
  dropUpTo(upto: number): number {
    const before = this.size;
    this.rebuild((id) => id > upto, Math.max(this.size, 512));
    return before - this.size;
  }

  /** Drops every pair whose id is `from` or above (a failed write's). */
  dropFrom(from: number): void {
    this.rebuild((id) => id < from, Math.max(this.size, 512));
  }

  /** Every pair, in no particular order. */
  *entries(): IterableIterator<[number, number]> {
    const { keys, ids } = this;
    for (let h = 0; h < ids.length; h++) if (ids[h] > 0) yield [keys[h], ids[h]];
  }

  private resize(capacity: number): void {
    this.rebuild(() => true, capacity);
  }

  /** Re-inserts the pairs `keep` accepts into tables sized for `capacity` pairs. */
  private rebuild(keep: (id: number) => boolean, capacity: number): void {
    const oldKeys = this.keys;
    const oldIds = this.ids;
    let slots = 1024;
    while (slots < capacity * 2) slots *= 2;
    this.keys = new Float64Array(slots);
    this.ids = new Float64Array(slots);
    this.mask = slots - 1;
    this.used = 0;
    this.size = 0;
    for (let h = 0; h < oldIds.length; h++) {
      const id = oldIds[h];
      if (id > 0 && keep(id)) this.add(oldKeys[h], id);
    }
  }
}

/** Prefixes are hash bits already: their low 32 bits pick the slot. */
function slotOf(prefix: number, mask: number): number {
  return (prefix >>> 0) & mask;
}
