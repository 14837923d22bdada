// Clean-listing records kept in the flow's state (connectors/intake/clean-listings.ts), on the real SQLite state:
// written a batch at a time, read back on bind whatever their folder's name, deleted from the state as soon as
// the folder's memory changes, never rewritten while unchanged, and kept for a later flush when a write fails.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SourceState } from '../../connectors/contract.ts';
import { CleanListings, LISTING_PREFIX } from '../../connectors/intake/clean-listings.ts';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { tempDir } from '../helpers/tmp.ts';

const dbs: Db[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

function state(): { state: SourceState; writes: () => number; stored: () => string[]; failWrites(on: boolean): void } {
  const db = openDatabase(path.join(tempDir('ferry-listings-'), 'state.db'));
  dbs.push(db);
  const inner = sourceState(db, 'f');
  let writes = 0;
  let failing = false;
  return {
    state: {
      ...inner,
      setMany: (entries) => {
        // what SQLite says when the data dir's disk is full
        if (failing) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
        writes += entries.length;
        inner.setMany(entries);
      },
    },
    writes: () => writes,
    stored: () => inner.keys(LISTING_PREFIX, 'listing;', 1e6).map((k) => k.slice(LISTING_PREFIX.length)),
    failWrites: (on) => void (failing = on),
  };
}

describe('clean-listing records in the state', () => {
  it('are written at the pass end, read back on bind (any folder name), and deleted when their folder\'s memory changes', () => {
    const s = state();
    const a = new CleanListings();
    a.bind(s.state);
    a.passStarted();
    for (const dir of ['', 'd1', 'd2/sub', '\u{1F4E6}', '\u{E000}x']) a.record(dir, `digest-${dir}`, [], 3);
    expect(s.stored()).toEqual([]); // not before the pass ends
    a.passEnded();
    expect(s.stored().sort()).toEqual(['', 'd1', 'd2/sub', '\u{1F4E6}', '\u{E000}x'].sort());

    const b = new CleanListings();
    b.bind(s.state);
    expect(b.get('\u{1F4E6}')).toEqual({ digest: 'digest-\u{1F4E6}', subdirs: [], files: 3 });
    expect(b.get('d2/sub')?.files).toBe(3);
    // the same record again writes nothing
    const writes = s.writes();
    b.passStarted();
    b.record('d1', 'digest-d1', [], 3);
    b.passEnded();
    expect(s.writes()).toBe(writes);
    // a memo of the folder changes: its record goes from the state at once, not at the pass end
    b.passStarted();
    b.touched('\u{1F4E6}');
    expect(s.stored()).not.toContain('\u{1F4E6}');
    expect(b.get('\u{1F4E6}')).toBeUndefined();
    // a record made and dropped within one pass is never written
    b.record('new', 'digest-new', [], 1);
    b.touched('new');
    b.passEnded();
    expect(s.stored()).not.toContain('new');
    expect(new CleanListings().get('d1')).toBeUndefined();
  });

  it('a fresh handle on the same state (a flow gives one per scan) keeps what is in RAM and writes through it', () => {
    const s = state();
    const l = new CleanListings();
    l.bind(s.state);
    l.passStarted();
    l.record('d1', 'digest-1', [], 2);
    const reads = { keys: 0 };
    l.bind({ ...s.state, keys: (from, to, limit) => (reads.keys++, s.state.keys(from, to, limit)) });
    expect(reads.keys).toBe(0); // not read again
    expect(l.get('d1')?.digest).toBe('digest-1');
    l.passEnded();
    expect(s.stored()).toEqual(['d1']);
  });

  it('a write that fails (a full disk) fails no pass; the records are written at a later flush', () => {
    const s = state();
    const l = new CleanListings();
    l.bind(s.state);
    s.failWrites(true);
    l.passStarted();
    l.record('d1', 'digest-1', [], 2);
    expect(() => l.passEnded()).not.toThrow();
    expect(s.stored()).toEqual([]);
    expect(l.get('d1')?.digest).toBe('digest-1'); // still used in this process
    s.failWrites(false);
    l.passStarted();
    l.passEnded();
    expect(s.stored()).toEqual(['d1']);
  });
});
