// A local folder (and a share, here: usePolling) at rest with `keep`: once every file of a folder was found taken,
// a pass that reads every folder stats its files and compares the folder's digest (names, sizes, times with
// their sub-millisecond part, inodes: connectors/intake/listing-digest.ts) with the one it had then, and looks up no memo while
// it is the same. The record is kept in the flow's state, so a restart's first pass is as cheap. Every change
// is still taken by the pass meant to find it, including the bad cases: a folder whose time did not change
// though a file in it did, a file's time set back (clock skew), a file replaced by one of the same size.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Source, SourceState } from '../../connectors/contract.ts';
import { folderConnector } from '../../connectors/folder/index.ts';
import { folderSourceSchema } from '../../connectors/folder/schema.ts';
import { LISTING_PREFIX } from '../../connectors/intake/clean-listings.ts';
import { CANDIDATES, type FileIntake } from '../../connectors/intake/core.ts';
import { watchFiles } from '../../connectors/intake/watch.ts';
import type { FolderReader } from '../../connectors/folder/reader.ts';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { recordIntake } from '../helpers/intake.ts';
import { recordingContext } from '../helpers/source-context.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const HOUR_AGO = () => new Date(Date.now() - 3_600_000);

/** Writes files, then gives every file and folder a time an hour back (as a tree at rest has). */
function tree(root: string, files: Record<string, string>): void {
  for (const [rel, body] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), body);
  }
  const past = HOUR_AGO();
  for (const rel of Object.keys(files)) fs.utimesSync(path.join(root, rel), past, past);
  for (const d of folders(root)) fs.utimesSync(path.join(root, d), past, past);
}

/** Every folder under root ("." included), deepest first. */
function folders(root: string): string[] {
  const out = ['.'];
  for (const e of fs.readdirSync(root, { recursive: true, withFileTypes: true }) as fs.Dirent[]) {
    if (e.isDirectory()) out.push(path.relative(root, path.join(e.parentPath, e.name)));
  }
  return out.sort().reverse();
}

/** Runs `change` and puts the folder's times back as they were: the folder's stamp does not show it. */
function behindFolder(root: string, relDir: string, change: () => void): void {
  const dir = path.join(root, relDir);
  const before = fs.statSync(dir);
  change();
  fs.utimesSync(dir, before.atime, before.mtime);
  expect(fs.statSync(dir).mtimeMs).toBe(before.mtimeMs);
}

/** The flow's real SQLite state, counting the memo reads. */
function countedState(db: Db) {
  const inner = sourceState(db, 'f');
  const reads = { memos: 0, sweeps: 0 };
  const state: SourceState = {
    get: (k) => (k.startsWith('taken:') && reads.memos++, inner.get(k)),
    set: (k, v) => inner.set(k, v),
    setMany: (entries) => inner.setMany(entries),
    delete: (k) => inner.delete(k),
    entries: (p) => inner.entries(p) as never,
    // memos and their sweeps (loading the folders' records at start is neither)
    getMany: (keys) => ((reads.memos += keys.filter((k) => k.startsWith('taken:')).length), inner.getMany(keys) as never),
    keys: (from, to, limit) => (from.startsWith('taken:') && reads.sweeps++, inner.keys(from, to, limit)),
    // a folder's memos read alongside its listing (each one read counts)
    range: (from, to, limit) => {
      const rows = inner.range(from, to, limit);
      if (from.startsWith('taken:')) reads.memos += rows.length;
      return rows as never;
    },
  };
  return { state, reads, inner, records: () => inner.keys(LISTING_PREFIX, 'listing;', 1e6).map((k) => k.slice(LISTING_PREFIX.length)).sort() };
}

function folderSource(root: string, extra: Record<string, unknown> = {}): Source {
  return folderConnector.createSource!(folderSourceSchema.parse({ path: root, settleMs: 0, afterDelivery: { action: 'keep' }, ...extra }), { log } as never);
}

function database(): Db {
  const db = openDatabase(path.join(tempDir('ferry-rest-db-'), 'state.db'));
  db.pragma('synchronous = OFF');
  cleanups.push(() => void db.close());
  return db;
}

/**
 * A tree an earlier run took whole and then found taken again (its folders recorded clean, in the flow's real
 * SQLite state): the state and the recording context, for the source under test.
 */
async function recordedClean(prefix: string, files: Record<string, string>, extra: Record<string, unknown> = {}) {
  const root = tempDir(prefix);
  tree(root, files);
  const counted = countedState(database());
  const rec = recordingContext({ state: counted.state });
  const earlier = folderSource(root, extra);
  await earlier.scan!(rec.ctx);
  await earlier.scan!(rec.ctx);
  return { root, counted, rec };
}

