// Folder connector: the destination writes atomically, never overwrites and stays inside its folder; the
// source takes only wanted, complete files, honours ready markers, and moves/deletes only after delivery.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderDestination } from '../../connectors/folder/destination.ts';
import { FolderSource } from '../../connectors/folder/source.ts';
import { folderDestinationSchema, folderSourceSchema } from '../../connectors/folder/schema.ts';
import type { EmitResult, NewItem, SourceContext, SourceState } from '../../connectors/contract.ts';
import { outgoingItem } from '../helpers/items.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const outgoing = (name: string, body: string, attributes: Record<string, string> = {}) => outgoingItem(name, body, { idempotencyKey: 'k', attributes });

function folderDest(root: string, extra: Record<string, unknown> = {}) {
  return new FolderDestination(folderDestinationSchema.parse({ path: root, ...extra }));
}

describe('folder destination', () => {
  it('writes atomically (no temp file left), keeps sub-folders and reports the final path', async () => {
    const root = tempDir();
    const out = await folderDest(root).send(outgoing('a.csv', 'hello', { relativePath: 'sub/dir/a.csv' }));
    expect(out).toEqual({ kind: 'delivered', detail: path.join(root, 'sub/dir/a.csv') });
    expect(fs.readFileSync(path.join(root, 'sub/dir/a.csv'), 'utf8')).toBe('hello');
    expect(listFiles(root)).toEqual(['sub/dir/a.csv']);
    await folderDest(root, { keepSubfolders: false }).send(outgoing('b.csv', 'flat', { relativePath: 'x/y/b.csv' }));
    expect(listFiles(root)).toEqual(['b.csv', 'sub/dir/a.csv']);
  });

  it('never overwrites: collisions get " (n)" suffixes; overwrite and fail are honoured', async () => {
    const root = tempDir();
    const d = folderDest(root);
    await d.send(outgoing('r.txt', 'one'));
    await d.send(outgoing('r.txt', 'two'));
    const third = await d.send(outgoing('r.txt', 'three'));
    expect(third).toEqual({ kind: 'delivered', detail: path.join(root, 'r (2).txt') });
    expect(['r.txt', 'r (1).txt', 'r (2).txt'].map((f) => fs.readFileSync(path.join(root, f), 'utf8'))).toEqual(['one', 'two', 'three']);
    const failing = await folderDest(root, { onCollision: 'fail' }).send(outgoing('r.txt', 'four'));
    expect(failing.kind).toBe('dead');
    expect((failing as { reason: string }).reason).toContain('exists and onCollision is "fail"');
    await folderDest(root, { onCollision: 'overwrite' }).send(outgoing('r.txt', 'five'));
    expect(fs.readFileSync(path.join(root, 'r.txt'), 'utf8')).toBe('five');
    expect(listFiles(root)).toEqual(['r (1).txt', 'r (2).txt', 'r.txt']);
  });

  it('keeps traversal names inside its folder', async () => {
    const base = tempDir();
    const root = path.join(base, 'target');
    const d = folderDest(root);
    await d.send(outgoing('x', '1', { relativePath: '../../etc/x' }));
    await d.send(outgoing('C:\\x', '2', { relativePath: 'C:\\x' }));
    await d.send(outgoing('y', '3', { relativePath: '/abs/y' }));
    await d.send(outgoing('z', '4', { relativePath: '..\\..\\win\\z' }));
    expect(listFiles(base)).toEqual(['target/abs/y', 'target/etc/x', 'target/win/z', 'target/x']);
    const nothing = await d.send(outgoing('..', '5', { relativePath: '../..' }));
    expect(nothing.kind).toBe('dead');
    expect((nothing as { reason: string }).reason).toContain('unusable file name');
  });

  it('a write that fails leaves no partial file; check() reports an unwritable target without throwing', async () => {
    const base = tempDir();
    fs.writeFileSync(path.join(base, 'file'), 'not a folder');
    const d = folderDest(path.join(base, 'file'));
    const out = await d.send(outgoing('a.txt', 'x'));
    expect(out.kind).not.toBe('delivered');
    expect((out as { reason: string }).reason).toMatch(/writing .*a\.txt failed/);
    const c = await d.check();
    expect(c.ok).toBe(false);
    expect(listFiles(base)).toEqual(['file']);
    expect(await folderDest(path.join(base, 'ok')).check()).toMatchObject({ ok: true });
  });
});

