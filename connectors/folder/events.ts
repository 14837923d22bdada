// The folder source's change events, fed into the intake core's watch: native events (fs.watch, see
// native-watch.ts) on a local disk, chokidar polling on network shares and mounted volumes (usePolling).
import path from 'node:path';
import { watch as chokidarWatch } from 'chokidar';
import { errorMessage } from '../contract.ts';
import type { FeedSink, WatchFeed } from '../intake/watch.ts';
import { watchNative } from './native-watch.ts';
import type { FolderReader } from './reader.ts';

export interface FolderFeedOptions {
  recursive: boolean;
  depth?: number;
  /** The archive folder inside the watched one (relative): never watched. */
  ignoredDir?: string;
  pollIntervalMs: number;
}

/** Native events: each names an entry, which is statted once (events in one tick share one pass). */
export function nativeFeed(reader: FolderReader, opts: FolderFeedOptions, sink: FeedSink): WatchFeed {
  const pending = new Set<string>();
  let flushing = false;
  const flush = async () => {
    while (pending.size > 0 && !closed) {
      const batch = [...pending];
      pending.clear();
      for (let i = 0; i < batch.length; i += 64) {
        await Promise.all(
          batch.slice(i, i + 64).map(async (rel) => {
            // Not recursive: a name that matters to no rule needs no look.
            if (!opts.recursive && !sink.matters(rel)) return;
            const st = await reader.fileOps.stat(reader.where(rel)).catch(() => undefined);
            if (!st) {
              sink.gone(rel);
              native.gone(rel);
            } else if (st.isDirectory()) native.dir(rel, st.ino);
            else if (st.isFile()) sink.changed(rel, reader.entryOf(rel, st));
          }),
        );
      }
    }
    flushing = false;
  };
  let closed = false;
  const native = watchNative({
    root: reader.root,
    recursive: opts.recursive,
    depth: opts.depth,
    ignoredDir: opts.ignoredDir,
    onPath: (rel) => {
      pending.add(rel);
      if (!flushing) {
        flushing = true;
        setImmediate(() => void flush());
      }
    },
    onRescan: (reason) => sink.rescan(reason),
  });
  return {
    follow: (rel, id) => native.follow(rel, id),
    sync: (folders) => native.sync(folders),
    close: async () => {
      closed = true;
      native.close();
    },
  };
}

/** Polling (network shares, mounted volumes): chokidar stats every file each interval. */
export async function pollingFeed(reader: FolderReader, opts: FolderFeedOptions, sink: FeedSink): Promise<WatchFeed> {
  const ignoredAbs = opts.ignoredDir !== undefined ? path.join(reader.root, opts.ignoredDir) : undefined;
  const watcher = chokidarWatch(reader.root, {
    ignoreInitial: true,
    persistent: true,
    alwaysStat: true,
    depth: opts.recursive ? opts.depth : 0,
    usePolling: true,
    interval: opts.pollIntervalMs,
    binaryInterval: opts.pollIntervalMs,
    ignored: ignoredAbs ? (p: string) => p === ignoredAbs || p.startsWith(ignoredAbs + path.sep) : undefined,
  });
  const onFile = (abs: string, st?: { size: number; mtimeMs: number }) => {
    const rel = reader.relOf(abs);
    sink.changed(rel, st ? reader.entryOf(rel, st) : undefined);
  };
  watcher.on('add', onFile);
  watcher.on('change', onFile);
  watcher.on('unlink', (abs) => sink.gone(reader.relOf(abs)));
  watcher.on('error', (err) => sink.problem(`watching ${reader.root} failed: ${errorMessage(err)}`));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return { close: () => watcher.close() };
}
