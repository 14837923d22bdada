// What a source remembers of the files it took: their size and time (and, for `keep` with a content hash, what
// they held), so a file is not taken twice in the same version. Kept in the flow's source state as
// `taken:<relative path>`, written in the same transaction as the file's item (a checkpoint), so the memory
// never runs ahead of the queue.
//
// A durable memory (`keep`, remote sources) can hold a memo for each of a million files: it stays in the
// state and is read a listing page at a time (getMany), with a bounded cache for single looks (events,
// sweeps). Memos of files gone from the storage are forgotten folder by folder: once a listing has read a
// folder whole, its memos that the listing did not show are dropped (see FolderSweep). A memory that is not
// durable (move/delete on a local folder) only holds the files waiting for their after-delivery, in RAM.
import type { SourceState } from '../contract.ts';
import { CleanListings } from './clean-listings.ts';
import { FIRST_PAGE, FolderMemos, pastPrefix } from './folder-memos.ts';
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
/** existingFiles: skip — one key per file found on the flow's first start: `existing:<rel>` = [size, mtimeMs]. */
const EXISTING_PREFIX = 'existing:';
/** Set once the first start's walk wrote every `existing:` key (its value: how many). */
const EXISTING_DONE = 'existing-files';
/** The baseline as earlier versions kept it: one object of every file (moved into `existing:` keys on start). */
const BASELINE_KEY = 'existing-baseline';
/** Entries written in one transaction while the baseline is taken. */
const BASELINE_BATCH = 5000;
/** Memos of a durable memory held in RAM at most (a listing page's worth, a few times over). */
export const MEMO_CACHE = 4096;
/** Keys read at once when a folder's memos are walked. */
const SWEEP_PAGE = 500;

/** Whether a memo describes this version of the file. */
function sameVersion(m: { size: number; mtimeMs: number; rawTime?: string }, e: FileEntry): boolean {
  if (m.size !== e.size) return false;
  if (m.rawTime !== undefined) return m.rawTime === e.token;
  // a memo without a token: the times tell (a remote memo from before tokens were kept matches on size)
  return e.token === undefined ? m.mtimeMs === e.mtimeMs : true;
}

/**
 * The names a listing showed in one folder, as 53-bit hashes (cyrb53): a folder of 100,000 files holds 100,000
 * numbers, not 100,000 names (each of which, cut out of a parsed listing's text, keeps that text alive). Two
 * names of one folder share a hash about once in 10^6 folders of 100,000 files; a gone file's memo would then
 * stay until its folder is read without the other name.
 */
export class SeenNames {
  private readonly hashes = new Set<number>();

  static hash(name: string): number {
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return 4294967296 * (2097151 & h2) + (h1 >>> 0);
  }

  add(name: string): void {
    this.hashes.add(SeenNames.hash(name));
  }

  has(name: string): boolean {
    return this.hashes.has(SeenNames.hash(name));
  }
}

const dirOf = (rel: string) => {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
};

export class TakenMemory {
  /** Not durable: every memo, with when it was written and the listing round that last saw its file. */
  private readonly volatile = new Map<string, { memo: TakenMemo; at: number; round?: number }>();
  /** Durable: memos (and baseline entries) read from the state lately, by key (null: none there), oldest first. */
  private readonly cache = new Map<string, TakenMemo | [number, number] | null>();
  /** Durable: when this process wrote memos, while a listing under way may have read their folder before. */
  private readonly written = new Map<string, number>();
  /** Durable: the folder sweeps of the listings under way (their start bounds what `written` must keep). */
  private readonly sweeps = new Set<FolderSweep>();
  /** existingFiles: skip — the files found when the flow first started (kept in the state), never taken unless they change. */
  private baseline = false;
  private state?: SourceState;
  /** Memos survive a restart (and are written with each item). */
  readonly durable: boolean;
  /** Folders whose listing showed only files taken in the version listed (durable memories; see clean-listings.ts). */
  readonly listings = new CleanListings();

