// The folder source's stream reader: lists a local or mounted folder, looks at and reads its files (small ones
// on a local disk synchronously, in one read), moves delivered files into the archive folder without ever
// replacing a file there, and hashes contents for `keep`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { errorMessage, networkFileSystem, type ConnectorLogger, type FileBody } from '../contract.ts';
import type { FileEntry, ListOptions, OpenedFile, ReadFailure, StreamReader } from '../intake/reader.ts';
import { afterCursor, folderReachesCursor, sortNames } from '../intake/walk.ts';
import { bulkStat } from './bulk-stat.ts';
import { fileOps, type FileOps } from './file-ops.ts';
import { ListingDigest } from '../intake/listing-digest.ts';
import { KIND_DIR, KIND_FILE, STAT_CHUNK, statWorker, type Stats, type StatWorker } from './stat-worker.ts';

/** On a local disk, files up to this size are read right when taken (one synchronous read). */
const SMALL_BODY = 256 * 1024;
/** Files yielded per page of a listing: a large folder is looked at in parts. */
const PAGE = 1000;
/**
 * A folder changed less than this before it was read may change again within the same time stamp: its stamp
 * is not trusted (file systems and shares keep times as coarse as 2 s).
 */
const STAMP_TRUST_MS = 2000;

/**
 * A relative path made of plain names ("a/b.csv": no ".", "..", empty or absolute parts) on a system whose
 * separator is "/": appended to an absolute folder it needs no normalising (path.resolve/join would return the
 * same string, after more work and garbage, for every file).
 */
function isPlainRel(rel: string): boolean {
  return path.sep === '/' && rel.length > 0 && rel.charCodeAt(0) !== 46 /* . */ && rel.charCodeAt(0) !== 47 /* / */ && !rel.endsWith('/') && !rel.includes('/.') && !rel.includes('//');
}

/** path.join(root, rel) for an absolute, normalised root (no trailing separator but "/" itself). */
export function joinRel(root: string, rel: string): string {
  return isPlainRel(rel) && !root.endsWith(path.sep) ? root + path.sep + rel : path.join(root, rel);
}

export class FolderReader implements StreamReader {
  readonly root: string;
  /** Synchronous local reads: one at a time is fastest. */
  readonly parallel = 1;
  readonly cheapStat = true;
  readonly sortedWalk = true;
  readonly rereadCostly = false;
  readonly timePrecisionMs = 1;
  private readonly archiveRoot?: string;
  private readonly usePolling: boolean;
  /** Bulk stats on a share or polled: one worker thread's statSync calls (stat-worker.ts). */
  private readonly bulk: StatWorker;
  private readonly log?: ConnectorLogger;
  /** Synchronous on a local disk, asynchronous on a share or with usePolling (chosen when watching/scanning starts). */
  private ops: FileOps = fileOps(false);
  private local = false;

  constructor(root: string, opts: { archive?: string; usePolling: boolean; log?: ConnectorLogger; statWorker?: StatWorker }) {
    this.root = path.resolve(root);
    this.archiveRoot = opts.archive === undefined ? undefined : path.resolve(opts.archive);
    this.usePolling = opts.usePolling;
    this.bulk = opts.statWorker ?? statWorker;
    this.log = opts.log;
  }

  /** The archive folder relative to the root ("/"-separated) when it lies inside it. */
  archiveInsideRoot(): string | undefined {
    if (this.archiveRoot === undefined) return undefined;
    const rel = path.relative(this.root, this.archiveRoot);
    return !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : undefined;
  }

  /** Picks synchronous calls on a local disk, asynchronous ones on a share (looked up again on each start). */
  chooseFileOps(): void {
    const local = !this.usePolling && networkFileSystem(this.root) === undefined;
    if (local === this.local) return;
    this.ops = fileOps(local);
    this.local = local;
  }

  get fileOps(): FileOps {
    return this.ops;
  }

  /** The absolute path of a relative one, which must stay inside `base` (a name never escapes its folder). */
  private inside(base: string, rel: string): string {
    if (isPlainRel(rel) && !base.endsWith(path.sep)) return base + path.sep + rel;
    const full = path.resolve(base, rel);
    if (full !== base && !full.startsWith(base + path.sep)) throw new Error(`file name ${JSON.stringify(rel)} escapes ${base}`);
    return full;
  }

  where(rel?: string): string {
    return rel === undefined ? this.root : joinRel(this.root, rel);
  }

  relOf(abs: string): string {
    return path.relative(this.root, abs).split(path.sep).join('/');
  }

  /**
   * Folders' stamps as list() records them (identity and modification time), undefined for one that is gone:
   * polling looks at every folder each interval, in the stat worker, STAT_CHUNK per message.
   */
  async folderStamps(relDirs: string[]): Promise<Array<string | undefined>> {
    const st = await this.bulk.stat(
      relDirs.map((rel) => (rel === '' ? this.root : path.join(this.root, rel))),
      this.log,
    );
    return relDirs.map((_, i) => (st.kind[i] === KIND_DIR ? `${st.ino[i]}:${st.mtimeMs[i]}` : undefined));
  }

