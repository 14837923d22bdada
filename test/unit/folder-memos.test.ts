// A folder's memos read by key range alongside its listing (connectors/intake/folder-memos.ts). The walk's name
// order (connectors/intake/walk.ts) must be the order the flow's real SQLite state keeps keys in, or the merge
// would take a memo for gone and miss it. Names where the two orders of JavaScript part (a character above
// U+FFFF against one from U+E000 to U+FFFF) are the bad case.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderMemos, MEMO_RANGE_PAGE, plainMemoIs } from '../../connectors/intake/folder-memos.ts';
import { afterCursor, compareNames, folderReachesCursor, sortNames } from '../../connectors/intake/walk.ts';
import { openDatabase } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { tempDir } from '../helpers/tmp.ts';

/** Names whose code-unit (UTF-16) and code-point orders differ, among ordinary ones. */
const NAMES = [
  'a.csv',
  'B.csv',
  'z.csv',
  '\u00e9t\u00e9.csv', // é (U+00E9)
  '\u6771\u4eac.csv', // CJK, below U+D800
  '\uff21.csv', // fullwidth A (U+FF21): after every surrogate in UTF-16 order, before them by code point
  '\ue000.csv', // private use (U+E000)
  '\ufffd.csv', // replacement character
  '\u{1F4E6}.csv', // 📦 (U+1F4E6, a surrogate pair)
  '\u{1F4E6}\uff21.csv',
  '\u{1F4E6}\u{1F4E6}.csv',
  '\u{20000}.csv', // CJK extension B
  'x\u{1F4E6}.csv',
  'x\uff21.csv',
  'x\ue000.csv',
];

function database() {
  const db = openDatabase(path.join(tempDir('ferry-folder-memos-'), 'state.db'));
  db.pragma('synchronous = OFF');
  return db;
}

describe('walk order is the order SQLite keeps keys in', () => {
  it('sortNames and compareNames order names by code point, as SQLite orders the keys, where UTF-16 order differs', () => {
    const db = database();
    try {
      const state = sourceState(db, 'f');
      state.setMany(NAMES.map((n) => [`taken:${n}`, 1]));
      const bySqlite = state.keys('taken:', 'taken;', 1000).map((k) => k.slice('taken:'.length));
      expect(sortNames([...NAMES].reverse())).toEqual(bySqlite);
      // the bad case is in the set: UTF-16 order is not SQLite's here
      expect([...NAMES].sort()).not.toEqual(bySqlite);
      for (const a of NAMES) {
        for (const b of NAMES) {
          const sql = db.prepare('SELECT ? < ? AS lt, ? = ? AS eq').get(a, b, a, b) as { lt: number; eq: number };
          expect(Math.sign(compareNames(a, b)), `${a} vs ${b}`).toBe(sql.eq ? 0 : sql.lt ? -1 : 1);
        }
      }
    } finally {
      db.close();
    }
  });

  it('a cursor resumes in the same order: afterCursor and folderReachesCursor agree with sortNames', () => {
    const names = sortNames([...NAMES]);
    // walk order: the folder's files, then each sub-folder's (named as the files are)
    const walk = [...names.map((n) => `d/${n}`), ...names.flatMap((sub) => names.slice(0, 3).map((n) => `d/${sub}/${n}`))];
    for (let i = 0; i < walk.length; i++) {
      for (let j = 0; j < walk.length; j++) expect(afterCursor(walk[j], walk[i]), `${walk[j]} after ${walk[i]}`).toBe(j > i);
    }
    for (const sub of names) {
      const first = walk.indexOf(`d/${sub}/${names[0]}`);
      for (let i = 0; i < walk.length; i++) expect(folderReachesCursor(`d/${sub}`, walk[i]), `d/${sub} reaches ${walk[i]}`).toBe(i < first + 3);
    }
  });
});

