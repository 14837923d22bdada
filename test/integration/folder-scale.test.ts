// A local folder at scale: listings walk in a fixed order and resume at a cursor, a backlog is held a window at
// a time and paced by the queue so fresh files overtake it, reconcile rounds do not read folders unchanged since
// the last complete round, and a large file's queued body is what was there when it was taken (a writer
// changing the file afterwards does not change what is delivered).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Source } from '../../connectors/contract.ts';
import { folderConnector } from '../../connectors/folder/index.ts';
import { FolderReader } from '../../connectors/folder/reader.ts';
import { folderSourceSchema } from '../../connectors/folder/schema.ts';
import { BACKLOG_AHEAD, CANDIDATES, type FileIntake } from '../../connectors/intake/core.ts';
import type { FileEntry } from '../../connectors/intake/reader.ts';
import { afterCursor } from '../../connectors/intake/walk.ts';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { recordIntake } from '../helpers/intake.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { recordingContext } from '../helpers/source-context.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function folderSource(config: Record<string, unknown>): Source {
  return folderConnector.createSource!(folderSourceSchema.parse(config), { log } as never);
}

/** The intake core behind a folder source (what it holds is what this file is about). */
const coreOf = (source: Source) => (source as unknown as { intake: FileIntake }).intake;

/**
 * Watches a folder source with a recording context (stopped after the test); `reconcileMs` below the schema's
 * minimum makes its rounds come quickly. `beforeWatch` runs once the source exists.
 */
async function watching(config: Record<string, unknown>, reconcileMs: number, beforeWatch?: (source: Source) => void) {
  const source = folderSource(config);
  (source as unknown as { cfg: { reconcileMs: number } }).cfg.reconcileMs = reconcileMs;
  beforeWatch?.(source);
  const rec = recordingContext();
  const abort = new AbortController();
  rec.ctx.signal = abort.signal;
  const activity = recordIntake(source);
  const stop = await source.watch!(rec.ctx);
  cleanups.push(async () => (abort.abort(), await stop()));
  return { source, rec, activity };
}

/** Writes files; folders (and files) get a time well in the past, as a backlog left over a weekend has. */
function tree(root: string, files: string[], content = (rel: string) => `${rel}\n`): void {
  const past = new Date(Date.now() - 3_600_000);
  for (const rel of files) {
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), content(rel));
    fs.utimesSync(path.join(root, rel), past, past);
  }
  const dirs = new Set(files.map((f) => path.dirname(f)).flatMap((d) => d.split('/').map((_, i, a) => a.slice(0, i + 1).join('/'))));
  for (const d of [...dirs, '.'].sort().reverse()) fs.utimesSync(path.join(root, d), past, past);
}

async function listAll(reader: FolderReader, after?: string): Promise<string[]> {
  const out: string[] = [];
  for await (const page of reader.list({ descend: () => true, wants: () => true, after })) out.push(...page.map((e: FileEntry) => e.rel));
  return out;
}