/** A source context that records what a source emits, with an in-memory state. */
function fakeContext(opts: { refuse?: () => string | undefined; failRead?: (item: NewItem) => string | undefined } = {}) {
  const emitted: Array<{ item: NewItem; bytes: Buffer }> = [];
  const problems: string[] = [];
  const mem = new Map<string, unknown>();
  const state: SourceState = {
    get: <T>(k: string) => mem.get(k) as T | undefined,
    set: (k, v) => void mem.set(k, v),
    delete: (k) => void mem.delete(k),
    entries: <T>(prefix: string) => [...mem.entries()].filter(([k]) => k.startsWith(prefix)) as Array<[string, T]>,
  };
  const abort = new AbortController();
  const ctx: SourceContext = {
    flow: 'f',
    log: silentLogger,
    signal: abort.signal,
    state,
    hasCapacity: () => !opts.refuse?.(),
    problem: (m) => void problems.push(m),
    emit: async (items): Promise<EmitResult> => {
      const refused = opts.refuse?.();
      if (refused) return { queued: 0, duplicates: [], failed: [], refused, deferred: items };
      const failed: EmitResult['failed'] = [];
      for (const item of items) {
        const why = opts.failRead?.(item);
        if (why) {
          failed.push({ item, error: why });
          continue;
        }
        // small files on a local disk come already read; others as a path the engine reads
        const b = item.body as { file: string } | { bytes: Buffer };
        emitted.push({ item, bytes: 'bytes' in b ? b.bytes : fs.readFileSync(b.file) });
        if (item.checkpoint) mem.set(item.checkpoint.key, item.checkpoint.value);
      }
      return { queued: items.length - failed.length, duplicates: [], failed };
    },
  };
  return { ctx, emitted, problems, abort, names: () => emitted.map((e) => String(e.item.attributes!.relativePath)).sort() };
}

function source(root: string, extra: Record<string, unknown> = {}) {
  return new FolderSource(folderSourceSchema.parse({ path: root, settleMs: 0, ...extra }), { configDir: root, log: silentLogger });
}

function write(root: string, rel: string, body = rel) {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), body);
}

