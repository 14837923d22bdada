// What a storage (a local folder, an FTP or SFTP server) supplies to the file-intake core: a "stream reader"
// that lists files, looks at one, reads one, and moves or removes it. Everything else (which files are wanted,
// when one is complete, what was taken, retries, batching, after-delivery) is the core's (see core.ts).
import type { FileBody, ItemAttributes, NewItem } from '../contract.ts';
import type { FolderStamp } from './walk.ts';

/** One file as a listing or a look shows it. */
export interface FileEntry {
  /** Path relative to the source's root, "/"-separated. */
  rel: string;
  size: number;
  /** Modification time in ms (0 when the storage gives none). */
  mtimeMs: number;
  /**
   * The storage's own rendering of the time, where it is coarser than or different from mtimeMs (an FTP
   * LIST time): a change is seen even when the time cannot be parsed. Absent: mtimeMs is the change token.
   */
  token?: string;
}

export interface ListOptions {
  /** Whether to look into a sub-folder (relative, "/"-separated). */
  descend(relDir: string): boolean;
  /** Whether a file matters (wanted, or a ready marker): the others are skipped without a closer look. */
  wants(rel: string): boolean;
  /**
   * Each folder listed ("" = the root) with its identity (an inode), called before its entries are read: a
   * watcher that starts following it then misses nothing created while the listing runs.
   */
  onFolder?(relDir: string, id: number): void;
  /**
   * Resume a walk after this file (walk order: see walk.ts). Only readers with `sortedWalk` honour it; the
   * folders before it are still visited (onFolder) but not read.
   */
  after?: string;
  /** Folders unchanged since the last complete round: the reader need not read them, only walk on below. */
  unchanged?(relDir: string, stamp: string): FolderStamp | undefined;
  /** A folder was read: its stamp and sub-folders, and whether the stamp is old enough to trust next round. */
  folderRead?(relDir: string, s: FolderStamp, settled: boolean): void;
  /**
   * Called after the last page of a folder whose files were all yielded (read whole: not resumed part-way, not
   * skipped as unchanged), with the sub-folders (names) the walk goes into: what the listing did not show of
   * that folder is not there. `digest`: the digest of the folder's listing, from readers that can fetch it again
   * without reading the entries (see knownListing).
   */
  folderListed?(relDir: string, subdirs: string[], digest?: string): void;
  /**
   * A folder whose listing had this digest when all its wanted files were found taken (clean-listings.ts): a
   * reader that fetches the same digest again need not read its entries, only walk on into these sub-folders
   * (a remote reader fetches the digest alone; a local one stats the files and yields none of them).
   */
  knownListing?(relDir: string): { digest: string; subdirs: string[] } | undefined;
  /** The folder's listing had its known digest: its entries were not read (nor folderListed called). */
  listingUnchanged?(relDir: string): void;
}

/** A file opened for taking: its body, and the time and attributes its item carries. */
export interface OpenedFile {
  body: NewItem['body'];
  /** The time the item records (a protocol may refine the listing's, e.g. with FTP MDTM). */
  mtimeMs: number;
  attributes: ItemAttributes;
}

/** Why an operation failed, in the words problems and `ferry check` use; `missing` when the file or folder is gone. */
export interface ReadFailure {
  reason: string;
  missing: boolean;
}

export interface StreamReader {
  /** Where a file is, as messages name it ("/data/in/a.csv", "sftp://ferry@host:22/out/a.csv"); no rel: the root. */
  where(rel?: string): string;
  /**
   * Walks the tree (only into folders `descend` allows) and yields the files `wants` allows, a page at a time
   * (a folder's worth, or a part of one). Throws when the root cannot be listed; a sub-folder that vanished or
   * cannot be read is skipped. A reader holds no connection while the caller works on a page.
   */
  list(opts: ListOptions): AsyncIterable<FileEntry[]>;
  /** A fresh look at one file; undefined when it is gone or not a file. */
  stat(rel: string): Promise<FileEntry | undefined>;
  /**
   * Reads one file and hands its body to `take` (once, or again after a retry on a fresh connection). A body
   * in memory or on a local path is taken as it is; a stream stays open until `take` answers, which is false
   * when the body was not consumed (back pressure, a failed store): the reader then cuts the transfer. Errors
   * thrown are described by classify().
   */
  read(file: FileEntry, take: (opened: OpenedFile) => Promise<boolean>): Promise<void>;
  /**
   * Moves a delivered file to `toRel` under the archive folder (creating folders), never over an existing
   * file: false when that name is taken.
   */
  archive(rel: string, toRel: string): Promise<boolean>;
  /** Where `toRel` lies in the archive folder, for messages. */
  archiveWhere(toRel: string): string;
  /** Removes a file (a delivered one, or its ready marker); a missing file is an error classify() calls missing. */
  remove(rel: string): Promise<void>;
  /** Describes an error of this reader; `rel` names the file it concerned (none: the root, i.e. a listing). */
  classify(err: unknown, rel?: string): ReadFailure;
  /**
   * The listing walks in walk order (walk.ts), honours `after` and `unchanged`, and reports `folderRead`: the
   * core then stops a large listing at a cursor and resumes it, and skips unchanged folders. Without it the
   * core still holds only a window, and finds the rest in the next round.
   */
  readonly sortedWalk?: boolean;
  /** How many files may be read at once (connections × transfers each; 1 for synchronous local reads). */
  readonly parallel: number;
  /**
   * A look at one file costs microseconds (a local or mounted disk): the core then looks at each candidate again
   * right before taking it, and re-checks files still settling one by one. Otherwise (a server, one round trip
   * or more per look) it decides from listings, and the read checks the size.
   */
  readonly cheapStat: boolean;
  /**
   * Reading a file again costs a transfer: the core then remembers taken files durably in every mode (not only
   * for `keep`), so a restart does not download again what is already queued.
   */
  readonly rereadCostly: boolean;
  /** How far apart two times of the same file may be (a server giving seconds: 1000). */
  readonly timePrecisionMs: number;
  /**
   * Whether read() hands this file's body over as a file the engine copies into its store (which hashes it as
   * it copies): `keep` then asks the store whether the content changed instead of reading the file to hash it.
   */
  bodyIsFile?(f: FileEntry): boolean;
  /** The body read() hands over for this file when it is a local file the engine copies (see bodyIsFile). */
  fileBody?(f: FileEntry): FileBody | undefined;
  /** The SHA-256 of a file's content, where reading it to hash is cheap: `keep` then recognises touched but unchanged files. */
  contentHash?(rel: string): Promise<string>;
  /** Why a complete file cannot be taken now (another program holds it open on Windows), or undefined. */
  busy?(rel: string): Promise<string | undefined>;
}