  constructor(durable: boolean) {
    this.durable = durable;
  }

  /** Binds the memory to the flow's state (a durable memory is read as listings need it, never whole). */
  load(state: SourceState): void {
    this.state = state;
    if (this.durable) this.listings.bind(state);
  }

  /**
   * The baseline of existingFiles: skip: the files `walk` yields on the flow's first start, kept in the state one
   * key per file (written a batch at a time, never held whole). Returns how many were found on a first start.
   */
  async loadBaseline(state: SourceState, walk: () => AsyncIterable<Array<{ rel: string; size: number; mtimeMs: number }>>): Promise<number | undefined> {
    this.state = state;
    this.baseline = true;
    if (state.get<number>(EXISTING_DONE) !== undefined) return undefined;
    const old = state.get<Record<string, [number, number]>>(BASELINE_KEY);
    let batch: Array<[string, unknown]> = [];
    let n = 0;
    const add = (rel: string, v: [number, number]) => {
      batch.push([EXISTING_PREFIX + rel, v]);
      n++;
      if (batch.length >= BASELINE_BATCH) (state.setMany(batch), (batch = []));
    };
    if (old) {
      // kept whole by an earlier version: moved into one key per file (a restart midway moves it again)
      for (const [rel, v] of Object.entries(old)) add(rel, v);
    } else {
      for await (const page of walk()) for (const e of page) add(e.rel, [e.size, e.mtimeMs]);
    }
    batch.push([EXISTING_DONE, n]);
    state.setMany(batch);
    if (old) state.delete(BASELINE_KEY);
    return old ? undefined : n;
  }

  private cached(key: string, value: TakenMemo | [number, number] | null): void {
    this.cache.delete(key);
    this.cache.set(key, value);
    if (this.cache.size > MEMO_CACHE) this.cache.delete(this.cache.keys().next().value!);
  }

  /** Reads the memos of a page of files in one look-up, so the checks that follow need no query each. */
  prefetch(rels: string[]): void {
    if (!this.state || (!this.durable && !this.baseline)) return;
    const keys: string[] = [];
    for (const rel of rels) {
      if (this.durable && !this.cache.has(TAKEN_PREFIX + rel)) keys.push(TAKEN_PREFIX + rel);
      if (this.baseline && !this.cache.has(EXISTING_PREFIX + rel)) keys.push(EXISTING_PREFIX + rel);
    }
    if (keys.length === 0) return;
    const found = this.state.getMany<TakenMemo | [number, number]>(keys);
    for (const key of keys) this.cached(key, found.get(key) ?? null);
  }

  /** A value of the state, through the cache. */
  private lookup<T extends TakenMemo | [number, number]>(key: string): T | undefined {
    const hit = this.cache.get(key);
    if (hit !== undefined) return (hit ?? undefined) as T | undefined;
    const value = this.state?.get<T>(key);
    this.cached(key, value ?? null);
    return value;
  }

  get(rel: string): TakenMemo | undefined {
    if (!this.durable) return this.volatile.get(rel)?.memo;
    return this.lookup<TakenMemo>(TAKEN_PREFIX + rel);
  }

  /** Taken in this version already (or left alone as an existing file). */
  has(e: FileEntry): boolean {
    const m = this.get(e.rel);
    if (m) return sameVersion(m, e);
    if (!this.baseline) return false;
    const x = this.lookup<[number, number]>(EXISTING_PREFIX + e.rel);
    return x !== undefined && x[0] === e.size && x[1] === e.mtimeMs;
  }

  /** The checkpoint that records a taken file with its item (durable memories only). */
  checkpoint(rel: string, memo: TakenMemo): { key: string; value: TakenMemo } | undefined {
    if (!this.durable) return undefined;
    // the folder's clean record goes (from the state too) before the memo it no longer matches is committed
    this.listings.touched(dirOf(rel));
    return { key: `${TAKEN_PREFIX}${rel}`, value: memo };
  }