describe('FolderMemos', () => {
  it("merges a folder's memos with its listing: each listed file gets its own, the others are passed, sub-folders are jumped over", () => {
    const db = database();
    try {
      const state = sourceState(db, 'f');
      // the folder "in": its own files (some gone since), files of sub-folders that sort among them, and a
      // neighbour folder whose keys start alike ("in0", "in-x")
      const own = sortNames([...NAMES, ...Array.from({ length: 2500 }, (_, i) => `f${String(i).padStart(5, '0')}.csv`)]);
      const gone = new Set(own.filter((_, i) => i % 7 === 3));
      const entries: Array<[string, unknown]> = own.map((n, i) => [`taken:in/${n}`, { size: i, mtimeMs: i }]);
      const subs: Record<string, number> = { a: 100, 'f01000.csv.d': 100, '\u{1F4E6}': 100, zz: 5000 };
      for (const [sub, n] of Object.entries(subs)) for (let i = 0; i < n; i++) entries.push([`taken:in/${sub}/g${i}.csv`, { size: 0, mtimeMs: 0 }]);
      entries.push(['taken:in/deep/er/h.csv', { size: 0, mtimeMs: 0 }], ['taken:in0/n.csv', {}], ['taken:in-x/n.csv', {}], ['taken:i.csv', {}]);
      state.setMany(entries);

      const ranges: number[] = [];
      const counted = { ...state, range: <T>(from: string, to: string, limit: number) => {
        const rows = state.range<T>(from, to, limit);
        ranges.push(rows.length);
        return rows;
      }, rangeText: (from: string, to: string, limit: number) => {
        const rows = state.rangeText!(from, to, limit);
        ranges.push(rows.length);
        return rows;
      } };
      const memos = new FolderMemos(counted, 'taken:in/');
      const listed = own.filter((n) => !gone.has(n));
      // and two files that have no memo (new), in their places
      const withNew = sortNames([...listed, 'f00010.csv.new', '\u{1F4E6}new.csv']);
      for (const name of withNew) {
        const memo = memos.memoOf(name);
        if (name.endsWith('new') || name.endsWith('new.csv')) expect(memo, name).toBeUndefined();
        else expect(memo, name).toEqual({ size: own.indexOf(name), mtimeMs: own.indexOf(name) });
      }
      memos.finish();
      expect(new Set(memos.passed)).toEqual(new Set([...gone].map((n) => `taken:in/${n}`)));
      expect(memos.passed).toHaveLength(gone.size);
      expect([...memos.subfolders].sort()).toEqual(['\u{1F4E6}', 'a', 'deep', 'f01000.csv.d', 'zz'].sort());
      // every own memo read once; of each sub-folder's, at most a page before it is jumped over: not the 5,000
      // of the big one
      const read = ranges.reduce((a, b) => a + b, 0);
      expect(read).toBeGreaterThanOrEqual(own.length);
      expect(read).toBeLessThanOrEqual(own.length + 3 * 100 + 1 + MEMO_RANGE_PAGE);
      expect(Math.max(...ranges)).toBeLessThanOrEqual(MEMO_RANGE_PAGE);
    } finally {
      db.close();
    }
  });

  it("tells a memo's version from its text as parsing it would, and leaves the other forms to the parse", () => {
    const times = [0, 1, 1796692910003.2063, 1733620000123.4567, 1e21, 1.5e-7, -86400000.25, 2 ** 53, Number.MIN_VALUE];
    for (const size of [0, 7, 4096, 5 * 1024 ** 3 + 17, 2 ** 48]) {
      for (const t of times) {
        const text = JSON.stringify({ size, mtimeMs: t });
        expect(plainMemoIs(text, size, t), text).toBe(true);
        expect(plainMemoIs(text, size + 1, t), text).toBe(false);
        expect(plainMemoIs(text, size, t + 1), text).toBe(t + 1 === t); // 1e21 + 1 is 1e21
        const near = t === 0 ? 1e-9 : t * (1 + 2 ** -52);
        expect(plainMemoIs(text, size, near), text).toBe(near === t); // the next double up, where there is one
      }
    }
    // other fields, another order, not a plain number: undefined (parsed by the caller)
    for (const text of [
      JSON.stringify({ size: 1, mtimeMs: 2, sha256: 'ab' }),
      JSON.stringify({ size: 1, mtimeMs: 2, rawTime: '2025' }),
      JSON.stringify({ mtimeMs: 2, size: 1 }),
      JSON.stringify({ size: 1.5, mtimeMs: 2 }),
      JSON.stringify({ size: -1, mtimeMs: 2 }),
      JSON.stringify({ size: 1, mtimeMs: '2' }),
      JSON.stringify({ size: 1, mtimeMs: null }),
      '{"size":1,"mtimeMs":0x10}',
      '{"size":1,"mtimeMs": 2}',
      '{"size":,"mtimeMs":2}',
      '{"size":1,"mtimeMs":-}',
      '{"size":1234567890123456,"mtimeMs":2}',
    ]) {
      expect(plainMemoIs(text, 1, 2), text).toBeUndefined();
    }
  });

  it('isVersion: a local entry matches its memo (read unparsed) on size and time alone, never a memo with a change token', () => {
    const db = database();
    try {
      const state = sourceState(db, 'f');
      state.setMany([
        ['taken:d/a', { size: 3, mtimeMs: 1796692910003.2063 }],
        ['taken:d/b', { size: 3, mtimeMs: 5, sha256: 'x' }],
        ['taken:d/c', { size: 3, mtimeMs: 5, rawTime: 't' }],
        ['taken:d/d', { mtimeMs: 5, size: 3 }],
      ]);
      const memos = new FolderMemos(state, 'taken:d/');
      expect(memos.find('a') && memos.isVersion(3, 1796692910003.2063)).toBe(true);
      expect(memos.isVersion(3, 1796692910003.2073)).toBe(false);
      expect(memos.isVersion(4, 1796692910003.2063)).toBe(false);
      expect(memos.memo()).toEqual({ size: 3, mtimeMs: 1796692910003.2063 });
      expect(memos.find('b') && memos.isVersion(3, 5)).toBe(true);
      expect(memos.find('c') && memos.isVersion(3, 5)).toBe(false); // a change token: times do not tell
      expect(memos.find('d') && memos.isVersion(3, 5)).toBe(true);
      expect(memos.find('e')).toBe(false);
    } finally {
      db.close();
    }
  });
});