  entryOf(rel: string, st: { size: number; mtimeMs: number }): FileEntry {
    return { rel, size: st.size, mtimeMs: st.mtimeMs };
  }

  /**
   * Walks depth first in walk order (walk.ts): each folder's files by name, then its sub-folders by name. Resumes
   * after `opts.after`, and does not read folders `opts.unchanged` vouches for (their sub-folders are walked).
   * A folder read whole is reported with the digest of what it showed (listing-digest.ts); one the intake knows
   * clean (`opts.knownListing`) is statted first, and yields nothing when its digest is still the known one.
   */
  async *list(opts: ListOptions): AsyncIterable<FileEntry[]> {
    const dirs: string[] = [''];
    const cursor = opts.after;
    while (dirs.length > 0) {
      const relDir = dirs.pop()!;
      const dir = relDir === '' ? this.root : path.join(this.root, relDir);
      const readAt = Date.now();
      let folder: fs.Stats;
      /** The folder's file names, when it is read (its entries are dropped at once: they die young). */
      let files: string[] | undefined;
      let subdirs: string[];
      try {
        folder = await fs.promises.stat(dir);
        opts.onFolder?.(relDir, folder.ino);
        const stamp = `${folder.ino}:${folder.mtimeMs}`;
        const known = opts.unchanged?.(relDir, stamp);
        if (known) {
          subdirs = known.subdirs;
          opts.folderRead?.(relDir, known, true);
        } else {
          const entries = await fs.promises.readdir(dir, { withFileTypes: true });
          subdirs = sortNames(entries.filter((e) => e.isDirectory()).map((e) => e.name));
          files = entries.filter((e) => e.isFile()).map((e) => e.name);
          // a folder read only in part (resumed at the cursor) vouches for nothing; nor does one changed just now
          if (cursor === undefined || !relDir.length || !cursor.startsWith(`${relDir}/`)) {
            opts.folderRead?.(relDir, { stamp, subdirs }, folder.mtimeMs < readAt - STAMP_TRUST_MS);
          }
        }
      } catch (err) {
        if (relDir === '') throw err;
        continue; // a sub-folder removed while walking
      }
      const into: string[] = [];
      for (const name of subdirs) {
        const rel = relDir === '' ? name : `${relDir}/${name}`;
        if (opts.descend(rel) && (cursor === undefined || folderReachesCursor(rel, cursor))) into.push(name);
      }
      const next = () => {
        for (let i = into.length - 1; i >= 0; i--) dirs.push(relDir === '' ? into[i] : `${relDir}/${into[i]}`);
      };
      if (!files) {
        next();
        continue;
      }
      // a folder on the cursor's path is read from the cursor on only: it vouches for nothing
      const whole = cursor === undefined || (relDir !== '' && !cursor.startsWith(`${relDir}/`));
      const names: string[] = [];
      /** Their paths from the root, made once (the entries yielded carry them). */
      const rels: string[] = [];
      for (const name of sortNames(files)) {
        const rel = relDir === '' ? name : `${relDir}/${name}`;
        if (opts.wants(rel) && (cursor === undefined || afterCursor(rel, cursor))) (names.push(name), rels.push(rel));
      }
      const digest = whole ? new ListingDigest() : undefined;
      if (digest) for (const name of into) digest.dir(name);
      const pageOf = function* (st: Stats, from: number): Generator<FileEntry> {
        for (let k = 0; k < st.kind.length; k++) {
          if (st.kind[k] !== KIND_FILE) continue;
          yield { rel: rels[from + k], size: st.size[k], mtimeMs: st.mtimeMs[k] };
        }
      };
      const known = whole ? opts.knownListing?.(relDir) : undefined;
      if (known && digest) {
        // a folder that was clean (every wanted file found taken): its files' stats first, then, when its digest
        // is the one it had then, nothing in it needs a memo looked up (its stats are held meanwhile: a few
        // numbers per file, beside the names its reading holds anyway)
        const chunks: Stats[] = [];
        for (let i = 0; i < names.length; i += STAT_CHUNK) chunks.push(this.digested(await this.statChunk(dir, names, i), names, i, digest));
        if (digest.value() === known.digest) {
          opts.listingUnchanged?.(relDir);
          next();
          continue;
        }
        let page: FileEntry[] = [];
        for (let c = 0; c < chunks.length; c++) {
          for (const e of pageOf(chunks[c], c * STAT_CHUNK)) page.push(e);
          if (page.length >= PAGE) (yield page, (page = []));
        }
        if (page.length > 0) yield page;
      } else {
        // on a share (or polled) the stats are made in the stat worker, STAT_CHUNK per message: the engine's
        // thread never waits on the share, and pays no thread-pool round trip per file
        let page: FileEntry[] = [];
        for (let i = 0; i < names.length; i += STAT_CHUNK) {
          const st = await this.statChunk(dir, names, i);
          if (digest) this.digested(st, names, i, digest);
          for (const e of pageOf(st, i)) page.push(e);
          if (page.length >= PAGE) (yield page, (page = []));
        }
        if (page.length > 0) yield page;
      }
      next();
      if (whole) opts.folderListed?.(relDir, into, digest!.value());
    }
  }

