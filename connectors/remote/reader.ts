// The remote source's stream reader (FTP, SFTP): lists the remote folder a page at a time (SFTP: as the server
// answers; FTP: a folder per LIST), with no pooled connection held between pages, downloads files over the pool (small ones into memory, large ones
// streamed into the content store), and moves or deletes them on the server after delivery.
import { sanitizeRelativePath } from '../contract.ts';
import type { FileEntry, ListOptions, OpenedFile, ReadFailure, StreamReader } from '../intake/reader.ts';
import { downloadStreaming, downloadToMemory, SMALL_BODY } from './download.ts';
import { posix, remoteContained, remoteFolder } from './paths.ts';
import type { FolderPages, RemoteEntry, RemoteFs } from './protocol.ts';
import type { SessionPool } from './session-pool.ts';

/** Entries of a folder read whole (FTP) handed to the core at once. */
const WHOLE_PAGE = 1000;

export class RemoteReader implements StreamReader {
  readonly cheapStat = false;
  readonly rereadCostly = true;
  /** Servers give times in seconds (SFTP, MDTM) or minutes (LIST): the same file's times agree within a second. */
  readonly timePrecisionMs = 1000;
  readonly root: string;
  private readonly fs: RemoteFs;
  private readonly pool: SessionPool;
  private readonly timeoutMs: number;
  private readonly archiveRoot?: string;

  constructor(fs: RemoteFs, pool: SessionPool, opts: { path: string; timeoutMs: number; archive?: string }) {
    this.fs = fs;
    this.pool = pool;
    this.root = remoteFolder(opts.path);
    this.timeoutMs = opts.timeoutMs;
    this.archiveRoot = opts.archive === undefined ? undefined : remoteFolder(opts.archive);
  }

  get parallel(): number {
    return this.pool.capacity;
  }

  /** The archive folder relative to the root when it lies inside it. */
  archiveInsideRoot(): string | undefined {
    if (this.archiveRoot === undefined) return undefined;
    const rel = posix.relative(this.root, this.archiveRoot);
    return !rel.startsWith('..') && !posix.isAbsolute(rel) ? rel : undefined;
  }

  private remote(rel: string): string {
    return posix.join(this.root, rel);
  }

  where(rel?: string): string {
    return `${this.fs.label}${rel === undefined ? this.root : this.remote(rel)}`;
  }

  async *list(opts: ListOptions): AsyncIterable<FileEntry[]> {
    const dirs: string[] = [''];
    while (dirs.length > 0) {
      const relDir = dirs.pop()!;
      const subdirs: string[] = [];
      const dir = relDir === '' ? this.root : this.remote(relDir);
      const listed: { digest?: string } = {};
      try {
        const known = await this.unchangedListing(dir, relDir, opts);
        if (known) {
          // the same listing as when every file in it was found taken: nothing in it to read
          opts.listingUnchanged?.(relDir);
          for (let i = known.length - 1; i >= 0; i--) dirs.push(relDir ? `${relDir}/${known[i]}` : known[i]);
          continue;
        }
        for await (const entries of this.folderPages(dir, listed)) {
          const page: FileEntry[] = [];
          for (const e of entries) {
            // symbolic links ('other') and names with path tricks are never taken
            if (e.name === '.' || e.name === '..' || sanitizeRelativePath(e.name) !== e.name) continue;
            const rel = relDir ? `${relDir}/${e.name}` : e.name;
            if (e.type === 'dir') {
              if (opts.descend(rel)) subdirs.push(rel);
            } else if (e.type === 'file' && opts.wants(rel)) {
              page.push({ rel, size: e.size, mtimeMs: e.mtimeMs, token: e.rawTime });
            }
          }
          yield page;
        }
      } catch (err) {
        if (relDir === '' || this.fs.classify(err).broken) throw err;
        continue; // a sub-folder removed or unreadable while walking
      }
      opts.folderListed?.(
        relDir,
        subdirs.map((rel) => posix.basename(rel)),
        listed.digest,
      );
      for (let i = subdirs.length - 1; i >= 0; i--) dirs.push(subdirs[i]);
    }
  }