describe('folder at scale', () => {
  it('walks in walk order (files by name, then sub-folders by name) and resumes after any cursor with exactly the rest', async () => {
    const root = tempDir('ferry-walk-');
    const files = ['b.txt', 'a.txt', 'Z.txt', 'sub/x.txt', 'sub/deep/y.txt', 'sub/a.txt', 'aa/k.txt', 'sub2/q.txt', 'sub/deep/z.txt'];
    tree(root, files);
    const reader = new FolderReader(root, { usePolling: false });
    reader.chooseFileOps();
    const all = await listAll(reader);
    expect(all).toEqual(['Z.txt', 'a.txt', 'b.txt', 'aa/k.txt', 'sub/a.txt', 'sub/x.txt', 'sub/deep/y.txt', 'sub/deep/z.txt', 'sub2/q.txt']);
    // the order the walk yields is the order afterCursor describes
    for (let i = 0; i < all.length; i++) {
      for (let j = 0; j < all.length; j++) expect(afterCursor(all[j], all[i]), `${all[j]} after ${all[i]}`).toBe(j > i);
      expect(await listAll(reader, all[i])).toEqual(all.slice(i + 1));
    }
    // a cursor whose file is gone resumes at the next one
    expect(await listAll(reader, 'sub/b.txt')).toEqual(['sub/x.txt', 'sub/deep/y.txt', 'sub/deep/z.txt', 'sub2/q.txt']);
  });

  it('on a share (here: usePolling) lists the same files in the same order, stat-ing many at once, across pages', async () => {
    const root = tempDir('ferry-walk-async-');
    const big = Array.from({ length: 1300 }, (_, i) => `big/f${String(i).padStart(4, '0')}.csv`);
    const files = ['b.txt', 'a.txt', 'Z.txt', 'sub/x.txt', 'sub/deep/y.txt', 'sub/a.txt', ...big];
    tree(root, files);
    const local = new FolderReader(root, { usePolling: false });
    local.chooseFileOps();
    const polled = new FolderReader(root, { usePolling: true });
    polled.chooseFileOps();
    const pages: number[] = [];
    const all: string[] = [];
    for await (const page of polled.list({ descend: () => true, wants: (rel) => rel !== 'big/f0007.csv', after: undefined })) {
      pages.push(page.length);
      all.push(...page.map((e: FileEntry) => e.rel));
    }
    expect(all).toEqual(['Z.txt', 'a.txt', 'b.txt', ...big.filter((f) => f !== 'big/f0007.csv'), 'sub/a.txt', 'sub/x.txt', 'sub/deep/y.txt']);
    expect(all).toEqual((await listAll(local)).filter((f) => f !== 'big/f0007.csv'));
    expect(pages.length).toBeGreaterThan(2); // the big folder comes in more than one page
    // resumed after a cursor inside the big folder: exactly the rest
    expect(await listAll(polled, 'big/f1000.csv')).toEqual([...big.slice(1001), 'sub/a.txt', 'sub/x.txt', 'sub/deep/y.txt']);
    // sizes and times are the files' own
    const [first] = (await polled.list({ descend: () => false, wants: (rel) => rel === 'a.txt' })[Symbol.asyncIterator]().next()).value as FileEntry[];
    const st = fs.statSync(path.join(root, 'a.txt'));
    expect(first).toEqual({ rel: 'a.txt', size: st.size, mtimeMs: st.mtimeMs });
  });

  it('a backlog is held a window at a time; while the queue holds enough of it, a fresh file is taken at once; then all of it, once', async () => {
    const root = tempDir('ferry-backlog-');
    const n = CANDIDATES * 2 + 500;
    tree(root, Array.from({ length: n }, (_, i) => `d${i % 5}/f${String(i).padStart(5, '0')}.csv`));
    const source = folderSource({ path: root, settleMs: 100, afterDelivery: { action: 'delete' } });
    const rec = recordingContext();
    let waiting = BACKLOG_AHEAD; // the queue holds enough of the backlog already
    rec.ctx.waiting = () => waiting;
    const abort = new AbortController();
    rec.ctx.signal = abort.signal;
    const activity = recordIntake(source);
    const stop = await source.watch!(rec.ctx);
    cleanups.push(async () => (abort.abort(), await stop()));
    const core = coreOf(source);
    await activity.passes(1, { pass: 'reconcile' });
    expect(core.observed.size).toBe(CANDIDATES);

    fs.writeFileSync(path.join(root, 'd3', 'fresh.csv'), 'fresh');
    await waitFor(() => rec.emitted.some((e) => e.item.name === 'fresh.csv'), 'the fresh file taken');
    expect(rec.emitted).toHaveLength(1);
    expect(core.observed.size).toBeLessThanOrEqual(CANDIDATES);

    waiting = 0;
    await waitFor(() => rec.emitted.length === n + 1, `all ${n + 1} files taken`, 60_000);
    expect(new Set(rec.emitted.map((e) => e.item.attributes!.relativePath)).size).toBe(n + 1);
  });

  it('reconcile rounds skip folders unchanged since the last complete round, read a folder that changed, and forget nothing they skipped', async () => {
    const root = tempDir('ferry-stamps-');
    const files = ['d1/a.csv', 'd1/b.csv', 'd2/c.csv', 'd2/deeper/d.csv'];
    tree(root, files);
    const { rec, activity } = await watching({ path: root, settleMs: 0, afterDelivery: { action: 'keep' } }, 200);
    await waitFor(() => rec.emitted.length === 4, 'the four files taken');

    // round 2 reads every folder (it remembers them all), records their stamps; round 3 reads none of them
    await activity.passes(2, { pass: 'reconcile' });
    const from = activity.mark();
    await activity.passes(2, { pass: 'reconcile', from });
    for (const f of files) expect(activity.decisions(f, from), f).toEqual([]);

    // a new file changes its folder: that folder is read again (its other file remembered), the others are not
    fs.writeFileSync(path.join(root, 'd2/new.csv'), 'new');
    const after = activity.mark();
    await waitFor(() => rec.emitted.some((e) => e.item.name === 'new.csv'), 'the new file taken');
    await activity.passes(2, { pass: 'reconcile', from: after });
    expect(activity.decisions('d2/c.csv', after)).toContain('remembered');
    expect(activity.decisions('d1/a.csv', after)).toEqual([]);
    expect(activity.decisions('d2/deeper/d.csv', after)).toEqual([]);
    // nothing skipped was forgotten: the next full round (every 12th) remembers them, takes nothing again
    await activity.passes(13, { pass: 'reconcile', from: after, timeoutMs: 30_000 });
    expect(activity.decisions('d1/a.csv', after)).toContain('remembered');
    expect(rec.emitted).toHaveLength(5);
  });
});