  /** Stats of up to STAT_CHUNK files of one folder: synchronous on a local disk, in the stat worker otherwise. */
  private async statChunk(dir: string, names: string[], from: number): Promise<Stats> {
    const n = Math.min(STAT_CHUNK, names.length - from);
    const paths = new Array<string>(n);
    for (let k = 0; k < n; k++) paths[k] = dir + path.sep + names[from + k];
    if (!this.local) return this.bulk.stat(paths, this.log);
    const out: Stats = { size: new Float64Array(n), mtimeMs: new Float64Array(n), ino: new Float64Array(n), kind: new Uint8Array(n) };
    // unreadable or gone meanwhile: kind 0, not listed
    bulkStat(paths, out.size, out.mtimeMs, out.ino, out.kind);
    return out;
  }

  /** Adds a chunk's files to a folder's digest. */
  private digested(st: Stats, names: string[], from: number, digest: ListingDigest): Stats {
    for (let k = 0; k < st.kind.length; k++) if (st.kind[k] === KIND_FILE) digest.file(names[from + k], st.size[k], st.mtimeMs[k], st.ino[k]);
    return st;
  }

  async stat(rel: string): Promise<FileEntry | undefined> {
    const st = await this.ops.stat(this.inside(this.root, rel));
    return st?.isFile() ? this.entryOf(rel, st) : undefined;
  }

  async read(f: FileEntry, take: (opened: OpenedFile) => Promise<boolean>): Promise<void> {
    const file = joinRel(this.root, f.rel);
    const attributes = { relativePath: f.rel, size: f.size, mtime: new Date(f.mtimeMs).toISOString(), mtimeMs: f.mtimeMs, sourcePath: file };
    // large files and files on a share: the engine reads them into its store itself
    const body = this.fileBody(f) ?? { bytes: await this.ops.readFile(file, f.size) };
    await take({ body, mtimeMs: f.mtimeMs, attributes });
  }

  fileBody(f: FileEntry): FileBody | undefined {
    return this.bodyIsFile(f) ? { file: joinRel(this.root, f.rel), version: { size: f.size, mtimeMs: f.mtimeMs } } : undefined;
  }

  bodyIsFile(f: FileEntry): boolean {
    return !this.local || f.size > SMALL_BODY;
  }

  async contentHash(rel: string): Promise<string> {
    const hash = crypto.createHash('sha256');
    for await (const chunk of fs.createReadStream(path.join(this.root, rel))) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  /** Windows: a file another program still holds open for writing cannot be opened for update. */
  readonly busy =
    process.platform === 'win32'
      ? async (rel: string): Promise<string | undefined> => {
          try {
            const h = await fs.promises.open(path.join(this.root, rel), 'r+');
            await h.close();
            return undefined;
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            return code === 'EBUSY' || code === 'EPERM' || code === 'EACCES' ? 'file is locked by another program' : undefined;
          }
        }
      : undefined;

  archiveWhere(toRel: string): string {
    return path.join(this.archiveRoot ?? this.root, toRel);
  }

  /** link + unlink never replaces an existing file (rename would), and is atomic on one volume; copies across devices. */
  async archive(rel: string, toRel: string): Promise<boolean> {
    const src = this.inside(this.root, rel);
    const target = this.inside(this.archiveRoot!, toRel);
    const ops = this.ops;
    await ops.ensureDir(path.dirname(target));
    for (let attempt = 0; ; attempt++) {
      try {
        await ops.link(src, target);
        await ops.unlink(src);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          // A crash between link and unlink left the same file in both places: finish the move.
          const [existing, st] = await Promise.all([ops.stat(target), ops.stat(src)]);
          if (existing && st && existing.ino === st.ino && existing.dev === st.dev && existing.ino !== 0) {
            await ops.unlink(src);
            return true;
          }
          return false;
        }
        if (code === 'ENOENT' && attempt === 0 && (await ops.stat(src))) {
          // the target folder was removed since this process created it
          ops.forgetDir(path.dirname(target));
          await ops.ensureDir(path.dirname(target));
          continue;
        }
        if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return this.copyOver(src, target);
        throw err;
      }
    }
  }

  /** Across volumes: an exclusive copy, fsynced, then the original goes. */
  private async copyOver(src: string, target: string): Promise<boolean> {
    try {
      await fs.promises.copyFile(src, target, fs.constants.COPYFILE_EXCL);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    const h = await fs.promises.open(target, 'r+');
    await h.sync();
    await h.close();
    await this.ops.unlink(src);
    return true;
  }

  async remove(rel: string): Promise<void> {
    await this.ops.unlink(this.inside(this.root, rel));
  }

  classify(err: unknown, rel?: string): ReadFailure {
    const code = (err as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    if (rel !== undefined) return { missing, reason: errorMessage(err) };
    if (missing) return { missing, reason: `folder missing: ${this.root}` };
    if (code === 'EACCES' || code === 'EPERM') return { missing, reason: `permission denied: ${this.root}` };
    return { missing, reason: errorMessage(err) };
  }
}