  /** A file was queued (its checkpoint, if any, is committed with it). */
  remember(rel: string, memo: TakenMemo): void {
    const now = Date.now();
    if (!this.durable) {
      this.volatile.set(rel, { memo, at: now });
      return;
    }
    this.cached(TAKEN_PREFIX + rel, memo);
    const dir = dirOf(rel);
    this.listings.touched(dir);
    // a file the sweeps under way hold as seen in the folder they read is not forgotten by them: only the
    // others need protecting (a first pass taking 100,000 files would otherwise note each one here)
    for (const s of this.sweeps) {
      if (s.holds(dir, rel)) continue;
      this.written.set(rel, now);
      break;
    }
  }

  /** A new version that needs no item (touched, same content): remembered and written now. */
  refresh(rel: string, memo: TakenMemo): void {
    this.remember(rel, memo);
    if (this.durable) this.state?.set(`${TAKEN_PREFIX}${rel}`, memo);
  }

  /** The file was moved or deleted after delivery. */
  forget(rel: string): void {
    if (!this.durable) {
      this.volatile.delete(rel);
      return;
    }
    this.listings.touched(dirOf(rel));
    if (this.get(rel) === undefined) return;
    this.state?.delete(`${TAKEN_PREFIX}${rel}`);
    this.cached(TAKEN_PREFIX + rel, null);
    this.written.delete(rel);
  }

  /**
   * The memory's part in one listing pass that started at `since`: a durable memory forgets, folder by folder,
   * the memos of files the listing did not show. End it when the pass ends.
   */
  sweep(since: number): FolderSweep {
    const s = new FolderSweep(this, since);
    if (this.durable) {
      this.listings.passStarted();
      this.sweeps.add(s);
      const oldest = Math.min(...[...this.sweeps].map((x) => x.since));
      for (const [rel, at] of this.written) if (at < oldest) this.written.delete(rel);
    }
    return s;
  }

  /** @internal FolderSweep's end. */
  sweepEnded(s: FolderSweep): void {
    this.sweeps.delete(s);
    this.listings.passEnded();
    if (this.sweeps.size === 0) this.written.clear();
  }

  /**
   * @internal A folder was listed whole at or after `since`, showing the files `seen` (names) and going into
   * the sub-folders `subdirs`: memos of its other files, and of files in sub-folders it no longer has (or no
   * longer goes into), are forgotten, unless written since the listing started. Walks the folder's keys a page
   * at a time, jumping over the sub-folders it goes into.
   */
  forgetUnlisted(relDir: string, seen: { has(name: string): boolean }, subdirs: Set<string>, since: number): number {
    const state = this.state;
    if (!this.durable || !state) return 0;
    const prefix = TAKEN_PREFIX + (relDir === '' ? '' : `${relDir}/`);
    const end = pastPrefix(prefix);
    const gone: string[] = [];
    let from = prefix;
    // a short first page, and after each sub-folder jumped over: the keys there may all be the sub-folder's
    let limit = FIRST_PAGE;
    for (;;) {
      const keys = state.keys(from, end, limit);
      if (keys.length === 0) break;
      let jump: string | undefined;
      for (const key of keys) {
        const rest = key.slice(prefix.length);
        const slash = rest.indexOf('/');
        if (slash >= 0 && subdirs.has(rest.slice(0, slash))) {
          jump = pastPrefix(prefix + rest.slice(0, slash + 1));
          break;
        }
        if (slash < 0 && seen.has(rest)) continue;
        gone.push(key);
      }
      if (jump !== undefined) {
        from = jump;
        limit = FIRST_PAGE;
      } else if (keys.length < limit) break;
      else {
        from = `${keys[keys.length - 1]}\u0000`;
        limit = Math.min(SWEEP_PAGE, limit * 2);
      }
    }
    return this.forgetKeys(gone, since);
  }

