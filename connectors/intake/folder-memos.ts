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

const SIZE_AT = '{"size":'.length;
const TIME = ',"mtimeMs":';

/**
 * Whether a memo's stored text `{"size":S,"mtimeMs":M}` (the form JSON.stringify gives a memo of a local file)
 * says this size and time; undefined when the text has another form (other fields, another order), which the
 * caller parses. The size's digits are read in place; the time is read as JSON.parse would read it.
 */
export function plainMemoIs(text: string, size: number, mtimeMs: number): boolean | undefined {
  if (!text.startsWith('{"size":')) return undefined;
  let i = SIZE_AT;
  let s = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    s = s * 10 + (c - 48);
  }
  // digits only, at most 15 (exact as numbers), then the time, then the end
  if (i === SIZE_AT || i - SIZE_AT > 15 || !text.startsWith(TIME, i) || text.charCodeAt(text.length - 1) !== 125) return undefined;
  const at = i + TIME.length;
  // a JSON number starts with "-" or a digit (Number() would also take spaces, "0x", "Infinity")
  const first = text.charCodeAt(at);
  if (first !== 45 && (first < 48 || first > 57)) return undefined;
  for (let k = at; k < text.length - 1; k++) {
    const c = text.charCodeAt(k);
    // digits, "-", "+", ".", "e", "E": anything else (a comma, a quote) means other fields
    if (!((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69)) return undefined;
  }
  const m = Number(text.slice(at, text.length - 1));
  if (Number.isNaN(m)) return undefined;
  return s === size && m === mtimeMs;
}

export class FolderMemos {
  private readonly state: SourceState;
  /** The folder's keys' common start: `taken:` and the folder's path with a trailing "/" (none for the root). */
  private readonly prefix: string;
  private readonly end: string;
  /**
   * The page read last: names (after the prefix) and memos, each parsed or as its stored text (parsed when
   * asked for); `at` is the next one in line, `found` the one memoOf/find found last.
   */
  private names: string[] = [];
  private memos: Array<TakenMemo | string> = [];
  private at = 0;
  private found = -1;
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
    return this.find(name) ? this.memo() : undefined;
  }

  /** As memoOf: whether the file `name` has a memo (then memo() and isVersion() speak of it). */
  find(name: string): boolean {
    this.found = -1;
    for (;;) {
      if (this.at === this.names.length && !this.readPage()) return false;
      const i = this.at;
      const next = this.names[i];
      if (next === name) {
        this.at++;
        this.found = i;
        return true;
      }
      if (compareNames(next, name) > 0) return false;
      this.at++;
      this.passed.push(this.prefix + next);
    }
  }

  /** The memo find() found. */
  memo(): TakenMemo {
    const m = this.memos[this.found];
    if (typeof m !== 'string') return m;
    const parsed = JSON.parse(m) as TakenMemo;
    this.memos[this.found] = parsed;
    return parsed;
  }

  /**
   * Whether the memo find() found is of a file of this size and time with no change token (what a local
   * listing's entry is): read from its text where it has the form memos are written in, without parsing it.
   */
  isVersion(size: number, mtimeMs: number): boolean {
    const m = this.memos[this.found];
    if (typeof m === 'string') {
      const plain = plainMemoIs(m, size, mtimeMs);
      if (plain !== undefined) return plain;
    }
    const memo = this.memo();
    return memo.size === size && memo.rawTime === undefined && memo.mtimeMs === mtimeMs;
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
      const rows: Array<[string, TakenMemo | string]> = this.state.rangeText ? this.state.rangeText(this.from, this.end, limit) : this.state.range<TakenMemo>(this.from, this.end, limit);
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
