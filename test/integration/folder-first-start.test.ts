// The first start on a tree kept in place (`afterDelivery: keep`) whose files were taken before, with no
// clean-listing records yet (the first start after an upgrade, or after the records were lost): each folder's
// memos are read by key range alongside its listing (connectors/intake/folder-memos.ts), with no look-up per
// file and no second walk of the keys. Still, every new or changed file is taken, once, and the memos of files
// and sub-folders gone meanwhile are forgotten; names whose UTF-16 and code-point orders differ included.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Source, SourceState } from '../../connectors/contract.ts';
import { folderConnector } from '../../connectors/folder/index.ts';
import { folderSourceSchema } from '../../connectors/folder/schema.ts';
import { LISTING_PREFIX } from '../../connectors/intake/clean-listings.ts';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { recordIntake } from '../helpers/intake.ts';
import { recordingContext } from '../helpers/source-context.ts';
import { tempDir } from '../helpers/tmp.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function database(): Db {
  const db = openDatabase(path.join(tempDir('ferry-first-start-db-'), 'state.db'));
  db.pragma('synchronous = OFF');
  cleanups.push(() => void db.close());
  return db;
}

/** The flow's real SQLite state, counting how memos are read: by key, by key range, and key walks. */
function countedState(db: Db) {
  const inner = sourceState(db, 'f');
  const reads = { byKey: 0, ranges: 0, rangeRows: 0, keyWalks: 0 };
  const state: SourceState = {
    get: (k) => (k.startsWith('taken:') && reads.byKey++, inner.get(k)),
    set: (k, v) => inner.set(k, v),
    setMany: (entries) => inner.setMany(entries),
    delete: (k) => inner.delete(k),
    entries: (p) => inner.entries(p) as never,
    getMany: (keys) => ((reads.byKey += keys.filter((k) => k.startsWith('taken:')).length), inner.getMany(keys) as never),
    keys: (from, to, limit) => (from.startsWith('taken:') && reads.keyWalks++, inner.keys(from, to, limit)),
    range: (from, to, limit) => {
      const rows = inner.range(from, to, limit);
      if (from.startsWith('taken:')) (reads.ranges++, (reads.rangeRows += rows.length));
      return rows as never;
    },
    // the memos' texts, as the engine's state offers them (compared unparsed)
    rangeText: (from, to, limit) => {
      const rows = inner.rangeText!(from, to, limit);
      if (from.startsWith('taken:')) (reads.ranges++, (reads.rangeRows += rows.length));
      return rows;
    },
  };
  return {
    state,
    reads,
    memos: () => inner.keys('taken:', 'taken;', 1e9).map((k) => k.slice('taken:'.length)),
    /** Drops every clean-listing record, as a state from before they were kept has none. */
    dropRecords: () => {
      for (const k of inner.keys(LISTING_PREFIX, 'listing;', 1e9)) inner.delete(k);
    },
  };
}

function folderSource(root: string, usePolling: boolean): Source {
  return folderConnector.createSource!(folderSourceSchema.parse({ path: root, settleMs: 0, afterDelivery: { action: 'keep' }, usePolling }), { log } as never);
}

