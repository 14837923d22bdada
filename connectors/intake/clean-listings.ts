// Folders whose listing needs no second look. A scheduled scan of a remote folder holding 100,000 files that were
// all taken long ago would otherwise parse every line, look up every file's memo and sweep every memo again, each
// time, to conclude that there is nothing to do. A reader that can digest a folder's listing as the server sends
// it (the bytes of an FTP LIST, the names, sizes and times of SFTP READDIR) reports that digest; when a pass found
// every wanted file of that folder already taken in the version listed, the folder is "clean" with that digest.
// The next pass only fetches the digest: the same digest means the same names, sizes and times, hence the same
// decisions (every file remembered, nothing to forget), so the folder's entries are not read at all.
//
// A record holds only while the memory of the folder's files is unchanged: every memo written or forgotten in a
// folder drops its record (TakenMemory calls `touched`), and a folder whose memos changed while its listing was
// read is not recorded. Records live in RAM (a few per folder, never per file): after a restart the first pass
// reads every folder again.

export interface CleanListing {
  /** The digest of the folder's listing when every wanted file in it was found taken. */
  digest: string;
  /** The sub-folders (names) the walk went into from it. */
  subdirs: string[];
}

export class CleanListings {
  private readonly records = new Map<string, CleanListing>();
  /** When each folder's memos last changed (a sequence number), while listings run. */
  private readonly lastTouch = new Map<string, number>();
  private seq = 0;
  /** Listing passes under way: touches are only worth keeping while one runs. */
  private passes = 0;

  /** The folder's clean record, if any. */
  get(relDir: string): CleanListing | undefined {
    return this.records.get(relDir);
  }

  /** A mark of "now", to ask later whether a folder's memos changed since (see changedSince). */
  mark(): number {
    return this.seq;
  }

  /** A memo in this folder was written or forgotten: its record no longer holds. */
  touched(relDir: string): void {
    this.records.delete(relDir);
    if (this.passes > 0) this.lastTouch.set(relDir, ++this.seq);
  }

  /** Whether the folder's memos changed after `mark` (only known while a pass runs; see passStarted). */
  changedSince(relDir: string, mark: number): boolean {
    return (this.lastTouch.get(relDir) ?? -1) > mark;
  }

  /** A pass read the folder whole and found every wanted file in it taken. */
  record(relDir: string, digest: string, subdirs: string[]): void {
    this.records.set(relDir, { digest, subdirs });
  }

  drop(relDir: string): void {
    this.records.delete(relDir);
  }

  passStarted(): void {
    this.passes++;
  }

  passEnded(): void {
    if (--this.passes === 0) this.lastTouch.clear();
  }
}
