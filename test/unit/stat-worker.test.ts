// Bulk stats on a share (or polled) go through one worker thread (connectors/folder/stat-worker.ts): a listing
// through it gives exactly what the local, synchronous path gives; folder stamps are the listing's; a file gone
// between readdir and stat is skipped; the worker ends when idle and comes back on demand; a worker killed
// mid-request loses nothing (its requests finish on the thread pool) and a slow answer is told in the log.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderReader } from '../../connectors/folder/reader.ts';
import { KIND_DIR, KIND_FILE, StatWorker } from '../../connectors/folder/stat-worker.ts';
import type { FileEntry, ListOptions } from '../../connectors/intake/reader.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const workers: StatWorker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

function recordingLog() {
  const lines: Array<{ level: string; msg: string }> = [];
  const at = (level: string) => (obj: object | string, msg?: string) => void lines.push({ level, msg: msg ?? String(obj) });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

function newWorker(opts: ConstructorParameters<typeof StatWorker>[0] = {}): StatWorker {
  const w = new StatWorker(opts);
  workers.push(w);
  return w;
}

/** Files of differing sizes and times in a few folders, one of them larger than a message's worth of paths. */
function tree(n: number): { root: string; files: string[] } {
  const root = tempDir('ferry-statworker-');
  const files = ['a.txt', 'B.txt', 'sub/x.csv', 'sub/deep/y.csv', ...Array.from({ length: n }, (_, i) => `big/f${String(i).padStart(5, '0')}.csv`)];
  files.forEach((rel, i) => {
    fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), 'x'.repeat(i % 97));
    const t = new Date(Date.UTC(2025, 0, 1) + i * 1234.5);
    fs.utimesSync(path.join(root, rel), t, t);
  });
  return { root, files };
}

async function listAll(reader: FolderReader, opts: Partial<ListOptions> = {}, onPage?: (n: number) => void | Promise<void>): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  let pages = 0;
  for await (const page of reader.list({ descend: () => true, wants: () => true, ...opts })) {
    out.push(...page);
    await onPage?.(++pages);
  }
  return out;
}

function readers(root: string, statWorker: StatWorker) {
  const local = new FolderReader(root, { usePolling: false });
  local.chooseFileOps();
  const polled = new FolderReader(root, { usePolling: true, statWorker });
  polled.chooseFileOps();
  return { local, polled };
}