describe('usePolling on a tree larger than pollFilesUpTo', () => {
  it('polls by folder: new files and folders within a few intervals, unchanged folders not read, a file rewritten in place by the next full round', async () => {
    const root = tempDir('ferry-pollfolders-');
    const files = Array.from({ length: 60 }, (_, i) => `d${i % 3}/f${String(i).padStart(2, '0')}.csv`);
    tree(root, files);
    // a full round every 12 × 300 ms
    const { rec, activity } = await watching({ path: root, settleMs: 0, afterDelivery: { action: 'keep' }, usePolling: true, pollIntervalMs: 100, pollFilesUpTo: 20 }, 300);
    await waitFor(() => rec.emitted.length === 60, 'the sixty files taken');
    expect(rec.infos.some((m) => m.startsWith('polling by folder'))).toBe(true);

    // rounds come every pollIntervalMs; once stamps are known, a round reads no folder that did not change
    await activity.passes(3, { pass: 'reconcile' });
    const quiet = activity.mark();
    await activity.passes(3, { pass: 'reconcile', from: quiet });
    const quietRounds = activity.mark();
    // (a full round may fall in between: then its decisions are "remembered"; none takes anything)
    for (const f of files) expect(activity.decisions(f, quiet).filter((d) => d !== 'remembered'), f).toEqual([]);
    expect(quietRounds).toBeGreaterThan(quiet);

    // a new file in a folder, and a new folder with a file in it
    fs.writeFileSync(path.join(root, 'd1/new.csv'), 'new');
    fs.mkdirSync(path.join(root, 'd9'));
    fs.writeFileSync(path.join(root, 'd9/x.csv'), 'x');
    await waitFor(() => ['new.csv', 'x.csv'].every((n) => rec.emitted.some((e) => e.item.name === n)), 'the new files taken', 10_000);

    // a file rewritten in place (its folder's stamp unchanged) is taken again, by the next full round at the latest
    fs.writeFileSync(path.join(root, 'd0/f00.csv'), 'rewritten, longer than before\n');
    await waitFor(() => rec.emitted.filter((e) => e.item.name === 'f00.csv').length === 2, 'the rewritten file taken again', 15_000);
    expect(rec.emitted.at(-1)!.bytes.toString()).toBe('rewritten, longer than before\n');
    // nothing else taken twice
    expect(rec.emitted).toHaveLength(63);
  });

  it('at rest, polling by folder looks at the folders\' stamps only: no listing round until one changes', async () => {
    const root = tempDir('ferry-pollstamps-');
    const files = Array.from({ length: 40 }, (_, i) => `d${i % 4}/f${String(i).padStart(2, '0')}.csv`);
    tree(root, files);
    let stampLooks = 0;
    // the periodic reconcile stays out of the way: every round below comes from the poll
    const { rec, activity } = await watching({ path: root, settleMs: 0, afterDelivery: { action: 'keep' }, usePolling: true, pollIntervalMs: 50, pollFilesUpTo: 10 }, 600_000, (source) => {
      const reader = (source as unknown as { reader: FolderReader }).reader;
      const folderStamps = reader.folderStamps.bind(reader);
      reader.folderStamps = (rels) => ((stampLooks += rels.length), folderStamps(rels));
    });
    await waitFor(() => rec.emitted.length === 40, 'the forty files taken');
    // the first round's stamps are trusted (the folders are an hour old): the polls look at the 5 folders' stamps
    const mark = activity.mark();
    const looks = stampLooks;
    await waitFor(() => stampLooks >= looks + 5 * 4, 'four polls of the five folders\' stamps');
    expect(activity.passesSince(mark, 'reconcile')).toBe(0);
    // a new file changes its folder's stamp: the next poll lists (that folder only) and it is taken
    fs.writeFileSync(path.join(root, 'd2/late.csv'), 'late');
    await waitFor(() => rec.emitted.some((e) => e.item.name === 'late.csv'), 'the new file taken', 10_000);
    expect(activity.passesSince(mark, 'reconcile')).toBeGreaterThan(0);
    expect(activity.decisions('d0/f00.csv', mark)).toEqual([]);
  });

  it('a tree within pollFilesUpTo has each file polled: a file rewritten in place is taken within a few intervals', async () => {
    const root = tempDir('ferry-pollfiles-');
    const files = ['a/one.csv', 'a/two.csv', 'b/three.csv'];
    tree(root, files);
    // no full round while the test runs: only the per-file poll can see the rewrite
    const { rec } = await watching({ path: root, settleMs: 0, afterDelivery: { action: 'keep' }, usePolling: true, pollIntervalMs: 100, pollFilesUpTo: 20 }, 600_000);
    await waitFor(() => rec.emitted.length === 3, 'the three files taken');
    expect(rec.infos.some((m) => m.startsWith('polling by folder'))).toBe(false);
    fs.writeFileSync(path.join(root, 'a/two.csv'), 'rewritten in place\n');
    await waitFor(() => rec.emitted.length === 4, 'the rewritten file taken again', 10_000);
    expect(rec.emitted[3].item.name).toBe('two.csv');
  });
});

