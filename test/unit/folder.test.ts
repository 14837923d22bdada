// Folder connector: the destination writes atomically, never overwrites and stays inside its folder; the
// source takes only wanted, complete files, honours ready markers, and moves/deletes only after delivery.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FolderDestination } from '../../connectors/folder/destination.ts';
import { FolderSource } from '../../connectors/folder/source.ts';
import { folderDestinationSchema, folderSourceSchema } from '../../connectors/folder/schema.ts';
import type { EmitResult, NewItem } from '../../connectors/contract.ts';
import { outgoingItem } from '../helpers/items.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { repoRoot } from '../helpers/cli.ts';
import { recordIntake } from '../helpers/intake.ts';
import { recordingContext, type RecordingOptions } from '../helpers/source-context.ts';

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

describe('folder destination: bodies stored as files', () => {
  afterEach(() => vi.restoreAllMocks());

  /** A body file as the content store keeps it, and the item pointing at it. */
  function storedBody(bytes = crypto.randomBytes(300 * 1024), dir = tempDir()) {
    const bodyFile = path.join(dir, 'stored-body');
    fs.writeFileSync(bodyFile, bytes);
    const sha = crypto.createHash('sha256').update(bytes).digest('hex');
    const intact = () => crypto.createHash('sha256').update(fs.readFileSync(bodyFile)).digest('hex') === sha;
    return { bytes, bodyFile, intact, item: (name: string, attributes: Record<string, string> = {}) => outgoingItem(name, bytes, { attributes, bodyFile }) };
  }

  it('hard-links the stored body into the target folder (no second write); the stored file stays intact', async () => {
    const root = tempDir();
    const body = storedBody();
    const out = await folderDest(root).send(body.item('big.bin', { relativePath: 'sub/big.bin' }));
    const final = path.join(root, 'sub/big.bin');
    expect(out).toEqual({ kind: 'delivered', detail: final });
    expect(fs.statSync(final).ino).toBe(fs.statSync(body.bodyFile).ino);
    expect(fs.readFileSync(final).equals(body.bytes)).toBe(true);
    expect(listFiles(root)).toEqual(['sub/big.bin']); // no temp name left
    // the engine removing its stored copy later leaves the delivered file whole
    expect(body.intact()).toBe(true);
    fs.rmSync(body.bodyFile);
    expect(fs.readFileSync(final).equals(body.bytes)).toBe(true);
  });

  it('collisions work on links too: suffix, fail, and overwrite (also when the same body is delivered again)', async () => {
    const root = tempDir();
    const body = storedBody();
    await folderDest(root).send(body.item('r.bin'));
    expect(await folderDest(root).send(body.item('r.bin'))).toEqual({ kind: 'delivered', detail: path.join(root, 'r (1).bin') });
    expect((await folderDest(root, { onCollision: 'fail' }).send(body.item('r.bin'))).kind).toBe('dead');
    // r.bin already is a link to this very body: rename between two links of one file is a no-op, tmp must go anyway
    expect(await folderDest(root, { onCollision: 'overwrite' }).send(body.item('r.bin'))).toEqual({ kind: 'delivered', detail: path.join(root, 'r.bin') });
    expect(listFiles(root)).toEqual(['r (1).bin', 'r.bin']);
    expect(fs.readFileSync(path.join(root, 'r (1).bin')).equals(body.bytes)).toBe(true);
    expect(body.intact()).toBe(true);
  });

  it.each(['EXDEV', 'EPERM', 'ENOTSUP'])('copies (and fsyncs) when linking fails with %s', async (code) => {
    const root = tempDir();
    const body = storedBody();
    const link = vi.spyOn(fs.promises, 'link').mockRejectedValueOnce(Object.assign(new Error(`${code}: link refused`), { code }));
    const out = await folderDest(root).send(body.item('c.bin'));
    expect(link.mock.calls[0]![0]).toBe(body.bodyFile); // refused; the copy then gets its final name as usual
    expect(out).toEqual({ kind: 'delivered', detail: path.join(root, 'c.bin') });
    expect(fs.statSync(path.join(root, 'c.bin')).ino).not.toBe(fs.statSync(body.bodyFile).ino);
    expect(fs.readFileSync(path.join(root, 'c.bin')).equals(body.bytes)).toBe(true);
    expect(listFiles(root)).toEqual(['c.bin']);
    expect(body.intact()).toBe(true);
  });

  it.skipIf(!fs.existsSync('/dev/shm'))('copies into a folder on another volume (a real EXDEV)', async () => {
    const root = fs.mkdtempSync('/dev/shm/ferry-test-');
    try {
      const body = storedBody();
      expect(fs.statSync(root).dev).not.toBe(fs.statSync(body.bodyFile).dev);
      const out = await folderDest(root).send(body.item('x.bin'));
      expect(out).toEqual({ kind: 'delivered', detail: path.join(root, 'x.bin') });
      expect(fs.readFileSync(path.join(root, 'x.bin')).equals(body.bytes)).toBe(true);
      expect(listFiles(root)).toEqual(['x.bin']);
      expect(body.intact()).toBe(true);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a missing stored body is a retry, not a delivery, and leaves nothing behind', async () => {
    const root = tempDir();
    const body = storedBody();
    fs.rmSync(body.bodyFile);
    const out = await folderDest(root).send(body.item('gone.bin'));
    expect(out.kind).toBe('retry');
    expect((out as { reason: string }).reason).toMatch(/ENOENT/);
    expect(listFiles(root)).toEqual([]);
  });

  it('a crash (kill -9) between link and rename leaves no visible partial file; the retry delivers it whole', async () => {
    const root = tempDir();
    const body = storedBody(crypto.randomBytes(2 * 1024 * 1024));
    const script = path.join(tempDir(), 'crash-after-link.mts');
    // the child links, then dies before the rename: as if the power went or the process was killed right there
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';
const { FolderDestination } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'connectors/folder/destination.ts')).href)});
const { folderDestinationSchema } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'connectors/folder/schema.ts')).href)});
const { outgoingItem } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'test/helpers/items.ts')).href)});
const link = fs.promises.link;
fs.promises.link = async (a, b) => { await link(a, b); process.kill(process.pid, 'SIGKILL'); };
const bytes = fs.readFileSync(${JSON.stringify(body.bodyFile)});
await new FolderDestination(folderDestinationSchema.parse({ path: ${JSON.stringify(root)} })).send(outgoingItem('big.bin', bytes, { bodyFile: ${JSON.stringify(body.bodyFile)} }));
console.log('not killed');
`,
    );
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/run-ts.js'), script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
    expect(signal, out).toBe('SIGKILL');
    // only the hidden temp name exists, and it is whole (a link to the stored body), never a half file
    const left = fs.readdirSync(root);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.big\.bin\.[0-9a-f]+\.partial$/);
    expect(fs.statSync(path.join(root, left[0])).size).toBe(body.bytes.length);
    expect(body.intact()).toBe(true);
    // after the restart the item is sent again: the final name appears once, whole
    expect(await folderDest(root).send(body.item('big.bin'))).toEqual({ kind: 'delivered', detail: path.join(root, 'big.bin') });
    expect(fs.readFileSync(path.join(root, 'big.bin')).equals(body.bytes)).toBe(true);
    expect(fs.readdirSync(root).filter((f) => !f.startsWith('.'))).toEqual(['big.bin']);
  });
});

/** A source context that records what a source emits, with an in-memory state. */
const fakeContext = (opts: Omit<RecordingOptions, 'state'> = {}) => recordingContext(opts);

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
    await src.afterDelivery!({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
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
    await src.afterDelivery!({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toEqual(['.sent/a (1).txt', '.sent/a.txt']);
    expect(fs.readFileSync(path.join(sent, 'a.txt'), 'utf8')).toBe('earlier');
    expect(fs.readFileSync(path.join(sent, 'a (1).txt'), 'utf8')).toBe('now');
    // a repeat (crash after the move) finds nothing to do and does not throw
    await src.afterDelivery!({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toHaveLength(2);
  });

  it('keeps sub-folders when moving, deletes in delete mode, and leaves a replaced file alone', async () => {
    const root = tempDir();
    write(root, 'sub/a.txt', 'a');
    const src = source(root, { afterDelivery: { action: 'move', to: path.join(root, 'done') } });
    const c = fakeContext();
    await src.scan(c.ctx);
    const it0 = c.emitted[0].item;
    await src.afterDelivery!({ id: 1, sourceKey: it0.sourceKey, name: it0.name, attributes: it0.attributes!, outcome: 'delivered' });
    expect(listFiles(root)).toEqual(['done/sub/a.txt']);

    const root2 = tempDir();
    write(root2, 'b.txt', 'b');
    write(root2, 'c.txt', 'c');
    const del = source(root2, { afterDelivery: { action: 'delete' } });
    const c2 = fakeContext();
    await del.scan(c2.ctx);
    const [b, cc] = c2.emitted.map((e) => e.item).sort((x, y) => x.name.localeCompare(y.name));
    // c.txt is rewritten after it was taken: the delivered version is not the one on disk any more
    fs.writeFileSync(path.join(root2, 'c.txt'), 'c, newer and longer');
    await del.afterDelivery!({ id: 1, sourceKey: b.sourceKey, name: b.name, attributes: b.attributes!, outcome: 'delivered' });
    await del.afterDelivery!({ id: 2, sourceKey: cc.sourceKey, name: cc.name, attributes: cc.attributes!, outcome: 'delivered' });
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
    const c = fakeContext({ failStore: (item) => (isRoot && blocked && item.name === 'locked.txt' ? `EACCES: permission denied, open '${path.join(root, 'locked.txt')}'` : undefined) });
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
    // a scan of a missing folder does not throw: it reports the listing's problem (the flow shows "failing")
    const scan = fakeContext();
    await source(path.join(base, 'missing')).scan(scan.ctx);
    expect(scan.problems).toEqual([`cannot list ${path.join(base, 'missing')}: folder missing: ${path.join(base, 'missing')}`]);
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
    const src = source(root, { settleMs: 150, reconcileMs: 1000, afterDelivery: { action: 'move', to: path.join(root, '.sent') } });
    const c = fakeContext();
    const rec = recordIntake(src);
    teardown = await src.watch(c.ctx);
    write(root, '.sent/moved.txt', 'not mine');
    write(root, 'after.txt', 'arrived');
    await waitFor(() => c.emitted.length >= 2, 'both files taken', 10_000);
    // a full listing after that looked at the whole tree: nothing in the move target was noticed
    await rec.passes(1, { from: rec.mark(), pass: 'reconcile' });
    expect(rec.events.some((e) => e.type === 'decision' && e.rel.startsWith('.sent/'))).toBe(false);
    expect(c.names()).toEqual(['after.txt', 'before.txt']);
  });

  it('with a readyMarker, takes a file when its marker arrives, not before', async () => {
    const root = tempDir();
    const src = source(root, { settleMs: 50, readyMarker: '{name}.ok', reconcileMs: 1000 });
    const c = fakeContext();
    const rec = recordIntake(src);
    teardown = await src.watch(c.ctx);
    write(root, 'data.xml', '<a/>');
    await rec.decided('data.xml', 'waiting-for-marker');
    expect(c.emitted).toHaveLength(0);
    write(root, 'data.xml.ok', '');
    await waitFor(() => c.emitted.length === 1, 'the file taken once its marker exists', 10_000);
    expect(c.emitted[0].bytes.toString()).toBe('<a/>');
    // the next full listing finds it taken already, and the marker is no item
    const from = rec.mark();
    await rec.passes(1, { from, pass: 'reconcile' });
    expect(rec.decisions('data.xml', from)).toEqual(['remembered']);
    expect(rec.decisions('data.xml.ok')).toEqual([]);
    expect(c.names()).toEqual(['data.xml']);
  });

  it('native events reach sub-folders made after start (and files moved in with a folder), within depth, and a re-made folder', async () => {
    const root = tempDir();
    const elsewhere = tempDir();
    const src = source(root, { settleMs: 50, depth: 2, reconcileMs: 600_000 }); // no rescan helps: events only
    const c = fakeContext();
    const rec = recordIntake(src);
    teardown = await src.watch(c.ctx);
    write(root, 'a/b/one.txt', '1');
    await waitFor(() => c.emitted.length === 1, 'a file in a new sub-folder taken', 10_000);
    write(elsewhere, 'pre/two.txt', '2');
    fs.renameSync(path.join(elsewhere, 'pre'), path.join(root, 'pre'));
    write(root, 'a/b/c/deep.txt', 'below depth');
    await waitFor(() => c.emitted.length === 2, 'a file moved in with its folder taken', 10_000);
    fs.rmSync(path.join(root, 'a'), { recursive: true });
    await rec.decided('a', 'vanished'); // the watcher saw the folder go
    write(root, 'a/b/three.txt', '3');
    await waitFor(() => c.emitted.length === 3, 'a file in a re-made folder taken', 10_000);
    // the sweep that took it has ended; the file below depth was never even noticed
    await rec.decided('a/b/three.txt', 'taken');
    await rec.passes(1, { from: rec.events.findIndex((e) => e.type === 'decision' && e.rel === 'a/b/three.txt' && e.decision === 'taken'), pass: 'sweep' });
    expect(rec.decisions('a/b/c/deep.txt')).toEqual([]);
    expect(c.names()).toEqual(['a/b/one.txt', 'a/b/three.txt', 'pre/two.txt']);
  });

  it('the watched folder moved away and made again: reported, and watched again without waiting for the periodic scan', async () => {
    const root = path.join(tempDir(), 'in');
    fs.mkdirSync(root);
    const src = source(root, { settleMs: 50, reconcileMs: 600_000 });
    const c = fakeContext();
    const rec = recordIntake(src);
    teardown = await src.watch(c.ctx);
    write(root, 'a.txt', 'a');
    await waitFor(() => c.emitted.length === 1, 'a.txt taken', 10_000);
    fs.renameSync(root, `${root}-aside`);
    const failed = await rec.passes(1, { pass: 'reconcile', from: rec.mark() });
    expect(failed[0]).toMatchObject({ ok: false, problem: `cannot list ${root}: folder missing: ${root}` });
    expect(c.problems).toContain(`${root} was moved or removed`);
    fs.mkdirSync(root);
    write(root, 'b.txt', 'b');
    await waitFor(() => c.emitted.length === 2, 'b.txt taken from the new folder', 10_000);
    write(root, 'c.txt', 'c'); // by its event: the new folder is watched
    await waitFor(() => c.emitted.length === 3, 'c.txt taken', 10_000);
    expect(c.names()).toEqual(['a.txt', 'b.txt', 'c.txt']);
  });

  it('a file written while the first listing runs is taken at once, not at the next periodic listing', async () => {
    const root = tempDir();
    write(root, 'sub/a.txt', 'a');
    const src = source(root, { settleMs: 50, reconcileMs: 600_000 });
    const c = fakeContext();
    let wrote = false;
    src.activity.on((e) => {
      // sub/ has been read by the listing now: only a watch on it can tell of a new file
      if (wrote || e.type !== 'decision' || e.rel !== 'sub/a.txt') return;
      wrote = true;
      write(root, 'sub/b.txt', 'written while listing');
    });
    teardown = await src.watch(c.ctx);
    await waitFor(() => c.emitted.length === 2, 'both files taken', 10_000);
    expect(c.names()).toEqual(['sub/a.txt', 'sub/b.txt']);
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
