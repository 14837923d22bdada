// What a source remembers of the files it took: their size and time (and, for `keep` with a content hash, what
// they held), so a file is not taken twice in the same version. Kept in the flow's source state as
// `taken:<relative path>`, written in the same transaction as the file's item (a checkpoint), so the memory
// never runs ahead of the queue.
import type { SourceState } from '../contract.ts';
import type { FileEntry } from './reader.ts';

/** The stored form (unchanged since before the intake core: memories written by earlier versions are read as they are). */
export interface TakenMemo {
  size: number;
  mtimeMs: number;
  /** The listing's change token when the storage has one (remote: the LIST time). */
  rawTime?: string;
  /** `keep` with a content hash: what the file held when it was queued. */
  sha256?: string;
}

export const TAKEN_PREFIX = 'taken:';
const BASELINE_KEY = 'existing-baseline';

/** Whether a memo describes this version of the file. */
function sameVersion(m: { size: number; mtimeMs: number; rawTime?: string }, e: FileEntry): boolean {
  if (m.size !== e.size) return false;
  if (m.rawTime !== undefined) return m.rawTime === e.token;
  // a memo without a token: the times tell (a remote memo from before tokens were kept matches on size)
  return e.token === undefined ? m.mtimeMs === e.mtimeMs : true;
}

export class TakenMemory {
  /** Memos, with when this process wrote them (a listing that started earlier may have missed the file). */
  private readonly memos = new Map<string, { memo: TakenMemo; at: number; round?: number }>();
  /** existingFiles: skip — the files found when the flow first started, never taken unless they change. */
  private readonly existing = new Map<string, { size: number; mtimeMs: number }>();
  private state?: SourceState;
  private loaded = false;
  /** Memos survive a restart (and are written with each item). */
  readonly durable: boolean;

  constructor(durable: boolean) {
    this.durable = durable;
  }

  /** Reads the durable memory once. */
  load(state: SourceState): void {
    this.state = state;
    if (this.loaded) return;
    this.loaded = true;
    if (!this.durable) return;
    for (const [key, memo] of state.entries<TakenMemo>(TAKEN_PREFIX)) this.memos.set(key.slice(TAKEN_PREFIX.length), { memo, at: 0 });
  }

  /** The baseline of existingFiles: skip, taken by `walk` on the flow's first start and kept in the state. */
  async loadBaseline(state: SourceState, walk: () => Promise<Map<string, { size: number; mtimeMs: number }>>): Promise<number | undefined> {
    let saved = state.get<Record<string, [number, number]>>(BASELINE_KEY);
    let fresh: number | undefined;
    if (!saved) {
      const found = await walk();
      saved = Object.fromEntries([...found].map(([rel, e]) => [rel, [e.size, e.mtimeMs] as [number, number]]));
      state.set(BASELINE_KEY, saved);
      fresh = found.size;
    }
    for (const [rel, [size, mtimeMs]] of Object.entries(saved)) this.existing.set(rel, { size, mtimeMs });
    return fresh;
  }

  get(rel: string): TakenMemo | undefined {
    return this.memos.get(rel)?.memo;
  }

  /** Taken in this version already (or left alone as an existing file). */
  has(e: FileEntry): boolean {
    const m = this.memos.get(e.rel)?.memo;
    if (m) return sameVersion(m, e);
    const x = this.existing.get(e.rel);
    return x !== undefined && x.size === e.size && x.mtimeMs === e.mtimeMs;
  }

  /** The checkpoint that records a taken file with its item (durable memories only). */
  checkpoint(rel: string, memo: TakenMemo): { key: string; value: TakenMemo } | undefined {
    return this.durable ? { key: `${TAKEN_PREFIX}${rel}`, value: memo } : undefined;
  }

  /** A file was queued (its checkpoint, if any, is committed with it). */
  remember(rel: string, memo: TakenMemo): void {
    this.memos.set(rel, { memo, at: Date.now() });
  }

  /** A new version that needs no item (touched, same content): remembered and written now. */
  refresh(rel: string, memo: TakenMemo): void {
    this.remember(rel, memo);
    if (this.durable) this.state?.set(`${TAKEN_PREFIX}${rel}`, memo);
  }

  /** The file was moved or deleted after delivery. */
  forget(rel: string): void {
    if (!this.memos.delete(rel)) return;
    if (this.durable) this.state?.delete(`${TAKEN_PREFIX}${rel}`);
  }

  /** A listing round saw the file (in the version remembered). */
  saw(rel: string, round: number): void {
    const m = this.memos.get(rel);
    if (m) m.round = round;
  }

  /**
   * After a complete listing round that started at `since`: forgets files it did not see (gone from the
   * storage), except those `unread` says lie in folders the round did not read.
   */
  forgetUnseen(round: number, since: number, unread: (rel: string) => boolean): void {
    for (const [rel, m] of this.memos) if (m.round !== round && m.at < since && !unread(rel)) this.forget(rel);
  }

  get size(): number {
    return this.memos.size;
  }
}