describe('stat worker', () => {
  it('a polled listing gives exactly the local listing: order, sizes, times, and the rest after a cursor inside a big folder', async () => {
    const { root } = tree(2500);
    const sw = newWorker();
    const { local, polled } = readers(root, sw);
    const expected = await listAll(local);
    expect(expected).toHaveLength(2504);
    expect(await listAll(polled)).toEqual(expected);
    expect(sw.started).toBe(1);
    const at = expected.findIndex((e) => e.rel === 'big/f01700.csv');
    expect(await listAll(polled, { after: 'big/f01700.csv' })).toEqual(expected.slice(at + 1));
    // the entries are the files' own stats
    const st = fs.statSync(path.join(root, 'big/f01234.csv'));
    expect(expected.find((e) => e.rel === 'big/f01234.csv')).toEqual({ rel: 'big/f01234.csv', size: st.size, mtimeMs: st.mtimeMs });
  });

  it('skips a file removed between readdir and its stat', async () => {
    const { root } = tree(1500);
    const { local, polled } = readers(root, newWorker());
    const before = await listAll(local);
    // wants() is asked after readdir and before the stats: the file goes in between
    const got = await listAll(polled, { wants: (rel) => (rel === 'big/f00003.csv' && fs.rmSync(path.join(root, 'big/f01200.csv')), true) });
    expect(got.map((e) => e.rel)).toEqual(before.map((e) => e.rel).filter((r) => r !== 'big/f01200.csv'));
  });

  it('folder stamps are the ones the listing records, and a new file changes its folder\'s', async () => {
    const { root } = tree(10);
    const { polled } = readers(root, newWorker());
    const recorded = new Map<string, string>();
    await listAll(polled, { folderRead: (rel, known) => void recorded.set(rel, known.stamp) });
    const dirs = ['', 'big', 'sub', 'sub/deep'];
    expect(await polled.folderStamps([...dirs, 'gone'])).toEqual([...dirs.map((d) => recorded.get(d)), undefined]);
    const stamp = (await polled.folderStamps(['sub']))[0];
    // a folder's mtime may keep its value within a coarse tick: wait for the stamp to move, not for a time
    await waitFor(async () => {
      fs.writeFileSync(path.join(root, 'sub', `new-${Date.now()}.csv`), 'n');
      return (await polled.folderStamps(['sub']))[0] !== stamp;
    }, 'the folder\'s stamp changed');
    expect((await polled.folderStamps(['big']))[0]).toBe(recorded.get('big'));
  });

  it('ends after idling and starts again on demand', async () => {
    const { root } = tree(5);
    const sw = newWorker({ idleMs: 50 });
    const file = path.join(root, 'a.txt');
    expect((await sw.stat([file])).kind[0]).toBe(KIND_FILE);
    const first = sw.thread!;
    expect(first).toBeDefined();
    const exited = new Promise<number>((resolve) => first.once('exit', resolve));
    await waitFor(() => sw.thread === undefined, 'the idle worker ended');
    await exited;
    const again = await sw.stat([file, root, path.join(root, 'nothing')]);
    expect([...again.kind]).toEqual([KIND_FILE, KIND_DIR, 0]);
    expect(again.size[0]).toBe(fs.statSync(file).size);
    expect(sw.started).toBe(2);
  });

  it('a worker killed mid-request loses nothing: its requests finish on the thread pool, said once in the log', async () => {
    const { root, files } = tree(4000);
    const { lines, log } = recordingLog();
    const sw = newWorker({ log });
    const paths = files.map((f) => path.join(root, f));
    const asked = sw.stat(paths); // four messages
    await sw.thread!.terminate();
    const got = await asked;
    paths.forEach((p, i) => {
      const st = fs.statSync(p);
      expect([got.kind[i], got.size[i], got.mtimeMs[i], got.ino[i]], p).toEqual([KIND_FILE, st.size, st.mtimeMs, st.ino]);
    });
    expect(lines.filter((l) => l.level === 'warn' && /stat worker ended/.test(l.msg))).toHaveLength(1);

    // a listing whose worker is killed after its first page completes with every file
    const { local, polled } = readers(root, sw);
    const expected = await listAll(local);
    const got2 = await listAll(polled, {}, async (page) => {
      if (page === 1) await sw.thread?.terminate();
    });
    expect(got2).toEqual(expected);
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(1); // told once
  });

  it('after repeated deaths stats stay on the thread pool, still right', async () => {
    const { root } = tree(5);
    const sw = newWorker();
    const file = path.join(root, 'a.txt');
    for (let i = 0; i < 3; i++) {
      const asked = sw.stat([file]);
      await sw.thread!.terminate();
      expect((await asked).kind[0]).toBe(KIND_FILE);
    }
    const got = await sw.stat([file]);
    expect(sw.thread).toBeUndefined();
    expect(sw.started).toBe(3);
    expect([got.kind[0], got.size[0]]).toEqual([KIND_FILE, fs.statSync(file).size]);
  });

  it('a request not answered within slowMs is told in the log, and its answer too', async () => {
    const { root, files } = tree(2000);
    const { lines, log } = recordingLog();
    // slowMs 0: the worker cannot start and answer before the timer runs
    const sw = newWorker({ log, slowMs: 0 });
    const got = await sw.stat(files.map((f) => path.join(root, f)));
    expect(got.kind.every((k) => k === KIND_FILE)).toBe(true);
    expect(lines.some((l) => l.level === 'warn' && /still waiting/.test(l.msg))).toBe(true);
    expect(lines.some((l) => l.level === 'info' && /answered after/.test(l.msg))).toBe(true);
  });
});
