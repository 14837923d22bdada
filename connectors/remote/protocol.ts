// What each remote protocol (ftp/client.ts, sftp/client.ts) implements: how to connect, and what one
// logged-in session can do. The shared source, destination and pool (this folder) work on these alone.
import type { Readable, Writable } from 'node:stream';
import type { DownloadBody } from './download-body.ts';

export interface RemoteEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
  /** Modification time in ms (0 when the server gives none). */
  mtimeMs: number;
  /** The server's own rendering of the time (LIST), so a change is seen even when it cannot be parsed. */
  rawTime: string;
}

/**
 * A folder read a page at a time, where the protocol reads folders in parts (SFTP: READDIR answers about 100
 * names at a time): a folder of 100,000 files is never held whole. Its requests go over the session that opened
 * it, which may meanwhile carry other transfers (the protocol multiplexes).
 */
export interface FolderPages {
  /** The next page (possibly empty), or undefined at the end. */
  next(): Promise<RemoteEntry[] | undefined>;
  /** Stops reading early (nothing waits for the server's answer). */
  close(): void;
  /** After the last page: the digest of the whole listing, as listingDigest() gives it. */
  digest?(): string | undefined;
}

/** A folder read whole, with the digest of its listing (see RemoteSession.listingDigest); its entries built a page at a time, once. */
export interface DigestedFolder {
  pages: Iterable<RemoteEntry[]>;
  digest: string;
}

/** One logged-in connection. Methods take absolute remote paths. */
export interface RemoteSession {
  readonly closed: boolean;
  list(dir: string): Promise<RemoteEntry[]>;
  /** Opens a folder to read in pages (see FolderPages); without it, list() reads a folder whole. */
  openFolder?(dir: string): Promise<FolderPages>;
  /** list() with the digest of the listing (protocols that offer listingDigest and read folders whole). */
  listDigested?(dir: string): Promise<DigestedFolder>;
  /**
   * A digest of a folder's listing (names, types, sizes and times, as the server sends them), fetched without
   * building its entries: the same listing gives the same digest. The intake then skips a folder whose listing
   * is unchanged since all its files were found taken (connectors/intake/clean-listings.ts).
   */
  listingDigest?(dir: string): Promise<string>;
  /** Size and time of one file, or undefined when it does not exist. */
  stat(file: string): Promise<{ size: number; mtimeMs: number; type: RemoteEntry['type'] } | undefined>;
  /** A precise modification time when the protocol has a cheaper/better way than the listing (FTP MDTM). */
  preciseMtime?(file: string, listed: RemoteEntry): Promise<number>;
  download(file: string, into: Writable): Promise<void>;
  /** Downloads into a body that reuses its memory, then ends it (see download-body.ts); where offered, large files take this way. */
  downloadToBody?(file: string, body: DownloadBody): Promise<void>;
  /**
   * Reads a whole small file of the listed size when the protocol has a quicker way than a stream (SFTP). The
   * session watches these reads itself: when the server answers none for the connection's timeoutMs, they fail
   * with an error marked `stalled: true` (the caller drops the connection).
   */
  readSmall?(file: string, size: number): Promise<Buffer>;
  upload(from: Readable, file: string): Promise<void>;
  /** Renames; fails when the target exists (or replaces it: protocol-dependent, callers check first). */
  rename(from: string, to: string): Promise<void>;
  remove(file: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  close(): Promise<void>;
}

/** Why a remote operation failed, in the words `ferry check` prints, and whether retrying can help. */
export interface RemoteFailure {
  reason: string;
  /** The connection is unusable afterwards (drop, timeout): discard it. */
  broken: boolean;
  kind: 'unreachable' | 'auth' | 'hostkey' | 'tls' | 'permission' | 'missing' | 'timeout' | 'dropped' | 'other';
}

export interface RemoteFs {
  /** e.g. "sftp://ferry@files.example:22" (never with a password). */
  readonly label: string;
  connect(): Promise<RemoteSession>;
  classify(err: unknown, what?: string): RemoteFailure;
  /** Something `check` should add to an OK (e.g. an SFTP host key that is not pinned yet). */
  checkNote?(): string | undefined;
  /** Loads the protocol library (see Source.prepare). */
  load?(): Promise<unknown>;
  /**
   * Transfers one connection may carry at once (default 1: FTP runs one command at a time per connection; an
   * SFTP channel takes many requests in flight). The pool shares a connection only when all are open and busy.
   */
  readonly transfersPerConnection?: number;
}