  /**
   * @internal Forgets the memos of these keys (`taken:<rel>`), except those written since `since` (a listing
   * that started then did not see their files, though they are there). Returns how many were forgotten.
   */
  forgetKeys(keys: string[], since: number): number {
    const state = this.state;
    if (!this.durable || !state) return 0;
    let n = 0;
    for (const key of keys) {
      const rel = key.slice(TAKEN_PREFIX.length);
      if ((this.written.get(rel) ?? 0) >= since) continue;
      this.listings.touched(dirOf(rel));
      state.delete(key);
      this.cache.delete(key);
      n++;
    }
    return n;
  }

  /**
   * @internal The memos of a folder's own files, to be read alongside its listing (folder-memos.ts); undefined
   * where they are looked up by key instead (not durable, or with a baseline, whose entries come with the memos).
   */
  folderMemos(relDir: string): FolderMemos | undefined {
    if (!this.durable || !this.state || this.baseline) return undefined;
    return new FolderMemos(this.state, TAKEN_PREFIX + (relDir === '' ? '' : `${relDir}/`));
  }

  /** @internal What a listing read of a file it did not find taken (its memo, or none): later looks need no query. */
  looked(rel: string, memo: TakenMemo | undefined): void {
    // what the cache holds is as new or newer (written by this process)
    if (!this.cache.has(TAKEN_PREFIX + rel)) this.cached(TAKEN_PREFIX + rel, memo ?? null);
  }

  /** A listing round saw the file (in the version remembered): not durable memories keep it. */
  saw(rel: string, round: number): void {
    const m = this.volatile.get(rel);
    if (m) m.round = round;
  }

  /**
   * After a complete listing round that started at `since`: a memory that is not durable forgets files the
   * round did not see (gone from the storage), except those `unread` says lie in folders it did not read. (A
   * durable memory forgot them as each folder was listed.)
   */
  forgetUnseen(round: number, since: number, unread: (rel: string) => boolean): void {
    for (const [rel, m] of this.volatile) if (m.round !== round && m.at < since && !unread(rel)) this.volatile.delete(rel);
  }

  /** Memos (and baseline entries) held in RAM: the bounded cache, plus every memo of a memory that is not durable. */
  get held(): number {
    return this.cache.size + this.volatile.size;
  }
}

/**
 * One listing pass's record of what it saw, folder by folder (a listing yields a folder's files together): when
 * the reader says a folder was listed whole, the memos of files it did not show are forgotten, and a folder
 * whose every wanted file was found taken is recorded clean with its listing's digest (clean-listings.ts).
 * Holds the names of one folder at a time.
 */
export class FolderSweep {
  private readonly memory: TakenMemory;
  readonly since: number;
  private dir?: string;
  private names = new SeenNames();
  /** Every wanted file of the current folder was found taken in the version listed. */
  private clean = true;
  /** The memory's mark when the current folder's first file was seen. */
  private mark = 0;
  /** Wanted files seen in the current folder. */
  private files = 0;
  /** Memos forgotten by this pass. */
  forgotten = 0;
  /**
   * Set when the listing walks in code-point order (walk.ts) from `after` on: the memos of each folder it lists
   * whole are read alongside it by key range (folder-memos.ts) instead of looked up file by file.
   */
  private merge?: { after: string | undefined };
  /** The current folder's memos, read alongside its listing. */
  private memos?: FolderMemos;
  /** The last file seen while merging, and whether it was found taken in the version listed. */
  private last?: FileEntry;
  private lastTaken = false;

  constructor(memory: TakenMemory, since: number) {
    this.memory = memory;
    this.since = since;
  }

  /** The listing walks in walk order (walk.ts), resumed after `after`: folders listed whole merge their memos. */
  mergeInOrder(after: string | undefined): void {
    this.merge = { after };
  }

  /** Whether the current folder's memos come from the merge (no look-up, no prefetch needed). */
  get merging(): boolean {
    return this.memos !== undefined;
  }

