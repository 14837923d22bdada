// How the intake core walks a large tree with little memory. A listing "round" visits the whole tree, but the
// core holds at most a window of candidates: when the window is full the listing stops at a cursor (the last
// file admitted) and the round goes on from there once the window has drained. A reader that walks in the
// order below (folders depth first, each folder's files by name, then its sub-folders by name) can resume at
// the cursor (ListOptions.after); one that cannot keeps listing without admitting, and the next round finds
// the rest. Folders whose stamp (identity and modification time) is unchanged since a complete round need not
// be read again: their entries are the same, and changes of files in place come through the watch.
//
// Names are ordered by code point, the same on every platform (not locale order), and the order SQLite keeps
// the flow's state keys in (it compares UTF-8 bytes): a folder's listing and its memos (`taken:<rel>`, read
// by key range) then come in one order and merge without a look-up per file (folder-memos.ts). JavaScript's
// `<` compares UTF-16 code units, which differs only where one name has a character above U+FFFF (a surrogate
// pair) and the other one from U+E000 to U+FFFF at the same place.

/** Names holding a code unit from U+D800 up, where code-unit and code-point order may part. */
const HIGH_UNIT = /[\uD800-\uFFFF]/;

/** Compares two names by code point (negative: a first). */
export function compareNames(a: string, b: string): number {
  const n = a.length < b.length ? a.length : b.length;
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  let x = a.charCodeAt(i);
  let y = b.charCodeAt(i);
  if (x >= 0xd800 && y >= 0xd800) {
    // surrogates (characters above U+FFFF) come after U+E000–U+FFFF
    x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
    y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
  }
  return x - y;
}

/** Sorts a folder's names in walk order (code points; native code-unit comparison where that is the same). */
export function sortNames(names: string[]): string[] {
  for (const name of names) if (HIGH_UNIT.test(name)) return names.sort(compareNames);
  return names.sort(); // strings compared by code unit: the same order when no name reaches U+D800
}

/**
 * Whether a file `rel` comes after `cursor` in walk order: at the first differing level a file of the folder
 * comes before anything in its sub-folders, then names compare by code unit.
 */
export function afterCursor(rel: string, cursor: string): boolean {
  const a = rel.split('/');
  const b = cursor.split('/');
  for (let i = 0; ; i++) {
    const aFile = i === a.length - 1;
    const bFile = i === b.length - 1;
    if (a[i] === b[i]) {
      if (aFile || bFile) return !aFile; // same name: the same file (not after), or a folder below the cursor's file
      continue;
    }
    if (aFile !== bFile) return bFile; // a file of this folder comes before the sub-folders
    return compareNames(a[i], b[i]) > 0;
  }
}

/** Whether a folder `relDir` ("" = root) holds files at or after `cursor` (it may have to be read when resuming). */
export function folderReachesCursor(relDir: string, cursor: string): boolean {
  if (relDir === '') return true;
  const d = relDir.split('/');
  const c = cursor.split('/');
  for (let i = 0; i < d.length; i++) {
    if (i === c.length - 1) return true; // the cursor is a file above this folder: all of the folder comes after
    if (d[i] !== c[i]) return compareNames(d[i], c[i]) > 0;
  }
  return true; // the cursor lies inside this folder
}

/** What a reader reports of a folder it read, and what the core tells it of folders it need not read. */
export interface FolderStamp {
  /** Identity and modification time, as the storage gives them ("ino:mtime"). */
  stamp: string;
  /** The sub-folders it held (names), so a walk can go on below an unread folder. */
  subdirs: string[];
}

/** Folder stamps of the last complete round: bounded by the number of folders, not of files. */
export class FolderStamps {
  private current = new Map<string, FolderStamp>();
  private next = new Map<string, FolderStamp>();
  /** Whether every folder read in this round had all its files admitted (nothing left for a later round). */
  private whole = true;
  /** A folder of this round changed too recently to trust its stamp. */
  private recent = false;
  /** Every folder of the last complete round has its trusted stamp in `current`. */
  private everyKnown = false;

  /** The stamp of a folder as of the last complete round. */
  known(relDir: string): FolderStamp | undefined {
    return this.current.get(relDir);
  }

  /** A folder was read (or found unchanged) in this round. `settled`: its stamp is old enough to trust. */
  listed(relDir: string, s: FolderStamp, settled: boolean): void {
    if (settled) this.next.set(relDir, s);
    else this.recent = true;
  }

  /** Something in this round was left for later (the window was full, back pressure): trust no stamp of it. */
  leftSome(): void {
    this.whole = false;
  }

  /** The round ended: its stamps serve the next one, if it left nothing behind. */
  roundEnded(complete: boolean): void {
    const whole = complete && this.whole;
    this.current = whole ? this.next : new Map();
    this.everyKnown = whole && !this.recent;
    this.next = new Map();
    this.whole = true;
    this.recent = false;
  }

  /** Forget every stamp: the next round reads every folder. */
  clear(): void {
    this.current = new Map();
    this.everyKnown = false;
  }

  /**
   * The stamps of every folder of the last complete round, when each is trusted: while none of them changes,
   * a round would read nothing. Undefined when a round has to read some folder anyway.
   */
  everyFolder(): ReadonlyMap<string, FolderStamp> | undefined {
    return this.everyKnown ? this.current : undefined;
  }
}
