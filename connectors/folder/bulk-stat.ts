// Many stats in a row without a Stats object each. fs.statSync builds an object of 18 fields and four Dates per
// call (about 1 KB of garbage): a pass over a million files at rest spent more on collecting that garbage than
// on anything it decided. Node's own statSync asks its fs binding for the numbers, which it gets in one shared
// Float64Array, and then builds the object; this asks the binding the same way and reads the numbers it needs.
//
// The binding is Node's internal, so it is used only where this runtime's statSync shows it calls it exactly
// like this (its source says so) and a look at a file and a folder gives the very numbers statSync gives;
// anywhere else (another runtime or version, the permission model, --pending-deprecation, which would print a
// warning) the same stats come from statSync. The code is one JavaScript text, run here and in the stat worker
// (stat-worker.ts), which has its own copy of the binding.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Defines `makeBulkStat(fs, path, process, useBinding)`: a function `(paths, size, mtimeMs, ino, kind, at)` that stats each
 * path and writes its numbers at `at + k`; `kind` 0 = gone or unreadable, 1 = file, 2 = folder, 3 = other.
 * Plain JavaScript (the worker evaluates it too).
 */
export const BULK_STAT_JS = `
function makeBulkStat(fs, path, process, useBinding) {
  const { S_IFMT, S_IFREG, S_IFDIR } = fs.constants;
  const kindOf = (mode) => ((mode & S_IFMT) === S_IFREG ? 1 : (mode & S_IFMT) === S_IFDIR ? 2 : 3);
  const NO_THROW = { throwIfNoEntry: false };
  const viaStatSync = (paths, size, mtimeMs, ino, kind, at) => {
    for (let k = 0; k < paths.length; k++) {
      let st;
      try { st = fs.statSync(paths[k], NO_THROW); } catch { st = undefined; }
      if (!st) continue;
      size[at + k] = st.size; mtimeMs[at + k] = st.mtimeMs; ino[at + k] = st.ino;
      kind[at + k] = st.isFile() ? 1 : st.isDirectory() ? 2 : 3;
    }
  };
  let raw;
  try {
    const flags = process.execArgv.join(' ') + ' ' + (process.env.NODE_OPTIONS || '');
    const same = /binding\\.stat\\(\\s*pathModule\\.toNamespacedPath\\(path\\),\\s*options\\.bigint,\\s*undefined,\\s*options\\.throwIfNoEntry,?\\s*\\)/;
    if (useBinding && !/--pending-deprecation|--(experimental-)?permission/.test(flags) && typeof process.binding === 'function' && same.test(fs.statSync.toString())) {
      const binding = process.binding('fs');
      if (binding && typeof binding.stat === 'function') {
        const look = (p) => binding.stat(path.toNamespacedPath(p), false, undefined, false);
        const probes = [process.execPath, path.dirname(process.execPath)];
        let ok = look(path.join(probes[1], '\\u0001ferry-no-such-file')) === undefined;
        for (const p of probes) {
          if (!ok) break;
          const want = fs.statSync(p);
          const v = look(p);
          ok = v instanceof Float64Array && v.length >= 18 && v[0] === want.dev && v[1] === want.mode && v[7] === want.ino &&
            v[8] === want.size && v[12] * 1e3 + v[13] / 1e6 === want.mtimeMs && kindOf(v[1]) === (want.isFile() ? 1 : want.isDirectory() ? 2 : 3);
        }
        if (ok) raw = look;
      }
    }
  } catch { raw = undefined; }
  if (!raw) return viaStatSync;
  const viaBinding = (paths, size, mtimeMs, ino, kind, at) => {
    for (let k = 0; k < paths.length; k++) {
      let v;
      try {
        v = raw(paths[k]);
      } catch (err) {
        // a system error (EACCES, ELOOP, ENOTDIR…): not listed, as with statSync; anything else is not the
        // binding's answer about the file, so statSync is asked (a file must never read as gone by mistake)
        if (!err || typeof err.code !== 'string' || !/^E[A-Z0-9]+$/.test(err.code)) viaStatSync([paths[k]], size, mtimeMs, ino, kind, at + k);
        continue;
      }
      if (v === undefined) continue;
      // the numbers of Node's Stats: [dev, mode, nlink, uid, gid, rdev, blksize, ino, size, blocks, atime s, ns, mtime s, ns, ...]
      size[at + k] = v[8]; mtimeMs[at + k] = v[12] * 1e3 + v[13] / 1e6; ino[at + k] = v[7]; kind[at + k] = kindOf(v[1]);
    }
  };
  viaBinding.viaBinding = true;
  // one path's numbers as the binding gives them (its shared array: read at once), undefined when gone
  viaBinding.raw = raw;
  return viaBinding;
}
`;

/** Stats `paths` into the arrays at `at + k` (kind 0: gone or unreadable). `viaBinding`: without Stats objects. */
export type BulkStat = ((paths: string[], size: Float64Array, mtimeMs: Float64Array, ino: Float64Array, kind: Uint8Array, at: number) => void) & {
  viaBinding?: boolean;
  raw?: (p: string) => Float64Array | undefined;
};

type Maker = (f: typeof fs, p: typeof path, proc: NodeJS.Process, useBinding: boolean) => BulkStat;
const make = new Function(`${BULK_STAT_JS}\nreturn makeBulkStat;`)() as Maker;

/** This thread's bulk stat (made on first use). */
let mine: BulkStat | undefined;
export function bulkStat(paths: string[], size: Float64Array, mtimeMs: Float64Array, ino: Float64Array, kind: Uint8Array, at = 0): void {
  mine ??= make(fs, path, process, true);
  mine(paths, size, mtimeMs, ino, kind, at);
}

/** @internal A bulk stat of either flavour, for tests comparing both. */
export function makeBulkStat(useBinding: boolean): BulkStat {
  return make(fs, path, process, useBinding);
}

/** What the folder source reads of one entry's stats (the fields fs.Stats has under these names). */
export interface EntryStats {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly dev: number;
  isFile(): boolean;
  isDirectory(): boolean;
}

const { S_IFMT, S_IFREG, S_IFDIR } = fs.constants;

class Looked implements EntryStats {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly dev: number;
  private readonly mode: number;
  constructor(v: Float64Array) {
    this.dev = v[0];
    this.mode = v[1];
    this.ino = v[7];
    this.size = v[8];
    this.mtimeMs = v[12] * 1e3 + v[13] / 1e6;
  }
  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR;
  }
}

const NO_THROW = { throwIfNoEntry: false } as const;

/**
 * One entry's stats, undefined when it does not exist (ENOENT, ENOTDIR); other errors throw, as from
 * fs.statSync. Where bulkStat may ask the binding, five numbers instead of a Stats object of 18 fields (the
 * folder source looks at each file three times).
 */
export function statEntry(file: string): EntryStats | undefined {
  mine ??= make(fs, path, process, true);
  const raw = mine.raw;
  // statSync refuses a name with a NUL byte (the binding would read it up to there)
  if (!raw || file.includes('\0')) return fs.statSync(file, NO_THROW);
  const v = raw(file);
  return v === undefined ? undefined : new Looked(v);
}