function write(root: string, rel: string, body: string): void {
  fs.mkdirSync(path.join(root, path.dirname(rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), body);
}

/** Names whose UTF-16 order differs from their code-point order (the order SQLite keeps keys in). */
const ODD = ['\uff21.csv', '\ue000.csv', '\ufffd.csv', '\u{1F4E6}.csv', '\u{1F4E6}\uff21.csv', '\u{20000}.csv', 'x\u{1F4E6}.csv', 'x\uff21.csv'];

describe.each([
  { where: 'a local folder', usePolling: false },
  { where: 'a share (usePolling: stats in the stat worker)', usePolling: true },
])('first start on $where taken before, with no clean-listing records (keep)', ({ usePolling }) => {
  it('reads each folder’s memos by key range alongside its listing; takes exactly the new and changed files, forgets the gone ones', async () => {
    const root = tempDir('ferry-first-start-');
    const files: string[] = [];
    // a big folder (more than a page of memos), files beside sub-folders whose names sort among them, odd names
    for (let i = 0; i < 2300; i++) files.push(`big/f${String(i).padStart(5, '0')}.csv`);
    for (const name of ['a.csv', 'a0.csv', 'b.csv', ...ODD]) files.push(`mixed/${name}`);
    for (const name of ['x.csv', 'y.csv', ...ODD]) files.push(`mixed/a/${name}`, `mixed/\u{1F4E6}/${name}`, `mixed/\uff21/${name}`);
    files.push('mixed/gone-dir/one.csv', 'mixed/gone-dir/deeper/two.csv', 'top.csv');
    for (const rel of files) write(root, rel, `${rel}\n`);

    const db = database();
    const counted = countedState(db);
    const rec = recordingContext({ state: counted.state });
    await folderSource(root, usePolling).scan!(rec.ctx);
    expect(rec.names()).toEqual([...files].sort());
    expect(counted.memos().sort()).toEqual([...files].sort());

    // meanwhile (Ferry stopped): changed in place, new, gone; then the records are lost (an upgrade)
    fs.writeFileSync(path.join(root, 'big/f01234.csv'), 'longer than it was\n');
    fs.writeFileSync(path.join(root, 'mixed/\uff21.csv'), 'changed\n');
    const later = new Date(Date.now() + 5000);
    // the same size, another content, a later time
    fs.writeFileSync(path.join(root, 'mixed/a/\u{1F4E6}.csv'), 'MIXED/a/\u{1F4E6}.csv\n');
    fs.utimesSync(path.join(root, 'mixed/a/\u{1F4E6}.csv'), later, later);
    // touched only: looked at (hashed), nothing sent (on a share the engine's store hashes the body, which
    // this recording context does not stand in for)
    const touched = usePolling ? [] : ['mixed/\uff21/x.csv'];
    for (const rel of touched) fs.utimesSync(path.join(root, rel), later, later);
    write(root, 'mixed/\u{1F4E6}new.csv', 'new\n');
    write(root, 'big/f01234.csv.new', 'new\n');
    fs.rmSync(path.join(root, 'big/f00007.csv'));
    fs.rmSync(path.join(root, 'mixed/\ue000.csv'));
    fs.rmSync(path.join(root, 'mixed/gone-dir'), { recursive: true });
    counted.dropRecords();

    const fresh = countedState(db);
    const source = folderSource(root, usePolling);
    const activity = recordIntake(source);
    const rec2 = recordingContext({ state: fresh.state });
    await source.scan!(rec2.ctx);
    const changed = ['big/f01234.csv', 'mixed/\uff21.csv', 'mixed/a/\u{1F4E6}.csv'];
    const added = ['mixed/\u{1F4E6}new.csv', 'big/f01234.csv.new'];
    expect(rec2.names()).toEqual([...changed, ...added].sort());
    const gone = new Set(['big/f00007.csv', 'mixed/\ue000.csv', 'mixed/gone-dir/one.csv', 'mixed/gone-dir/deeper/two.csv']);
    const kept = files.filter((f) => !gone.has(f));
    const remembered = activity.events.filter((e) => e.type === 'decision' && e.decision === 'remembered').map((e) => (e as { rel: string }).rel);
    expect(remembered.sort()).toEqual(kept.filter((f) => !changed.includes(f) && !touched.includes(f)).sort());
    for (const rel of touched) expect(activity.decisions(rel)).toContain('unchanged');
    expect(fresh.memos().sort()).toEqual([...kept, ...added].sort());

    // memos read by range, a page at a time: none by key, none walked a second time (but the gone sub-folder's)
    expect(fresh.reads.byKey).toBe(0);
    expect(fresh.reads.rangeRows).toBeGreaterThanOrEqual(kept.length);
    expect(fresh.reads.rangeRows).toBeLessThan(kept.length + 200);
    expect(fresh.reads.ranges).toBeLessThan(40);
    expect(fresh.reads.keyWalks).toBeLessThanOrEqual(4);

    // the next start: nothing taken twice; the folders where nothing was taken were recorded clean and are
    // skipped, the others are recorded now, and skipped from then on
    const again = folderSource(root, usePolling);
    const activity2 = recordIntake(again);
    const rec3 = recordingContext({ state: countedState(db).state });
    await again.scan!(rec3.ctx);
    expect(rec3.emitted).toHaveLength(0);
    expect(activity2.unchangedFolders().sort()).toEqual(['', 'mixed/\u{1F4E6}', ...(touched.length ? [] : ['mixed/\uff21'])].sort());
    const from = activity2.mark();
    await again.scan!(rec3.ctx);
    expect(rec3.emitted).toHaveLength(0);
    expect(activity2.unchangedFolders(from).sort()).toEqual(['', 'big', 'mixed', 'mixed/a', 'mixed/\u{1F4E6}', 'mixed/\uff21'].sort());
  });
});