describe('a large local file', () => {
  let run: RunningEngine | undefined;
  let sink: Sink | undefined;
  afterEach(async () => {
    await run?.stop();
    await sink?.close();
    run = sink = undefined;
  });

  it('is queued as it was when taken: a writer changing it before delivery changes nothing delivered; a touch alone sends nothing', async () => {
    const dir = tempDir('ferry-bigfile-');
    const inbox = path.join(dir, 'inbox');
    fs.mkdirSync(inbox);
    const original = crypto.randomBytes(3 * 1024 * 1024);
    const changed = Buffer.from(original);
    changed.fill(7, 1000, 2_000_000);
    let overwritten = false;
    // the first attempt finds the file changed under it, and fails: the retry must still send the original
    sink = await startSink((_req, _body, n) => {
      if (n > 0) return undefined;
      fs.writeFileSync(path.join(inbox, 'big.bin'), changed);
      overwritten = true;
      return { status: 503 };
    });
    fs.writeFileSync(path.join(inbox, 'big.bin'), original);
    run = await startEngine(
      {
        integrations: [{
          name: 'big',
          flows: [{
            name: 'big',
            source: { type: 'folder', path: inbox, settleMs: 200, afterDelivery: { action: 'keep' } },
            trigger: { on: 'change' },
            destination: { type: 'http', url: `${sink.url}/in` },
            retry: { initialDelayMs: 50, maxDelayMs: 100 },
          }],
        }],
      },
      dir,
    );
    const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
    const delivered = () => [...sink!.accepted.values()].flat().map((r) => sha(r.body));
    await waitFor(() => delivered().length >= 2, 'both versions delivered', 30_000);
    expect(overwritten).toBe(true);
    expect(delivered()).toEqual([sha(original), sha(changed)]);
    expect(sink.received[0].body.equals(original)).toBe(true);

    // touched, not changed: the store's hash recognises it, nothing is sent
    const activity = recordIntake([...run.engine.flows.values()][0].source);
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(inbox, 'big.bin'), t, t);
    await activity.decided('big.bin', 'unchanged');
    expect(delivered()).toHaveLength(2);
  });
});
