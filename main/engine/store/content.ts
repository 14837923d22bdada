// The content store: item bodies too large to sit in a SQLite row live here as files, written to a temp
// name, fsynced and renamed before the row that points at them commits. Small bodies stay inline.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable, type Readable } from 'node:stream';
import { FILE_CHANGED, STORE_AHEAD_MIN_BYTES, type FileBody, type FileVersion, type NewItem } from '../../../connectors/contract.ts';
import { whileStreamingLarge } from '../memory.ts';
import { copyHashing, hashFile } from './file-blocks.ts';

/** Bodies up to this size are stored inline in the items table (one fsync for a whole intake batch). */
/** Bodies above this size stream with a roomier heap (see memory.ts). */
const LARGE_STREAM_BYTES = 32 * 1024 * 1024;

export const INLINE_MAX_BYTES = 256 * 1024;

/** Network reads come in 16–64 KB; gathering them into writes of up to this size saves thread-pool round trips. */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Files at least this large are cloned where the file system can (a clone costs a few system calls). */
const CLONE_MIN_BYTES = 1024 * 1024;
/** A large body is flushed to disk in the background every this many bytes, so its final fsync has little left. */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;
/** Copies stored ahead at once, at most (each holds disk until its file is taken). */
const STORE_AHEAD_MAX = 2;
/** A copy stored ahead that no put claimed within this long is dropped (its file was never taken). */
const STORE_AHEAD_TTL_MS = 2 * 60_000;

/**
 * Writes a body into an open file, hashing and counting it, in batched writes (while one write runs, the next
 * chunks gather). Syncs written data in the background as it goes; any error of those syncs fails the body
 * (after a failed fsync the kernel may have dropped the pages, so a later fsync proves nothing).
 */
class BodyFileWriter extends Writable {
  size = 0;
  private readonly hash = crypto.createHash('sha256');
  private readonly handle: fs.promises.FileHandle;
  private position = 0;
  private unsynced = 0;
  private syncing?: Promise<void>;
  private syncError?: unknown;

  private readonly recycle?: (chunk: Buffer) => void;

  constructor(handle: fs.promises.FileHandle, recycle?: (chunk: Buffer) => void) {
    super({ highWaterMark: WRITE_BATCH_BYTES });
    this.handle = handle;
    this.recycle = recycle;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writeAll([chunk]).then(() => done(), done);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    this.writeAll(chunks.map((c) => c.chunk)).then(() => done(), done);
  }

  private async writeAll(buffers: Buffer[]): Promise<void> {
    if (this.syncError) throw this.syncError;
    let bytes = 0;
    for (const b of buffers) {
      this.hash.update(b);
      bytes += b.length;
    }
    this.size += bytes;
    let rest = buffers;
    while (rest.length > 0) {
      const { bytesWritten } = await this.handle.writev(rest, this.position);
      if (bytesWritten === 0) throw new Error('the disk accepted no more bytes (short write)');
      this.position += bytesWritten;
      rest = dropBytes(rest, bytesWritten);
    }
    if (this.recycle) for (const b of buffers) this.recycle(b);
    this.unsynced += bytes;
    if (this.unsynced >= SYNC_EVERY_BYTES && !this.syncing) {
      this.unsynced = 0;
      this.syncing = this.handle.datasync().then(
        () => (this.syncing = undefined),
        (err: unknown) => {
          this.syncError ??= err;
          this.syncing = undefined;
        },
      );
    }
  }

  /** Makes everything written durable (data and size); fails when a background sync failed. */
  async sync(): Promise<void> {
    await this.idle();
    if (this.syncError) throw this.syncError;
    await this.handle.sync();
  }

  /** Waits for a background sync still running (before the file is closed). */
  async idle(): Promise<void> {
    await this.syncing;
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}

/** The buffers left after the first n bytes were written (a short write). */
function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < buffers.length && n >= buffers[i].length) n -= buffers[i++].length;
  if (i === buffers.length) return [];
  return n > 0 ? [buffers[i].subarray(n), ...buffers.slice(i + 1)] : buffers.slice(i);
}

const iso = (ms: number) => new Date(ms).toISOString();

export interface StoredBody {
  size: number;
  sha256: string;
  inline?: Buffer;
  /** File name relative to the content folder. */
  file?: string;
}

/** The sha256 (hex) of a file's content and its length, read in large reused blocks. */
export async function sha256OfFile(file: string | fs.promises.FileHandle): Promise<{ sha256: string; bytes: number }> {
  if (typeof file !== 'string') return hashFile(file);
  const handle = await fs.promises.open(file, 'r');
  try {
    return await hashFile(handle);
  } finally {
    await handle.close();
  }
}

