// Native folder events (fs.watch: inotify, FSEvents, ReadDirectoryChangesW) naming the changed entry.
// Why not chokidar here: on every change in a folder chokidar re-reads the whole folder and lstats each
// entry, and it keeps one watcher per file. Moving delivered files out of a folder of 10,000 made that
// re-read half of Ferry's CPU time (measured with `BENCH_PROFILE=… npm run bench engine`). This watcher
// costs the caller one stat per changed entry. chokidar still does polling (`usePolling`).
import fs from 'node:fs';
import path from 'node:path';

export interface NativeWatchOptions {
  root: string;
  /** Descend into sub-folders, at most `depth` levels below root (undefined: no limit). */
  recursive: boolean;
  depth?: number;
  /** A folder (relative, "/"-separated) never watched: the move target inside the watched folder. */
  ignoredDir?: string;
  /** An entry (relative to root, "/"-separated) may have changed: the caller stats it and reports back. */
  onPath(rel: string): void;
  /** Events may have been lost (a watcher failed or could not start): the caller should re-scan. */
  onRescan(reason: string): void;
}

export interface NativeWatch {
  /** The caller found `rel` to be a folder: watch it (and report its entries) unless already watched. */
  dir(rel: string, ino: number): void;
  /** The caller found `rel` gone. */
  gone(rel: string): void;
  /** A full scan is about to read this folder: watch it now (its parent is watched already), unless it is. */
  follow(rel: string, ino: number): void;
  /** After a full scan: the folders that exist (relative, "" = root); watches are added or dropped to match. */
  sync(dirs: Map<string, number>): void;
  close(): void;
}

/** macOS and Windows watch a whole tree with one handle; elsewhere (Linux) one inotify watch per folder. */
const TREE_WATCH = process.platform === 'darwin' || process.platform === 'win32';

export function watchNative(opts: NativeWatchOptions): NativeWatch {
  /** Watched folders by relative path, with the inode watched (a folder replaced by a new one is re-watched). */
  const watchers = new Map<string, { w?: fs.FSWatcher; ino: number }>();
  const treeWatch = TREE_WATCH && opts.recursive;
  let closed = false;
  const toRel = path.sep === '/' ? (s: string) => s : (s: string) => s.split(path.sep).join('/');
  const rootName = path.basename(opts.root);
  const ignored = (rel: string) => opts.ignoredDir !== undefined && (rel === opts.ignoredDir || rel.startsWith(`${opts.ignoredDir}/`));
  const wantsDir = (rel: string) => {
    if (rel === '') return true;
    if (!opts.recursive || ignored(rel)) return false;
    return opts.depth === undefined || rel.split('/').length <= opts.depth;
  };
  const under = (dir: string, rel: string) => rel === '' || dir === rel || dir.startsWith(`${rel}/`);

  const unwatch = (rel: string) => {
    for (const [dir, entry] of watchers) {
      if (!under(dir, rel)) continue;
      entry.w?.close();
      watchers.delete(dir);
    }
  };

  const watch = (rel: string, ino: number) => {
    const abs = path.join(opts.root, rel);
    // With a tree watch only the root has a handle; sub-folders are remembered for their inode alone.
    if (treeWatch && rel !== '') return void watchers.set(rel, { ino });
    let w: fs.FSWatcher;
    try {
      w = fs.watch(abs, { persistent: true, recursive: treeWatch, encoding: 'utf8' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone already; the next scan tells
      const hint = code === 'ENOSPC' || code === 'EMFILE' ? ' (raise the OS limit on watches, or set usePolling)' : '';
      opts.onRescan(`cannot watch ${abs}: ${(err as Error).message}${hint}`);
      return;
    }
    watchers.set(rel, { w, ino });
    w.on('change', (_event, name) => {
      if (name === null || name === undefined) return opts.onRescan(`${abs} reported a change without a name`);
      // The watched folder itself moved or went: its watch names it like a child. A listing tells what is there now.
      if (rel === '' && String(name) === rootName && rootReplaced(ino)) return opts.onRescan(`${abs} was moved or removed`);
      const child = rel === '' ? toRel(String(name)) : `${rel}/${toRel(String(name))}`;
      if (!ignored(child)) opts.onPath(child);
    });
    w.on('error', (err) => {
      // The folder was removed or became unreadable: drop its watch; a later scan re-adds it if it returns.
      unwatch(rel);
      opts.onRescan(`watching ${abs} stopped: ${err.message}`);
    });
  };

  /** The root is gone, or another folder now has its name. */
  const rootReplaced = (ino: number) => {
    try {
      return fs.statSync(opts.root).ino !== ino;
    } catch {
      return true;
    }
  };

  /** A new folder: watch it and report what is already in it (files moved in with it raise no events). */
  const addTree = async (rel: string, ino: number): Promise<void> => {
    const abs = path.join(opts.root, rel);
    const entries = await fs.promises.readdir(abs, { withFileTypes: true }).catch(() => undefined);
    if (!entries || closed) return;
    unwatch(rel);
    watch(rel, ino);
    for (const e of entries) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      if (!e.isDirectory() || wantsDir(child)) opts.onPath(child);
    }
  };

  return {
    dir(rel, ino) {
      if (closed || !wantsDir(rel) || watchers.get(rel)?.ino === ino) return;
      void addTree(rel, ino);
    },
    gone(rel) {
      if (watchers.has(rel)) unwatch(rel);
    },
    follow(rel, ino) {
      if (closed || !wantsDir(rel) || watchers.get(rel)?.ino === ino) return;
      if (rel !== '' && !watchers.has(parentOf(rel))) return;
      unwatch(rel);
      watch(rel, ino);
    },
    sync(dirs) {
      if (closed) return;
      for (const [dir, entry] of [...watchers]) if (watchers.has(dir) && dirs.get(dir) !== entry.ino) unwatch(dir);
      for (const [dir, ino] of [...dirs].sort(([a], [b]) => a.length - b.length)) {
        if (wantsDir(dir) && !watchers.has(dir) && (dir === '' || watchers.has(parentOf(dir)))) watch(dir, ino);
      }
    },
    close() {
      closed = true;
      for (const entry of watchers.values()) entry.w?.close();
      watchers.clear();
    },
  };
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}