/** Runs `watch` (a source's, or the intake's own) with the context, stopped after the test. */
async function watched(rec: ReturnType<typeof recordingContext>, watch: (ctx: typeof rec.ctx) => Promise<() => Promise<void>>): Promise<void> {
  const abort = new AbortController();
  rec.ctx.signal = abort.signal;
  const stop = await watch(rec.ctx);
  cleanups.push(async () => (abort.abort(), await stop()));
}

const FILES: Record<string, string> = {
  'a.csv': 'a,1\n',
  'd1/one.csv': 'one,1\n',
  'd1/two.csv': 'two,2\n',
  'd1/three.csv': 'three,3\n',
  'd2/four.csv': 'four,4\n',
  'd2/sub/five.csv': 'five,5\n',
  'd2/sub/six.csv': 'six,6\n',
  // a name beyond the BMP: its record's key sorts after every other (SQLite compares UTF-8 bytes)
  '\u{1F4E6}/eight.csv': 'eight,8\n',
};
const ALL_FOLDERS = ['', 'd1', 'd2', 'd2/sub', '\u{1F4E6}'];

describe.each([
  { where: 'a local folder', usePolling: false },
  { where: 'a share (usePolling: stats in the stat worker)', usePolling: true },
])('at rest on $where, keep', ({ usePolling }) => {
  it('a folder still as it was clean is not looked up; every change behind its folder\'s back is still taken, also after a restart', async () => {
    const root = tempDir('ferry-rest-');
    tree(root, FILES);
    const counted = countedState(database());
    const rec = recordingContext({ state: counted.state });
    let src = folderSource(root, { usePolling });
    let activity = recordIntake(src);
    const scan = async () => {
      const from = activity.mark();
      const before = rec.emitted.length;
      const reads = { ...counted.reads };
      await src.scan!(rec.ctx);
      return {
        taken: rec.emitted.slice(before).map((e) => String(e.item.attributes!.relativePath)).sort(),
        unchanged: activity.unchangedFolders(from).sort(),
        memoReads: counted.reads.memos - reads.memos,
        sweeps: counted.reads.sweeps - reads.sweeps,
      };
    };

    expect((await scan()).taken).toEqual(Object.keys(FILES).sort());
    // the next scan finds every file taken and records each folder clean (in the state too); the one after
    // stats the files and looks up no memo
    expect(await scan()).toMatchObject({ taken: [], unchanged: [] });
    expect(counted.records()).toEqual(ALL_FOLDERS);
    expect(await scan()).toEqual({ taken: [], unchanged: ALL_FOLDERS, memoReads: 0, sweeps: 0 });

    const write = (rel: string, body: string, mtime?: Date) => {
      fs.writeFileSync(path.join(root, rel), body);
      if (mtime) fs.utimesSync(path.join(root, rel), mtime, mtime);
    };
    const changes: Array<[string, string, () => void, string[]]> = [
      ['rewritten in place, longer', 'd1', () => write('d1/one.csv', 'one,1,longer now\n'), ['d1/one.csv']],
      ['rewritten in place, same size, a later time', 'd1', () => write('d1/two.csv', 'TWO,2\n', new Date()), ['d1/two.csv']],
      // clock skew: the writer's clock is behind, so the new version's time is older than the one taken
      ['rewritten in place, same size, a time two hours back', 'd2/sub', () => write('d2/sub/five.csv', 'FIVE,5\n', new Date(Date.now() - 7_200_000)), ['d2/sub/five.csv']],
      // rewritten with the same size and a time 100 µs from the one taken: only the sub-millisecond part differs
      ['rewritten in place, same size, a time 100 µs later', 'd1', () => {
        const file = path.join(root, 'd1/three.csv');
        const was = fs.statSync(file, { bigint: true }).mtimeNs;
        fs.writeFileSync(file, 'THREE,3\n');
        const t = Number((was + 100_000n) / 1000n) / 1e6; // seconds, as utimes takes them
        fs.utimesSync(file, t, t);
        const moved = fs.statSync(file, { bigint: true }).mtimeNs - was;
        expect(moved > 90_000n && moved < 110_000n, `moved ${moved} ns`).toBe(true);
      }, ['d1/three.csv']],
      ['replaced (renamed over) by another file of the same size', 'd2', () => {
        fs.writeFileSync(path.join(root, 'd2/.four.tmp'), 'FOUR,4\n');
        fs.renameSync(path.join(root, 'd2/.four.tmp'), path.join(root, 'd2/four.csv'));
      }, ['d2/four.csv']],
      ['a new file', 'd2/sub', () => write('d2/sub/seven.csv', 'seven,7\n', HOUR_AGO()), ['d2/sub/seven.csv']],
      ['a file renamed', 'd1', () => fs.renameSync(path.join(root, 'd1/one.csv'), path.join(root, 'd1/uno.csv')), ['d1/uno.csv']],
    ];
    for (const [what, dir, change, expected] of changes) {
      behindFolder(root, dir, change);
      const found = await scan();
      expect(found.taken, what).toEqual(expected);
      // the folders that did not change stay unread
      expect(found.unchanged, what).toEqual(ALL_FOLDERS.filter((d) => d !== dir));
      expect(await scan(), what).toMatchObject({ taken: [], unchanged: ALL_FOLDERS.filter((d) => d !== dir) });
      expect(await scan(), what).toEqual({ taken: [], unchanged: ALL_FOLDERS, memoReads: 0, sweeps: 0 });
    }
    // a removed file is forgotten (its folder is read and swept)
    behindFolder(root, 'd1', () => fs.rmSync(path.join(root, 'd1/two.csv')));
    expect(await scan()).toMatchObject({ taken: [], unchanged: ALL_FOLDERS.filter((d) => d !== 'd1') });
    expect(counted.inner.get('taken:d1/two.csv')).toBeUndefined();
    expect(counted.inner.get('taken:d1/one.csv')).toBeUndefined(); // renamed away above
    expect(counted.inner.get('taken:d1/uno.csv')).toBeDefined();
    await scan();
    expect(await scan()).toEqual({ taken: [], unchanged: ALL_FOLDERS, memoReads: 0, sweeps: 0 });

    // a restart: the records come from the state, so the first scan looks nothing up where nothing changed,
    // and a file rewritten while Ferry was stopped (its folder's time put back) is taken
    activity.stop();
    behindFolder(root, 'd2/sub', () => write('d2/sub/six.csv', 'six,6,while stopped\n'));
    src = folderSource(root, { usePolling });
    activity = recordIntake(src);
    const first = await scan();
    expect(first.taken).toEqual(['d2/sub/six.csv']);
    expect(first.unchanged).toEqual(['', 'd1', 'd2', '\u{1F4E6}']);
    expect(first.memoReads).toBeLessThanOrEqual(3); // d2/sub's three files
    expect(rec.emitted.at(-1)!.bytes.toString()).toBe('six,6,while stopped\n');
    expect(rec.emitted).toHaveLength(Object.keys(FILES).length + 8);
  });

  it('a folder\'s stored record is gone before the memo of a file taken there is committed', async () => {
    const { root, counted, rec } = await recordedClean('ferry-rest-order-', FILES, { usePolling });
    expect(counted.records()).toEqual(ALL_FOLDERS);
    // watched: the file's event makes the take, no listing reads its folder first
    const src = folderSource(root, { usePolling, pollIntervalMs: 50 });
    await watched(rec, (ctx) => src.watch!(ctx));
    expect(counted.records()).toEqual(ALL_FOLDERS);
    // what the state holds when the engine commits the new version's item and memo (a crash right after the
    // commit leaves no record claiming the old memos)
    const atCommit: string[][] = [];
    const emit = rec.ctx.emit;
    rec.ctx.emit = (items, checkpoint) => (atCommit.push(counted.records()), emit(items, checkpoint));
    const taken = rec.emitted.length;
    fs.writeFileSync(path.join(root, 'd1/one.csv'), 'one,1,changed\n');
    await waitFor(() => rec.emitted.length === taken + 1, 'the changed file taken');
    expect(atCommit).toEqual([['', 'd2', 'd2/sub', '\u{1F4E6}']]);
    expect(rec.emitted.at(-1)!.item.attributes!.relativePath).toBe('d1/one.csv');
  });
});