  /**
   * The sub-folders (names) of a folder whose listing digest is the one the intake knows it clean with (see
   * ListOptions.knownListing), fetched without reading its entries; undefined when it must be read.
   */
  private async unchangedListing(dir: string, relDir: string, opts: ListOptions): Promise<string[] | undefined> {
    const known = opts.knownListing?.(relDir);
    if (!known) return undefined;
    const digest = await this.pool.use(async (s) => s.listingDigest?.(dir));
    return digest !== undefined && digest === known.digest ? known.subdirs : undefined;
  }

  /**
   * A folder's entries a page at a time where the protocol reads folders in parts (SFTP), so a huge folder is
   * never held whole; otherwise (FTP's LIST comes as one reply) the whole folder as one page. No connection is
   * held from the pool meanwhile: a paged folder's requests share the session that opened it.
   */
  private async *folderPages(dir: string, listed: { digest?: string }): AsyncGenerator<RemoteEntry[]> {
    let folder: FolderPages | undefined;
    const whole = await this.pool.use(async (s) => {
      if (s.openFolder) {
        folder = await s.openFolder(dir);
        return undefined;
      }
      if (s.listDigested) return s.listDigested(dir);
      const all = await s.list(dir);
      return { pages: (function* () {
        // handed on in parts, so a huge folder's entries become the core's entries a part at a time
        for (let i = 0; i < all.length; i += WHOLE_PAGE) yield all.slice(i, i + WHOLE_PAGE);
      })(), digest: undefined };
    });
    if (whole) {
      // built a page at a time as the core reads them (FTP: parsed from the reply's bytes)
      yield* whole.pages;
      listed.digest = whole.digest;
      return;
    }
    try {
      for (let page = await folder!.next(); page; page = await folder!.next()) yield page;
      listed.digest = folder!.digest?.();
    } finally {
      folder!.close();
    }
  }

  async stat(rel: string): Promise<FileEntry | undefined> {
    const remote = remoteContained(this.root, rel);
    const st = await this.pool.use((s) => s.stat(remote));
    return st?.type === 'file' ? { rel, size: st.size, mtimeMs: st.mtimeMs } : undefined;
  }

  async read(f: FileEntry, take: (opened: OpenedFile) => Promise<boolean>): Promise<void> {
    const remote = this.remote(f.rel);
    await this.pool.use(async (s) => {
      const listed: RemoteEntry = { name: posix.basename(f.rel), type: 'file', size: f.size, mtimeMs: f.mtimeMs, rawTime: f.token ?? '' };
      const mtimeMs = s.preciseMtime ? await s.preciseMtime(remote, listed) : f.mtimeMs;
      const attributes = {
        relativePath: f.rel,
        remotePath: remote,
        size: f.size,
        mtime: new Date(mtimeMs).toISOString(),
        mtimeMs,
        rawTime: listed.rawTime,
        server: this.fs.label,
      };
      if (f.size <= SMALL_BODY) {
        const bytes = await downloadToMemory(this.fs, s, remote, f.size, this.timeoutMs);
        await take({ body: { bytes }, mtimeMs, attributes });
      } else {
        await downloadStreaming(s, remote, f.size, this.timeoutMs, (body) => take({ body, mtimeMs, attributes }));
      }
    });
  }

  archiveWhere(toRel: string): string {
    return `${this.fs.label}${posix.join(this.archiveRoot ?? this.root, toRel)}`;
  }

  /** Renames into the archive unless the name is taken there (the server may replace on rename: looked up first). */
  async archive(rel: string, toRel: string): Promise<boolean> {
    const from = remoteContained(this.root, rel);
    const to = remoteContained(this.archiveRoot!, toRel);
    return this.pool.use(async (s) => {
      await s.mkdirp(posix.dirname(to));
      if (await s.stat(to)) return false;
      await s.rename(from, to);
      return true;
    });
  }

  async remove(rel: string): Promise<void> {
    const remote = remoteContained(this.root, rel);
    await this.pool.use((s) => s.remove(remote));
  }

  classify(err: unknown, rel?: string): ReadFailure {
    const f = this.fs.classify(err, rel === undefined ? this.root : this.remote(rel));
    return { reason: f.reason, missing: f.kind === 'missing' };
  }
}