  /** The listing (round `round`) showed this wanted file. */
  saw(e: FileEntry, round: number): void {
    const rel = e.rel;
    if (!this.memory.durable) return this.memory.saw(rel, round);
    const dir = dirOf(rel);
    if (dir !== this.dir) {
      this.dir = dir;
      this.names = new SeenNames();
      this.clean = true;
      this.mark = this.memory.listings.mark();
      this.files = 0;
      // a folder on the cursor's path is listed from the cursor on only (as the reader does, see walk.ts)
      const after = this.merge?.after;
      const whole = this.merge !== undefined && (after === undefined || (dir !== '' && !after.startsWith(`${dir}/`)));
      this.memos = whole ? this.memory.folderMemos(dir) : undefined;
    }
    this.files++;
    const name = dir === '' ? rel : rel.slice(dir.length + 1);
    if (!this.memos) {
      this.names.add(name);
      return;
    }
    // every listed file takes its memo from the merge (one skipped would read as gone)
    const memos = this.memos;
    const found = memos.find(name);
    this.last = e;
    // a local listing's entry (no change token) is compared with the memo's text, unparsed
    this.lastTaken = found && (e.token === undefined ? memos.isVersion(e.size, e.mtimeMs) : sameVersion(memos.memo(), e));
    if (this.lastTaken) return;
    // not in this version as read: a memo this process wrote since is newer (the cache holds it); the memo is
    // asked for again when the file is taken
    this.memory.looked(rel, found ? memos.memo() : undefined);
    this.lastTaken = this.memory.has(e);
    // it may be taken in this pass: its memo is then safe from this sweep (see holds)
    if (!this.lastTaken) this.names.add(name);
  }

  /** Taken already in this version (or left alone as an existing file): from the merge for the file just seen. */
  has(e: FileEntry): boolean {
    return this.memos !== undefined && this.last === e ? this.lastTaken : this.memory.has(e);
  }

  /**
   * Whether `rel` (in `dir`) is among the files seen in the folder being read and not found taken: its memo is
   * safe from this sweep. (Those found taken need no such note: a memo written for one of them in this pass
   * is noted in the memory's `written`.)
   */
  holds(dir: string, rel: string): boolean {
    return this.dir === dir && this.names.has(dir === '' ? rel : rel.slice(dir.length + 1));
  }

  /** The file just seen (saw) was not found taken in this version, or was not looked up: its folder is not clean. */
  pending(): void {
    this.clean = false;
  }

  /**
   * The reader listed `relDir` whole, and goes into these sub-folders. `digest`: its listing's digest, recorded
   * when every wanted file in it was found taken and no memo of the folder changed meanwhile.
   */
  folderListed(relDir: string, subdirs: string[], digest?: string): void {
    if (!this.memory.durable) return;
    const listings = this.memory.listings;
    const current = this.dir === relDir;
    // a folder without wanted files: nothing was looked up, so nothing could change under the look
    const clean = !current || (this.clean && !listings.changedSince(relDir, this.mark));
    if (current && this.memos) {
      // merged: the memos it passed over, and those past its last file, are of files the listing did not show
      const memos = this.memos;
      memos.finish();
      this.forgotten += this.memory.forgetKeys(memos.passed, this.since);
      const into = new Set(subdirs);
      const none = { has: () => false };
      for (const sub of memos.subfolders) {
        if (!into.has(sub)) this.forgotten += this.memory.forgetUnlisted(relDir === '' ? sub : `${relDir}/${sub}`, none, new Set(), this.since);
      }
    } else {
      const seen = current ? this.names : new SeenNames();
      this.forgotten += this.memory.forgetUnlisted(relDir, seen, new Set(subdirs), this.since);
    }
    // memos forgotten just now were of files the listing did not show: the memory now matches the listing
    if (digest !== undefined && clean) listings.record(relDir, digest, subdirs, current ? this.files : 0);
    else listings.drop(relDir);
    this.dir = undefined;
    this.names = new SeenNames();
    this.memos = undefined;
    this.last = undefined;
  }

  end(): void {
    if (this.memory.durable) this.memory.sweepEnded(this);
  }
}