describe.each([{ usePolling: false }, { usePolling: true }])('a clean folder that must be read after all (usePolling: $usePolling)', ({ usePolling }) => {
  it(`is read in walk order, so a round that stops at its cursor (${CANDIDATES} candidates) and resumes misses none`, async () => {
    const n = CANDIDATES * 2 + 500;
    const many: Record<string, string> = {};
    // names whose walk order (UTF-16 code units) is not the order the system lists them in (libuv sorts by
    // UTF-8 bytes: U+E000 before U+1F4E6; code units: the surrogate pair of U+1F4E6 first)
    for (let i = 0; i < n; i++) many[`big/${i % 2 ? '\u{E000}' : '\u{1F4E6}'}${String(i).padStart(5, '0')}.csv`] = `v1,${i}\n`;
    const { root, counted, rec } = await recordedClean('ferry-rest-big-', many, { usePolling });
    expect(counted.records()).toEqual(['', 'big']);
    // every file rewritten while Ferry was stopped, the folder's time put back
    behindFolder(root, 'big', () => {
      for (const rel of Object.keys(many)) fs.writeFileSync(path.join(root, rel), `v2 (longer),${rel}\n`);
    });
    const src = folderSource(root, { usePolling, pollFilesUpTo: 0 });
    const taken = rec.emitted.length;
    await watched(rec, (ctx) => src.watch!(ctx));
    await waitFor(() => rec.emitted.length >= taken + n, `all ${n} rewritten files taken`, 60_000);
    const again = rec.emitted.slice(taken).map((e) => String(e.item.attributes!.relativePath));
    expect(new Set(again).size).toBe(n);
    expect(again).toHaveLength(n);
  });
});