/** A body stored under a temp name, fsynced, not yet committed; `seen` is the source file as it was looked at. */
interface TmpBody {
  tmp: string;
  file: string;
  size: number;
  sha256: string;
  seen: fs.Stats;
}

interface AheadEntry {
  version: FileVersion;
  done: Promise<TmpBody | undefined>;
  timer?: NodeJS.Timeout;
}

/** The same file, not written since: a write changes the change time, which no writer can set back. */
function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

const sameVersion = (a: FileVersion, b: FileVersion) => a.size === b.size && a.mtimeMs === b.mtimeMs;

/** Throws FILE_CHANGED when the open file is no longer as `before` saw it. */
async function unchangedSince(handle: fs.promises.FileHandle, before: fs.Stats, file: string): Promise<void> {
  const after = await handle.stat();
  if (!sameFile(after, before)) {
    throw new Error(`${FILE_CHANGED} while it was copied: ${file} (${before.size} bytes before, ${after.size} after)`);
  }
}

export class ContentStore {
  readonly dir: string;
  /** The content folder's file system cannot clone files (found on the first try). */
  private cannotClone = false;
  /** Temp files this store is writing now (a slow download may not touch its file for minutes). */
  private readonly writing = new Set<string>();
  /** Copies stored ahead of their put, by source path (see storeAhead). */
  private readonly ahead = new Map<string, AheadEntry>();
  /** Copies stored ahead: started, used by their put, dropped (the file changed, went away or was not taken). */
  readonly aheadCounts = { started: 0, used: 0, dropped: 0 };
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'content');
    fs.mkdirSync(path.join(this.dir, 'tmp'), { recursive: true });
  }

  pathOf(file: string): string {
    return path.join(this.dir, file);
  }

  /** Stores a body durably; small ones come back inline, large ones as a fsynced file. */
  async put(body: NewItem['body']): Promise<StoredBody> {
    if ('bytes' in body) return this.putBytes(body.bytes);
    if ('file' in body) {
      let ahead = this.claimAhead(body.file, body.version);
      const handle = await fs.promises.open(body.file, 'r').catch((err: unknown) => {
        if (ahead) this.dropClaimed(ahead);
        throw err;
      });
      try {
        const before = await handle.stat();
        if (body.version && !sameVersion(before, body.version)) {
          throw new Error(`${FILE_CHANGED} after it settled: ${body.file} has ${before.size} bytes, modified ${iso(before.mtimeMs)} (it settled with ${body.version.size} bytes, modified ${iso(body.version.mtimeMs)})`);
        }
        if (ahead) {
          const copy = await ahead;
          ahead = undefined;
          // the copy began after the file's last write: it is the file as it settled if nothing changed since
          if (copy && sameFile(copy.seen, before)) {
            this.aheadCounts.used++;
            return await this.commitTmp(copy);
          }
          this.aheadCounts.dropped++;
          if (copy) await this.discardTmp(copy);
        }
        if (before.size <= INLINE_MAX_BYTES) {
          const bytes = await handle.readFile();
          await unchangedSince(handle, before, body.file);
          return this.putBytes(bytes);
        }
        return await this.commitTmp(await this.storeTmp(handle, body.file, before));
      } finally {
        if (ahead) this.dropClaimed(ahead); // the file changed after it settled: the put failed
        await handle.close();
      }
    }
    return this.putStream(body.stream, body.size, body.recycle);
  }

  /**
   * Starts copying a large local file into the store before it is taken: a file that arrived whole (renamed
   * into the folder, copied with its times) is copied while its settle runs, not after. The copy waits, not
   * yet committed, for the put() of the same file and version; a file that changed, or was never taken within
   * STORE_AHEAD_TTL_MS, loses its copy. False when nothing was started.
   */
  storeAhead(body: FileBody): boolean {
    if (body.version.size < STORE_AHEAD_MIN_BYTES) return false;
    const earlier = this.ahead.get(body.file);
    if (earlier && sameVersion(earlier.version, body.version)) return false;
    if (earlier) this.dropAhead(body.file, earlier); // the file changed since: that copy is of no use
    if (this.ahead.size >= STORE_AHEAD_MAX) return false;
    this.aheadCounts.started++;
    const entry: AheadEntry = { version: body.version, done: this.copyAhead(body) };
    this.ahead.set(body.file, entry);
    entry.timer = setTimeout(() => this.dropAhead(body.file, entry), STORE_AHEAD_TTL_MS);
    entry.timer.unref();
    // a copy that failed (the file changed or went away while it was read) makes room at once
    void entry.done.then((copy) => void (copy === undefined && this.dropAhead(body.file, entry)));
    return true;
  }

  /** Copies being stored ahead (tests and the status's curious). */
  get aheadCount(): number {
    return this.ahead.size;
  }

  /**
   * Drops every copy stored ahead (the engine stops). A copy still running is removed when it ends; if the
   * process ends first, the next start removes its temp file with the other stale ones.
   */
  dropAllAhead(): void {
    for (const [file, entry] of [...this.ahead]) this.dropAhead(file, entry);
  }

  /**
   * Takes the copy stored ahead of this file's version, if one was started. A copy of another version (or a
   * put with no version to match) is dropped: the file changed since it began.
   */
  private claimAhead(file: string, version: FileVersion | undefined): Promise<TmpBody | undefined> | undefined {
    const entry = this.ahead.get(file);
    if (!entry) return undefined;
    if (!version || !sameVersion(entry.version, version)) {
      this.dropAhead(file, entry);
      return undefined;
    }
    this.ahead.delete(file);
    clearTimeout(entry.timer);
    return entry.done;
  }

  private dropAhead(file: string, entry: AheadEntry): void {
    if (this.ahead.get(file) !== entry) return;
    this.ahead.delete(file);
    clearTimeout(entry.timer);
    this.dropClaimed(entry.done);
  }

  /** Removes a copy stored ahead once it ends (the put that claimed it failed, or it was dropped). */
  private dropClaimed(done: Promise<TmpBody | undefined>): void {
    this.aheadCounts.dropped++;
    void done.then((copy) => copy && this.discardTmp(copy));
  }

  private async copyAhead(body: FileBody): Promise<TmpBody | undefined> {
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await fs.promises.open(body.file, 'r');
      const seen = await handle.stat();
      if (seen.size !== body.version.size || seen.mtimeMs !== body.version.mtimeMs) return undefined;
      return await this.storeTmp(handle, body.file, seen);
    } catch {
      return undefined; // the put copies afresh and says what is wrong, if anything still is
    } finally {
      await handle?.close();
    }
  }

  /**
   * Stores a local file (open as `handle`, looked at as `before`) into a temp file, hashed and fsynced: a clone
   * where the file system can, a copy otherwise. Whatever was copied must be the file as it was looked at: a
   * write while it was read (in place, at the same size) would leave a copy of neither version, and a write
   * changes the change time, which no writer can set. The caller commits or discards the temp file.
   */
  private async storeTmp(handle: fs.promises.FileHandle, source: string, before: fs.Stats): Promise<TmpBody> {
    const unchanged = () => unchangedSince(handle, before, source);
    const cloned = before.size >= CLONE_MIN_BYTES ? await this.cloneTmp(source, before, unchanged) : undefined;
    return cloned ?? (await this.copyTmp(handle, before, unchanged));
  }

  /**
   * Where the file system can (Btrfs, XFS with reflink, APFS, ReFS), the body is a copy-on-write clone of the
   * file: no data copied, and a writer changing the file afterwards changes only the original. The clone is
   * then read once to hash it. Undefined when the file system cannot clone (the caller copies, hashing as it
   * goes), or when the clone failed for any reason a copy may not share.
   */
  private async cloneTmp(source: string, before: fs.Stats, unchanged: () => Promise<void>): Promise<TmpBody | undefined> {
    if (this.cannotClone) return undefined;
    const file = this.newName();
    const tmp = path.join(this.dir, 'tmp', path.basename(file));
    try {
      await fs.promises.copyFile(source, tmp, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE_FORCE);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      // the content folder's file system cannot clone: copy from now on, without asking again (EXDEV, another
      // volume than this source's, is asked again: another source may share the volume)
      if (code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'ENOTTY') this.cannotClone = true;
      return undefined;
    }
    this.writing.add(path.basename(tmp));
    try {
      // a clone is the file at one instant: the file as it was looked at if it has not changed since
      await unchanged();
      const handle = await fs.promises.open(tmp, 'r+');
      let sha256: string;
      let got: number;
      try {
        ({ sha256, bytes: got } = await sha256OfFile(handle));
        await handle.sync();
      } finally {
        await handle.close();
      }
      if (got !== before.size) throw new Error(`body was ${got} bytes, expected ${before.size} (the file changed or the transfer was cut)`);
      return { tmp, file, size: before.size, sha256, seen: before };
    } catch (err) {
      await this.discardTmp({ tmp });
      throw err;
    }
  }

  /** Copies a local file in one pass, hashing each block as it is written (see copyHashing). */
  private async copyTmp(source: fs.promises.FileHandle, before: fs.Stats, unchanged: () => Promise<void>): Promise<TmpBody> {
    const file = this.newName();
    const tmp = path.join(this.dir, 'tmp', path.basename(file));
    this.writing.add(path.basename(tmp));
    try {
      const handle = await fs.promises.open(tmp, 'wx');
      let copied: { sha256: string; bytes: number };
      try {
        try {
          // a copy of a file written meanwhile cannot be used: it stops at the next sync, not at the end
          copied = await copyHashing(source, handle, { syncEveryBytes: SYNC_EVERY_BYTES, check: unchanged });
        } catch (err) {
          await unchanged(); // a file that grew or shrank while it was read says so
          throw err;
        }
        await unchanged();
        if (copied.bytes !== before.size) throw new Error(`body was ${copied.bytes} bytes, expected ${before.size} (the file changed or the transfer was cut)`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return { tmp, file, size: before.size, sha256: copied.sha256, seen: before };
    } catch (err) {
      await this.discardTmp({ tmp });
      throw err;
    }
  }

  /** Moves a stored temp file to its name: from now on a row may point at it. */
  private async commitTmp(t: TmpBody): Promise<StoredBody> {
    try {
      await this.commitFile(t.tmp, t.file);
    } catch (err) {
      await fs.promises.rm(t.tmp, { force: true });
      throw err;
    } finally {
      this.writing.delete(path.basename(t.tmp));
    }
    return { size: t.size, sha256: t.sha256, file: t.file };
  }

  private async discardTmp(t: { tmp: string }): Promise<void> {
    try {
      await fs.promises.rm(t.tmp, { force: true });
    } finally {
      this.writing.delete(path.basename(t.tmp));
    }
  }

  private async putBytes(bytes: Buffer): Promise<StoredBody> {
    // crypto.hash: one call, no Hash object per body (a small file's hash is on every file's path)
    const sha256 = crypto.hash('sha256', bytes, 'hex');
    if (bytes.length <= INLINE_MAX_BYTES) return { size: bytes.length, sha256, inline: bytes };
    const file = this.newName();
    const tmp = path.join(this.dir, 'tmp', path.basename(file));
    const handle = await fs.promises.open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.commitFile(tmp, file);
    return { size: bytes.length, sha256, file };
  }

  private async putStream(stream: Readable, expectedSize?: number, recycle?: (chunk: Buffer) => void): Promise<StoredBody> {
    const file = this.newName();
    const tmp = path.join(this.dir, 'tmp', path.basename(file));
    const handle = await fs.promises.open(tmp, 'wx');
    const out = new BodyFileWriter(handle, recycle);
    this.writing.add(path.basename(tmp));
    try {
      try {
        if (expectedSize !== undefined && expectedSize > LARGE_STREAM_BYTES) await whileStreamingLarge(() => pipeline(stream, out));
        else await pipeline(stream, out);
        if (expectedSize !== undefined && out.size !== expectedSize) {
          throw new Error(`body was ${out.size} bytes, expected ${expectedSize} (the file changed or the transfer was cut)`);
        }
        await out.sync();
      } finally {
        await out.idle();
        await handle.close();
      }
      await this.commitFile(tmp, file);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    } finally {
      this.writing.delete(path.basename(tmp));
    }
    return { size: out.size, sha256: out.sha256(), file };
  }

  private async commitFile(tmp: string, file: string): Promise<void> {
    const dest = this.pathOf(file);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    await fs.promises.rename(tmp, dest);
  }

  private newName(): string {
    const id = crypto.randomUUID();
    return `${id.slice(0, 2)}/${id}`;
  }

  async remove(file: string): Promise<void> {
    await fs.promises.rm(this.pathOf(file), { force: true });
  }

  /**
   * Deletes temp files left by a crash or a cut transfer that nothing wrote to for `olderThanMs` (another
   * process, e.g. a CLI command, may be writing its own), except those this store is writing.
   */
  async removeStaleTemp(olderThanMs = 60_000): Promise<number> {
    const tmp = path.join(this.dir, 'tmp');
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of await fs.promises.readdir(tmp).catch(() => [] as string[])) {
      if (this.writing.has(name)) continue;
      const st = await fs.promises.stat(path.join(tmp, name)).catch(() => undefined);
      if (!st || st.mtimeMs > cutoff) continue;
      await fs.promises.rm(path.join(tmp, name), { force: true });
      removed++;
    }
    return removed;
  }

  /** Deletes files no row points at (left by a crash between fsync and commit) and stale temp files. */
  async collectGarbage(isReferenced: (file: string) => boolean, olderThanMs = 60_000): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const sub of await fs.promises.readdir(this.dir)) {
      const subDir = path.join(this.dir, sub);
      for (const name of await fs.promises.readdir(subDir).catch(() => [] as string[])) {
        const rel = sub === 'tmp' ? undefined : `${sub}/${name}`;
        const full = path.join(subDir, name);
        const st = await fs.promises.stat(full).catch(() => undefined);
        if (!st || st.mtimeMs > cutoff) continue;
        if (rel === undefined || !isReferenced(rel)) {
          await fs.promises.rm(full, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}
