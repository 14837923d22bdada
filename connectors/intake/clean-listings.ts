// Folders whose listing needs no second look. A scheduled scan of a remote folder holding 100,000 files that were
// all taken long ago would otherwise parse every line, look up every file's memo and sweep every memo again, each
// time, to conclude that there is nothing to do. A reader that can digest a folder's listing reports that digest:
// FTP and SFTP as the server sends it (the bytes of an FTP LIST, the names, sizes and times of SFTP READDIR), a
// local folder or share from its files' stats (listing-digest.ts). When a pass found every wanted file of that
// folder already taken in the version listed, the folder is "clean" with that digest. The next pass only
// fetches the digest: the same digest means the same names, sizes and times, hence the same decisions (every
// file remembered, nothing to forget), so no entry is built and no memo looked up.
//
// A record holds only while the memory of the folder's files is unchanged: every memo written or forgotten in a
// folder drops its record (TakenMemory calls `touched`, before a taken file's memo is committed), and a folder
// whose memos changed while its listing was read is not recorded. Records are kept in the flow's state too
// (`listing:<folder>`, written a batch at a time; dropped there as soon as the folder's memory changes), so a
// restart's first pass needs no memo look-up in a folder that is still as it was. All of them are held in RAM
// (one per folder, never per file), which is how a drop knows whether there is a stored one to delete.
import type { SourceState } from '../contract.ts';

export interface CleanListing {
  /** The digest of the folder's listing when every wanted file in it was found taken. */
  digest: string;
  /** The sub-folders (names) the walk went into from it. */
  subdirs: string[];
  /** The wanted files it held. */
  files?: number;
}

/** State keys of the stored records: `listing:<folder>` ("" = the root). */
export const LISTING_PREFIX = 'listing:';
const PAST_PREFIX = 'listing;';
/** Records read at once when they are loaded. */
const READ_PAGE = 500;
/** Records stored at most (each a few dozen bytes; beyond, folders are still recorded, in RAM only). */
const MAX_STORED = 200_000;
/** Records written in one transaction. */
const WRITE_BATCH = 500;

export class CleanListings {
  private readonly records = new Map<string, CleanListing>();
  /** When each folder's memos last changed (a sequence number), while listings run. */
  private readonly lastTouch = new Map<string, number>();
  private seq = 0;
  /** Listing passes under way: touches are only worth keeping while one runs. */
  private passes = 0;
  private state?: SourceState;
  /** Folders whose record is in the state. */
  private readonly stored = new Set<string>();
  /** Records to write at the next flush. */
  private readonly unwritten = new Map<string, CleanListing>();

  /**
   * Reads the stored records, the first time. A flow hands each scan a fresh handle on the same state: later
   * binds only take the new handle (the records in RAM are the stored ones, plus those not yet written).
   */
  bind(state: SourceState): void {
    const first = this.state === undefined;
    this.state = state;
    if (!first) return;
    // every key of the prefix, whatever its characters (`listing;` is the first key past them)
    for (let from = LISTING_PREFIX; ; ) {
      const keys = state.keys(from, PAST_PREFIX, READ_PAGE);
      if (keys.length === 0) break;
      for (const [key, rec] of state.getMany<CleanListing>(keys)) {
        const dir = key.slice(LISTING_PREFIX.length);
        this.records.set(dir, rec);
        this.stored.add(dir);
      }
      if (keys.length < READ_PAGE) break;
      from = `${keys[keys.length - 1]}\u0000`;
    }
  }

  /** The folder's clean record, if any. */
  get(relDir: string): CleanListing | undefined {
    return this.records.get(relDir);
  }

  /** A mark of "now", to ask later whether a folder's memos changed since (see changedSince). */
  mark(): number {
    return this.seq;
  }

  /** A memo in this folder is being written or forgotten: its record no longer holds (in the state neither). */
  touched(relDir: string): void {
    this.drop(relDir);
    if (this.passes > 0) this.lastTouch.set(relDir, ++this.seq);
  }

  /** Whether the folder's memos changed after `mark` (only known while a pass runs; see passStarted). */
  changedSince(relDir: string, mark: number): boolean {
    return (this.lastTouch.get(relDir) ?? -1) > mark;
  }

  /** A pass read the folder whole and found every wanted file in it taken. */
  record(relDir: string, digest: string, subdirs: string[], files: number): void {
    const had = this.records.get(relDir);
    const rec: CleanListing = { digest, subdirs, files };
    this.records.set(relDir, rec);
    if (!this.state) return;
    if (this.stored.has(relDir) && had?.digest === digest && had.files === files && sameNames(had.subdirs, subdirs)) return;
    if (!this.stored.has(relDir) && this.stored.size + this.unwritten.size >= MAX_STORED) return;
    this.unwritten.set(relDir, rec);
    if (this.unwritten.size >= WRITE_BATCH) this.flush();
  }

  /** The folder is not (or no longer) clean. */
  drop(relDir: string): void {
    if (!this.records.delete(relDir)) return;
    this.unwritten.delete(relDir);
    if (this.stored.delete(relDir)) this.state?.delete(LISTING_PREFIX + relDir);
  }

  /**
   * Writes the records made since the last flush, in one transaction. A record is only a saving: one that
   * cannot be written now (a full disk) stays in RAM and is written at a later flush.
   */
  flush(): void {
    if (this.unwritten.size === 0 || !this.state) return;
    const batch: Array<[string, unknown]> = [];
    for (const [dir, rec] of this.unwritten) batch.push([LISTING_PREFIX + dir, rec]);
    try {
      this.state.setMany(batch);
    } catch {
      return;
    }
    for (const dir of this.unwritten.keys()) this.stored.add(dir);
    this.unwritten.clear();
  }

  passStarted(): void {
    this.passes++;
  }

  passEnded(): void {
    if (--this.passes === 0) {
      this.lastTouch.clear();
      this.flush();
    }
  }
}

function sameNames(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