describe('a watched tree at rest (keep)', () => {
  it('the start\'s first pass looks nothing up in folders still as they were, and takes what changed while stopped', async () => {
    const { root, counted, rec } = await recordedClean('ferry-rest-watch-', FILES);
    expect(counted.records()).toEqual(ALL_FOLDERS);

    behindFolder(root, 'd1', () => fs.writeFileSync(path.join(root, 'd1/two.csv'), 'two,2,while stopped\n'));
    const src = folderSource(root);
    const activity = recordIntake(src);
    const before = counted.reads.memos;
    await watched(rec, (ctx) => src.watch!(ctx));
    await waitFor(() => rec.emitted.length === Object.keys(FILES).length + 1, 'the file changed while stopped taken');
    expect(rec.emitted.at(-1)!.item.attributes!.relativePath).toBe('d1/two.csv');
    expect(activity.unchangedFolders().sort()).toEqual(['', 'd2', 'd2/sub', '\u{1F4E6}']);
    // d1's three files looked up (and the changed one again before it was taken), no other
    expect(counted.reads.memos - before).toBeLessThanOrEqual(6);
  });

  it('a watcher that lost the event: the light rounds read nothing, the next full round takes the file rewritten in place and looks up nothing else', async () => {
    const { root, rec } = await recordedClean('ferry-rest-lost-', FILES);
    const src = folderSource(root);
    const core = (src as unknown as { intake: FileIntake }).intake;
    (src as unknown as { reader: FolderReader }).reader.chooseFileOps();
    const activity = recordIntake(src);
    // the intake's own watch, fed by a watcher that reports nothing (every event lost); a full round every 12 × 200 ms
    await watched(rec, (ctx) => watchFiles(core, ctx, { reconcileMs: 200, startFeed: async () => ({ close: async () => undefined }) }));
    const taken = rec.emitted.length;
    await activity.passes(2, { pass: 'reconcile' });
    const from = activity.mark();
    behindFolder(root, 'd2', () => fs.writeFileSync(path.join(root, 'd2/four.csv'), 'four,4,in place\n'));
    // light rounds skip every folder by its stamp: nothing read, nothing looked up
    await activity.passes(3, { pass: 'reconcile', from });
    expect(activity.unchangedFolders(from)).toEqual([]);
    await waitFor(() => rec.emitted.length === taken + 1, 'the rewritten file taken by the full round', 20_000);
    expect(rec.emitted.at(-1)!.bytes.toString()).toBe('four,4,in place\n');
    expect(activity.unchangedFolders(from).sort()).toEqual(['', 'd1', 'd2/sub', '\u{1F4E6}']);
    for (const rel of Object.keys(FILES)) if (!rel.startsWith('d2/')) expect(activity.decisions(rel, from), rel).toEqual([]);
  });

  it('polled by folder: a file rewritten in place behind its folder\'s back is taken by the next full round, which looks up nothing else', async () => {
    const { root, rec } = await recordedClean('ferry-rest-poll-', FILES, { usePolling: true });
    const src = folderSource(root, { usePolling: true, pollIntervalMs: 100, pollFilesUpTo: 0 });
    // a full round every 12 × 250 ms
    (src as unknown as { cfg: { reconcileMs: number } }).cfg.reconcileMs = 250;
    const activity = recordIntake(src);
    await watched(rec, (ctx) => src.watch!(ctx));
    expect(rec.infos.some((m) => m.startsWith('polling by folder'))).toBe(true);
    const taken = rec.emitted.length;
    expect(activity.unchangedFolders().sort()).toEqual(ALL_FOLDERS);

    const from = activity.mark();
    behindFolder(root, 'd2/sub', () => fs.writeFileSync(path.join(root, 'd2/sub/five.csv'), 'five,5,in place\n'));
    await waitFor(() => rec.emitted.length === taken + 1, 'the rewritten file taken by a full round', 20_000);
    expect(rec.emitted.at(-1)!.bytes.toString()).toBe('five,5,in place\n');
    // that round read d2/sub only; the other folders were found as they were
    expect(activity.unchangedFolders(from).sort()).toEqual(['', 'd1', 'd2', '\u{1F4E6}']);
    for (const rel of Object.keys(FILES)) if (!rel.startsWith('d2/sub/')) expect(activity.decisions(rel, from), rel).toEqual([]);
  });
});
