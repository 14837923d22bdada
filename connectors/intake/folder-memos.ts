// The memos of one folder's files (`taken:<folder>/<name>`), read by key range alongside the folder's listing.
// A walk in code-point order (walk.ts) lists a folder's files in the order SQLite keeps their keys, so the two
// merge like sorted lists: a page of memos is read in one query as the listing gets there, and a file's memo is
// the next one in line, or it has none. Memos passed over are of files the listing did not show (gone), which
// the folder's sweep forgets once it knows the folder was listed whole. Memos of sub-folders' files lie between
// the folder's own keys: each sub-folder's range is jumped over, and its name noted (the sweep forgets the
// memos of a sub-folder the walk no longer goes into). At most one page of memos is held.
import type { SourceState } from '../contract.ts';
import type { TakenMemo } from './memory.ts';
import { compareNames } from './walk.ts';

/** Memos read in one query, at most. */
export const MEMO_RANGE_PAGE = 1000;
/**
 * Memos read by the first query of a folder and the first after a sub-folder's: the keys there may all be
 * a sub-folder's (passed over unread), so the page grows (doubling) only while it finds the folder's own.
 */
export const FIRST_PAGE = 64;

/** The key right after every key that starts with `prefix` ("a/" → "a0": "/" and "0" are neighbours). */
export function pastPrefix(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

export class FolderMemos {
  private readonly state: SourceState;
  /** The folder's keys' common start: `taken:` and the folder's path with a trailing "/" (none for the root). */
  private readonly prefix: string;
  private readonly end: string;
  /** The page read last: names (after the prefix) and memos; `at` is the next one in line. */
  private names: string[] = [];
  private memos: TakenMemo[] = [];
  private at = 0;
  /** Where the next page starts (undefined: the folder's keys are all read), and its size. */
  private from: string | undefined;
  private limit = FIRST_PAGE;
  /** Keys of memos passed over: their files were not listed. */
  readonly passed: string[] = [];
  /** Sub-folders (names) that hold memos. */
  readonly subfolders = new Set<string>();

  constructor(state: SourceState, prefix: string) {
    this.state = state;
    this.prefix = prefix;
    this.end = pastPrefix(prefix);
    this.from = prefix;
  }

  /**
   * The memo of the file `name` of this folder. Names must come in ascending walk order; memos of names that
   * come before it and were not asked for are passed (their files were not listed).
   */
  memoOf(name: string): TakenMemo | undefined {
    for (;;) {
      if (this.at === this.names.length && !this.readPage()) return undefined;
      const i = this.at;
      const next = this.names[i];
      if (next === name) {
        this.at++;
        return this.memos[i];
      }
      if (compareNames(next, name) > 0) return undefined;
      this.at++;
      this.passed.push(this.prefix + next);
    }
  }

  /** The listing of the folder ended: every memo not asked for is passed. */
  finish(): void {
    for (;;) {
      while (this.at < this.names.length) this.passed.push(this.prefix + this.names[this.at++]);
      if (!this.readPage()) return;
    }
  }

  /** Reads the next page of the folder's own memos; false when there are none left. */
  private readPage(): boolean {
    this.names = [];
    this.memos = [];
    this.at = 0;
    while (this.from !== undefined && this.names.length === 0) {
      const limit = this.limit;
      const rows = this.state.range<TakenMemo>(this.from, this.end, limit);
      const cut = this.prefix.length;
      /** The sub-folder whose memos are being passed over ("<prefix><name>/"). */
      let skipping: string | undefined;
      for (const [key, memo] of rows) {
        if (skipping !== undefined && key.startsWith(skipping)) continue;
        skipping = undefined;
        const slash = key.indexOf('/', cut);
        if (slash >= 0) {
          this.subfolders.add(key.slice(cut, slash));
          skipping = key.slice(0, slash + 1);
          continue;
        }
        this.names.push(key.slice(cut));
        this.memos.push(memo);
      }
      // a page that ends inside a sub-folder's memos: the next one starts past them
      if (rows.length < limit) {
        this.from = undefined;
      } else if (skipping !== undefined) {
        this.from = pastPrefix(skipping);
        this.limit = FIRST_PAGE;
      } else {
        this.from = `${rows[rows.length - 1][0]}\u0000`;
        this.limit = Math.min(MEMO_RANGE_PAGE, limit * 2);
      }
    }
    return this.names.length > 0;
  }
}
