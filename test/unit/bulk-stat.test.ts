// Listing stats without a Stats object per file (connectors/folder/bulk-stat.ts): where this runtime's statSync
// reads Node's fs binding the way bulk-stat does, the binding is used, and both flavours (binding, statSync)
// give the very same numbers for files, folders and everything that cannot be looked at, here and in the stat
// worker.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BULK_STAT_JS, bulkStat, makeBulkStat, statEntry } from '../../connectors/folder/bulk-stat.ts';
import { StatWorker } from '../../connectors/folder/stat-worker.ts';
import { tempDir } from '../helpers/tmp.ts';

const workers: StatWorker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
});

/** Paths of every kind: files (sub-millisecond times, one past 4 GiB), a folder, a FIFO, and paths that fail. */
function paths(): { root: string; list: string[] } {
  const root = tempDir('ferry-bulkstat-');
  fs.mkdirSync(path.join(root, 'dir'));
  const list: string[] = [];
  for (let i = 0; i < 50; i++) {
    const file = path.join(root, `f${i}.csv`);
    fs.writeFileSync(file, 'x'.repeat(i * 7));
    const t = Date.UTC(2025, 5, 1) / 1000 + i * 1.234567891;
    fs.utimesSync(file, t, t);
    list.push(file);
  }
  const big = path.join(root, 'sparse.bin');
  fs.writeFileSync(big, '');
  fs.truncateSync(big, 5 * 1024 ** 3 + 17);
  fs.symlinkSync('loop', path.join(root, 'loop')); // ELOOP when looked at
  list.push(big, path.join(root, 'dir'), path.join(root, 'gone.csv'), path.join(root, 'f1.csv', 'below-a-file'), path.join(root, 'loop'));
  if (process.platform !== 'win32') {
    execFileSync('mkfifo', [path.join(root, 'fifo')]);
    list.push(path.join(root, 'fifo'));
  }
  return { root, list };
}

function statAll(stat: ReturnType<typeof makeBulkStat>, list: string[], at = 0) {
  const n = list.length + at;
  const out = { size: new Float64Array(n), mtimeMs: new Float64Array(n), ino: new Float64Array(n), kind: new Uint8Array(n) };
  stat(list, out.size, out.mtimeMs, out.ino, out.kind, at);
  return out;
}

describe('bulk stat', () => {
  it('one entry: what statSync gives (size, time, identity, kind), undefined where statSync gives none, its errors otherwise', () => {
    const { root, list } = paths();
    for (const p of list) {
      let want: fs.Stats | undefined;
      let wantErr: string | undefined;
      try {
        want = fs.statSync(p, { throwIfNoEntry: false });
      } catch (err) {
        wantErr = (err as NodeJS.ErrnoException).code;
      }
      if (wantErr !== undefined) {
        expect(() => statEntry(p), p).toThrow(expect.objectContaining({ code: wantErr }));
        continue;
      }
      const got = statEntry(p);
      if (!want) {
        expect(got, p).toBeUndefined();
        continue;
      }
      expect({ size: got!.size, mtimeMs: got!.mtimeMs, ino: got!.ino, dev: got!.dev, file: got!.isFile(), dir: got!.isDirectory() }, p).toEqual({
        size: want.size,
        mtimeMs: want.mtimeMs,
        ino: want.ino,
        dev: want.dev,
        file: want.isFile(),
        dir: want.isDirectory(),
      });
    }
    // a name with a NUL byte is refused as statSync refuses it, never looked up as the name before it
    expect(() => statEntry(path.join(root, 'f1.csv') + '\0.x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('reads the fs binding where statSync reads it the same way', () => {
    const same = /binding\.stat\(\s*pathModule\.toNamespacedPath\(path\),\s*options\.bigint,\s*undefined,\s*options\.throwIfNoEntry,?\s*\)/.test(fs.statSync.toString());
    expect(makeBulkStat(true).viaBinding === true).toBe(same);
    expect(makeBulkStat(false).viaBinding).toBeUndefined();
  });

  it('both flavours give what statSync gives: sizes, times to the nanosecond, identities, kinds; 0 for what cannot be looked at', () => {
    const { list } = paths();
    const fast = statAll(makeBulkStat(true), list, 3);
    const slow = statAll(makeBulkStat(false), list, 3);
    expect(fast).toEqual(slow);
    expect([...fast.kind.subarray(0, 3)]).toEqual([0, 0, 0]); // nothing written before `at`
    list.forEach((p, k) => {
      const i = k + 3;
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(p, { throwIfNoEntry: false });
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code, p).toMatch(/^(ELOOP|ENOTDIR)$/);
      }
      if (st) {
        expect([fast.size[i], fast.mtimeMs[i], fast.ino[i]], p).toEqual([st.size, st.mtimeMs, st.ino]);
        expect(fast.kind[i], p).toBe(st.isFile() ? 1 : st.isDirectory() ? 2 : 3);
      } else {
        expect(fast.kind[i], p).toBe(0); // gone, below a file, a symlink loop (ELOOP, not thrown)
      }
    });
    expect(fast.size[list.indexOf(list.find((p) => p.endsWith('sparse.bin'))!) + 3]).toBe(5 * 1024 ** 3 + 17);
    // the module's own (this thread's) flavour agrees
    const mine = { size: new Float64Array(list.length), mtimeMs: new Float64Array(list.length), ino: new Float64Array(list.length), kind: new Uint8Array(list.length) };
    bulkStat(list, mine.size, mine.mtimeMs, mine.ino, mine.kind);
    expect(mine.mtimeMs).toEqual(slow.mtimeMs.subarray(3));
    expect(mine.kind).toEqual(slow.kind.subarray(3));
  });

  it('the stat worker gives the same numbers', async () => {
    const { list } = paths();
    const w = new StatWorker();
    workers.push(w);
    const got = await w.stat(list);
    const slow = statAll(makeBulkStat(false), list);
    expect({ size: got.size, mtimeMs: got.mtimeMs, ino: got.ino, kind: got.kind }).toEqual(slow);
  });

  it('a binding that fails in a way no file does (not a system error) is not taken for a file gone: statSync answers', () => {
    const { list } = paths();
    const real = (process as unknown as { binding(n: string): { stat: (...a: unknown[]) => unknown } }).binding('fs');
    let armed = false;
    const fakeProcess = {
      execArgv: [],
      env: {},
      execPath: process.execPath,
      binding: () => ({ stat: (...a: unknown[]) => {
        if (armed) throw new TypeError('the binding changed');
        return real.stat(...a);
      } }),
    };
    const make = new Function(`${BULK_STAT_JS}\nreturn makeBulkStat;`)() as (...a: unknown[]) => ReturnType<typeof makeBulkStat>;
    const stat = make(fs, path, fakeProcess, true);
    expect(stat.viaBinding).toBe(true);
    armed = true;
    expect(statAll(stat, list)).toEqual(statAll(makeBulkStat(false), list));
  });
});