describe('folder source: what it takes', () => {
  it('include, exclude, recursive and depth', async () => {
    const root = tempDir();
    for (const f of ['a.csv', 'b.xml', 'c.txt', '~lock.csv', 'x.tmp', 'sub/d.csv', 'sub/deeper/e.csv', 'sub/deeper/deepest/f.csv', '.hidden.csv']) write(root, f);
    const all = fakeContext();
    await source(root, { include: ['**/*.csv', '**/*.xml'], exclude: ['**/~*', '**/*.tmp'] }).scan(all.ctx);
    expect(all.names()).toEqual(['a.csv', 'b.xml', 'sub/d.csv', 'sub/deeper/deepest/f.csv', 'sub/deeper/e.csv']);
    const top = fakeContext();
    await source(root, { include: ['**/*.csv'], recursive: false }).scan(top.ctx);
    expect(top.names()).toEqual(['a.csv', '~lock.csv']);
    const depth1 = fakeContext();
    await source(root, { include: ['**/*.csv'], exclude: ['**/~*'], depth: 1 }).scan(depth1.ctx);
    expect(depth1.names()).toEqual(['a.csv', 'sub/d.csv']);
    // bytes and attributes of what was taken
    const a = all.emitted.find((e) => e.item.name === 'a.csv')!;
    expect(a.bytes.toString()).toBe('a.csv');
    expect(a.item.attributes).toMatchObject({ relativePath: 'a.csv', size: 5, sourcePath: path.join(root, 'a.csv') });
  });

  it('skips the move target inside the watched folder, and does not take a file twice', async () => {
    const root = tempDir();
    write(root, 'a.txt');
    write(root, '.sent/old.txt');
    write(root, 'archive/old2.txt');
    const src = source(root, { afterDelivery: { action: 'move', to: path.join(root, 'archive') } });
    const c = fakeContext();
    await src.scan(c.ctx);
    await src.scan(c.ctx);
    expect(c.names()).toEqual(['a.txt']);
  });

  it('waits until a file is unchanged for settleMs', async () => {
    const root = tempDir();
    write(root, 'grow.txt', 'part1');
    const src = source(root, { settleMs: 300 });
    const c = fakeContext();
    const scanning = src.scan(c.ctx);
    await new Promise((r) => setTimeout(r, 100));
    fs.appendFileSync(path.join(root, 'grow.txt'), '-part2');
    await scanning;
    // the second look within the scan saw it change: not taken yet
    expect(c.emitted).toHaveLength(0);
    await src.scan(c.ctx);
    expect(c.emitted.map((e) => e.bytes.toString())).toEqual(['part1-part2']);
  });

  it('readyMarker: a file is taken only once its marker exists; the marker is not an item and goes with the file', async () => {
    const root = tempDir();
    const sent = path.join(root, '.sent');
    const src = source(root, { readyMarker: '{name}.done', afterDelivery: { action: 'move', to: sent } });
    write(root, 'data.csv', '1,2');
    const c = fakeContext();
    await src.scan(c.ctx);
    expect(c.emitted).toHaveLength(0);
    write(root, 'data.csv.done', '');
    await src.scan(c.ctx);
    expect(c.names()).toEqual(['data.csv']);
    const it0 = c.emitted[0].item;
    await src.afterDelivery({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toEqual(['.sent/data.csv']);
  });
});

describe('folder source: after delivery', () => {
  it('move never overwrites: a collision in the target gets a suffix', async () => {
    const root = tempDir();
    const sent = path.join(root, '.sent');
    write(root, '.sent/a.txt', 'earlier');
    write(root, 'a.txt', 'now');
    const src = source(root, { afterDelivery: { action: 'move', to: sent } });
    const c = fakeContext();
    await src.scan(c.ctx);
    const it0 = c.emitted[0].item;
    await src.afterDelivery({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toEqual(['.sent/a (1).txt', '.sent/a.txt']);
    expect(fs.readFileSync(path.join(sent, 'a.txt'), 'utf8')).toBe('earlier');
    expect(fs.readFileSync(path.join(sent, 'a (1).txt'), 'utf8')).toBe('now');
    // a repeat (crash after the move) finds nothing to do and does not throw
    await src.afterDelivery({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toHaveLength(2);
  });

  it('keeps sub-folders when moving, deletes in delete mode, and leaves a replaced file alone', async () => {
    const root = tempDir();
    write(root, 'sub/a.txt', 'a');
    const src = source(root, { afterDelivery: { action: 'move', to: path.join(root, 'done') } });
    const c = fakeContext();
    await src.scan(c.ctx);
    const it0 = c.emitted[0].item;
    await src.afterDelivery({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toEqual(['done/sub/a.txt']);

    const root2 = tempDir();
    write(root2, 'b.txt', 'b');
    write(root2, 'c.txt', 'c');
    const del = source(root2, { afterDelivery: { action: 'delete' } });
    const c2 = fakeContext();
    await del.scan(c2.ctx);
    const [b, cc] = c2.emitted.map((e) => e.item).sort((x, y) => x.name.localeCompare(y.name));
    // c.txt is rewritten after it was taken: the delivered version is not the one on disk any more
    await new Promise((r) => setTimeout(r, 20));
    fs.writeFileSync(path.join(root2, 'c.txt'), 'c, newer and longer');
    await del.afterDelivery({ id: 1, sourceKey: b.sourceKey, name: b.name, attributes: b.attributes!, outcome: 'delivered' });
    await del.afterDelivery({ id: 2, sourceKey: cc.sourceKey, name: cc.name, attributes: cc.attributes!, outcome: 'delivered' });
    expect(listFiles(root2)).toEqual(['c.txt']);
  });

  it('keep mode remembers what it took (size and mtime) and takes only changed files', async () => {
    const root = tempDir();
    write(root, 'a.txt', 'a');
    write(root, 'b.txt', 'b');
    const c = fakeContext();
    await source(root).scan(c.ctx);
    expect(c.names()).toEqual(['a.txt', 'b.txt']);
    // a new source instance (a restart) with the same state
    fs.writeFileSync(path.join(root, 'b.txt'), 'b changed');
    const again = source(root);
    const before = c.emitted.length;
    await again.scan(c.ctx);
    expect(c.emitted.slice(before).map((e) => e.bytes.toString())).toEqual(['b changed']);
    expect(fs.existsSync(path.join(root, 'a.txt'))).toBe(true);
    // touched without a change in content: not taken again
    const later = new Date(Date.now() + 10_000);
    fs.utimesSync(path.join(root, 'a.txt'), later, later);
    const n = c.emitted.length;
    await source(root).scan(c.ctx);
    expect(c.emitted.length).toBe(n);
    // changed back to an earlier content: a new version, with another source key than the first time
    fs.writeFileSync(path.join(root, 'b.txt'), 'b');
    await source(root).scan(c.ctx);
    const bs = c.emitted.filter((e) => e.item.name === 'b.txt');
    expect(bs.map((e) => e.bytes.toString())).toEqual(['b', 'b changed', 'b']);
    expect(new Set(bs.map((e) => e.item.sourceKey)).size).toBe(3);
  });
});

describe('folder source: problems', () => {
  it('an unreadable file is reported, stays, and is retried later (never skipped in silence)', async () => {
    const root = tempDir();
    write(root, 'ok.txt', 'fine');
    write(root, 'locked.txt', 'secret');
    const isRoot = process.getuid?.() === 0;
    // root reads files whatever their mode, so under root the read failure is injected at emit
    if (!isRoot) fs.chmodSync(path.join(root, 'locked.txt'), 0);
    let blocked = true;
    const c = fakeContext({ failRead: (item) => (isRoot && blocked && item.name === 'locked.txt' ? `EACCES: permission denied, open '${path.join(root, 'locked.txt')}'` : undefined) });
    if (!isRoot) {
      // the real emit reads the file: imitate it so the failure comes from the file system
      const emit = c.ctx.emit;
      c.ctx.emit = async (items) => {
        const failed: EmitResult['failed'] = [];
        const ok: NewItem[] = [];
        for (const item of items) {
          try {
            if ('file' in item.body) fs.accessSync(item.body.file, fs.constants.R_OK);
            ok.push(item);
          } catch (err) {
            failed.push({ item, error: `EACCES: ${(err as Error).message}` });
          }
        }
        const r = await emit(ok);
        return { ...r, failed: [...r.failed, ...failed] };
      };
    }
    const src = source(root);
    await src.scan(c.ctx);
    expect(c.names()).toEqual(['ok.txt']);
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0]).toMatch(new RegExp(`^cannot take ${path.join(root, 'locked.txt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EACCES.*; retrying in \\d+ s$`));
    expect(fs.existsSync(path.join(root, 'locked.txt'))).toBe(true);
    // within the back-off it is not hammered
    await src.scan(c.ctx);
    expect(c.problems).toHaveLength(1);
    blocked = false;
    if (!isRoot) fs.chmodSync(path.join(root, 'locked.txt'), 0o644);
    expect(c.names()).toEqual(['ok.txt']);
  });

  it('a refused intake (back pressure) leaves files to be taken on a later pass', async () => {
    const root = tempDir();
    write(root, 'a.txt');
    let full: string | undefined = 'queue full';
    const c = fakeContext({ refuse: () => full });
    const src = source(root);
    await src.scan(c.ctx);
    expect(c.emitted).toHaveLength(0);
    full = undefined;
    await src.scan(c.ctx);
    expect(c.names()).toEqual(['a.txt']);
  });

  it('check() names a missing folder and never throws', async () => {
    const base = tempDir();
    const r = await source(path.join(base, 'missing')).check();
    expect(r).toEqual({ ok: false, message: `folder missing: ${path.join(base, 'missing')}` });
    await expect(source(base).check()).resolves.toMatchObject({ ok: true });
    const scan = fakeContext();
    await expect(source(path.join(base, 'missing')).scan(scan.ctx)).rejects.toThrow(/ENOENT/);
  });
});

describe('folder source: watch', () => {
  let teardown: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await teardown?.();
    teardown = undefined;
  });

  it('takes files present at start-up and new ones as they settle, ignoring the move target', async () => {
    const root = tempDir();
    write(root, 'before.txt', 'was here');
    const src = source(root, { settleMs: 150, afterDelivery: { action: 'move', to: path.join(root, '.sent') } });
    const c = fakeContext();
    teardown = await src.watch(c.ctx);
    write(root, 'after.txt', 'arrived');
    write(root, '.sent/moved.txt', 'not mine');
    await waitFor(() => c.emitted.length >= 2, 'both files taken', 10_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(c.names()).toEqual(['after.txt', 'before.txt']);
  });

  it('with a readyMarker, takes a file when its marker arrives, not before', async () => {
    const root = tempDir();
    const src = source(root, { settleMs: 50, readyMarker: '{name}.ok' });
    const c = fakeContext();
    teardown = await src.watch(c.ctx);
    write(root, 'data.xml', '<a/>');
    await new Promise((r) => setTimeout(r, 500));
    expect(c.emitted).toHaveLength(0);
    write(root, 'data.xml.ok', '');
    await waitFor(() => c.emitted.length === 1, 'the file taken once its marker exists', 10_000);
    expect(c.emitted[0].bytes.toString()).toBe('<a/>');
    await new Promise((r) => setTimeout(r, 300));
    expect(c.names()).toEqual(['data.xml']);
  });

  it('usePolling (network shares) takes new files too', async () => {
    const root = tempDir();
    const src = source(root, { settleMs: 100, usePolling: true, pollIntervalMs: 100 });
    const c = fakeContext();
    teardown = await src.watch(c.ctx);
    write(root, 'sub/polled.txt', 'via polling');
    await waitFor(() => c.emitted.length === 1, 'the polled file taken', 10_000);
    expect(c.names()).toEqual(['sub/polled.txt']);
  });
});
