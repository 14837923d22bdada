// The few file calls the folder source makes per file, in two flavours. On a local disk a stat, a link or a
// small read takes microseconds: doing it synchronously costs far less than a thread-pool round trip and its
// promise (measured: async stats were the largest cost left per file in `npm run bench engine`). On a network
// share (or with usePolling) the same call can stall for seconds, so there it stays asynchronous.
import fs from 'node:fs';
import path from 'node:path';
import { statEntry, type EntryStats } from './bulk-stat.ts';

export interface FileOps {
  /** The entry's stats, or undefined when it does not exist (ENOENT, ENOTDIR). */
  stat(file: string): Promise<EntryStats | undefined>;
  /** The whole file; `size` (from a look just before) saves asking for its size again. */
  readFile(file: string, size?: number): Promise<Buffer>;
  link(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Creates a folder (and its parents) unless this process created or saw it already. */
  ensureDir(dir: string): Promise<void>;
  /** The folder vanished (someone removed it): ensureDir creates it again. */
  forgetDir(dir: string): void;
}

const missing = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
};

export function fileOps(local: boolean): FileOps {
  const dirs = new Set<string>();
  const remember = (dir: string) => {
    if (dirs.size > 10_000) dirs.clear(); // bounded: a cache, not a record
    for (let d = dir; !dirs.has(d); d = path.dirname(d)) {
      dirs.add(d);
      if (path.dirname(d) === d) break;
    }
  };
  const forgetDir = (dir: string) => {
    for (const d of dirs) if (d === dir || d.startsWith(dir + path.sep)) dirs.delete(d);
  };
  if (local) {
    return {
      stat: async (file) => {
        try {
          return statEntry(file);
        } catch (err) {
          if (missing(err)) return undefined;
          throw err;
        }
      },
      readFile: async (file, size) => (size === undefined ? fs.readFileSync(file) : readKnownSize(file, size)),
      link: async (from, to) => fs.linkSync(from, to),
      unlink: async (file) => fs.unlinkSync(file),
      ensureDir: async (dir) => {
        if (dirs.has(dir)) return;
        fs.mkdirSync(dir, { recursive: true });
        remember(dir);
      },
      forgetDir,
    };
  }
  return {
    stat: (file) => fs.promises.stat(file).catch((err) => (missing(err) ? undefined : Promise.reject(err))),
    readFile: (file) => fs.promises.readFile(file),
    link: (from, to) => fs.promises.link(from, to),
    unlink: (file) => fs.promises.unlink(file),
    ensureDir: async (dir) => {
      if (dirs.has(dir)) return;
      await fs.promises.mkdir(dir, { recursive: true });
      remember(dir);
    },
    forgetDir,
  };
}

/**
 * Reads a local file whose size a look just gave: open, one read of a byte more than that size, close (no
 * fstat, which readFileSync spends on the size). A file that grew since is read whole as it is now; one that
 * shrank comes as it is, as readFileSync gives it.
 */
function readKnownSize(file: string, size: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    // a short read of a local file is its end
    if (n <= size) return buf.subarray(0, n);
    // it grew: the rest as it comes
    const parts = [buf];
    for (;;) {
      const more = Buffer.allocUnsafe(64 * 1024);
      const got = fs.readSync(fd, more, 0, more.length, null);
      if (got === 0) return Buffer.concat(parts);
      parts.push(more.subarray(0, got));
    }
  } finally {
    fs.closeSync(fd);
  }
}
