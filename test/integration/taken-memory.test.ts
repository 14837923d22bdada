// The durable memory of taken files (`afterDelivery: keep`, and every remote source) at the size of a big share:
// it survives a restart in the flow's SQLite state, nothing is taken twice after the restart, and it is never
// read whole into RAM: a listing looks memos up a page at a time, and a bounded cache holds the rest.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SourceState } from '../../connectors/contract.ts';
import { FolderReader } from '../../connectors/folder/reader.ts';
import { ftpConnector } from '../../connectors/ftp/index.ts';
import { ftpSourceSchema } from '../../connectors/ftp/schema.ts';
import { FileIntake } from '../../connectors/intake/core.ts';
import { MEMO_CACHE } from '../../connectors/intake/memory.ts';
import { sftpConnector } from '../../connectors/sftp/index.ts';
import { sftpSourceSchema } from '../../connectors/sftp/schema.ts';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { recordIntake } from '../helpers/intake.ts';
import { recordingContext } from '../helpers/source-context.ts';
import { useRemoteServers } from '../helpers/remote-servers.ts';
import { tempDir } from '../helpers/tmp.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The flow's real SQLite state, counting how its memos are read (keys handed out by each kind of read). */
function countedState(db: Db) {
  const inner = sourceState(db, 'f');
  const reads = { get: 0, getMany: 0, getManyCalls: 0, keys: 0, entries: 0, range: 0, rangeCalls: 0 };
  const state: SourceState = {
    get: (k) => (reads.get++, inner.get(k)),
    set: (k, v) => inner.set(k, v),
    setMany: (entries) => inner.setMany(entries),
    delete: (k) => inner.delete(k),
    entries: (p) => {
      const out = inner.entries(p);
      reads.entries += out.length;
      return out as never;
    },
    getMany: (keys) => {
      const out = inner.getMany(keys);
      reads.getManyCalls++;
      reads.getMany += out.size;
      return out as never;
    },
    keys: (from, to, limit) => {
      const out = inner.keys(from, to, limit);
      reads.keys += out.length;
      return out;
    },
    range: (from, to, limit) => {
      const out = inner.range(from, to, limit);
      reads.rangeCalls++;
      reads.range += out.length;
      return out as never;
    },
  };
  return { state, reads, memos: () => inner.keys('taken:', 'taken;', 1e9) };
}

/** A fresh share folder and database: runs `fn` with them and closes the database after. */
async function onShare(fn: (root: string, db: Db) => Promise<void>): Promise<void> {
  const db = openDatabase(path.join(tempDir(), 'state.db'));
  // thousands of memos committed one by one (as the recording context writes them): no fsync each here
  db.pragma('synchronous = OFF');
  try {
    await fn(path.join(tempDir(), 'share'), db);
  } finally {
    db.close();
  }
}

function write(root: string, rel: string, body: string = rel): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body);
}

describe('durable memory of taken files, at scale (folder, keep)', () => {
  const intakeOn = (root: string) => {
    const reader = new FolderReader(root, { usePolling: false });
    reader.chooseFileOps();
    return new FileIntake(reader, { include: ['**/*'], exclude: [], recursive: true, settleMs: 0, afterDelivery: 'keep' });
  };

  it(`survives a restart with more files than its cache (${MEMO_CACHE}): nothing taken twice, never read whole, and gone files forgotten folder by folder`, () =>
    onShare(async (root, db) => {
      // 6,000 files: more than the cache holds, in nested folders (files beside sub-folders, at every level)
      const files: string[] = [];
      for (const dir of ['', 'a', 'a/b', 'a/b/c', 'd', 'd0', 'e']) for (let i = 0; i < 6000 / 7; i++) files.push(dir ? `${dir}/f${i}.txt` : `f${i}.txt`);
      for (const rel of files) write(root, rel);
      const first = countedState(db);
      const c = recordingContext({ state: first.state });
      await intakeOn(root).scan(c.ctx);
      expect(c.emitted).toHaveLength(files.length);
      expect(first.memos()).toHaveLength(files.length);

      // a restart: a new intake on the same database
      const again = countedState(db);
      const restarted = intakeOn(root);
      const rec = recordIntake({ activity: restarted.activity });
      const c2 = recordingContext({ state: again.state });
      await restarted.scan(c2.ctx);
      expect(c2.emitted).toHaveLength(0);
      expect(rec.events.filter((e) => e.type === 'decision' && e.decision === 'remembered')).toHaveLength(files.length);
      // read a page at a time by key range alongside each folder's listing (folder-memos.ts), never read whole,
      // and never more than the cache held in RAM: no look-up per file, and no second walk of the keys to sweep
      // them. Besides each memo once, a short page of each sub-folder's memos is passed over (6 sub-folders).
      expect(again.reads.entries).toBe(0);
      expect(again.reads.getMany).toBe(0);
      expect(again.reads.get).toBe(0);
      expect(again.reads.keys).toBe(0);
      expect(again.reads.range).toBeGreaterThanOrEqual(files.length);
      expect(again.reads.range).toBeLessThanOrEqual(files.length + 6 * 64);
      // pages of 64, 128, 256 and 512 memos for each folder's 857 (and the one that finds the end), one more per sub-folder
      expect(again.reads.rangeCalls).toBeLessThanOrEqual(7 * 5 + 6);
      expect(restarted.memosHeld).toBeLessThanOrEqual(MEMO_CACHE);

      // one file changed is taken again; the cache evicted long ago what it says
      fs.writeFileSync(path.join(root, 'a/f3.txt'), 'changed, a new version');
      // gone: a whole folder (with its sub-folders) and single files
      fs.rmSync(path.join(root, 'a/b'), { recursive: true });
      fs.rmSync(path.join(root, 'd0/f7.txt'));
      fs.rmSync(path.join(root, 'f1.txt'));
      await restarted.scan(c2.ctx);
      expect(c2.emitted.map((e) => String(e.item.attributes!.relativePath))).toEqual(['a/f3.txt']);
      const kept = again.memos().map((k) => k.slice('taken:'.length));
      const expected = files.filter((rel) => !rel.startsWith('a/b/') && rel !== 'd0/f7.txt' && rel !== 'f1.txt');
      expect(kept.sort()).toEqual(expected.sort());
      expect(restarted.memosHeld).toBeLessThanOrEqual(MEMO_CACHE);
    }), 180_000);

  it('a memo written while a listing runs is not forgotten by that listing, though the folder it read did not show the file', () =>
    onShare(async (root, db) => {
      write(root, 'old.txt');
      const s = countedState(db);
      const intake = intakeOn(root);
      const c = recordingContext({ state: s.state });
      await intake.scan(c.ctx);
      // a file that arrives (and is taken by a watch's sweep) after the listing read its folder
      const reader = intake.reader as FolderReader;
      const list = reader.list.bind(reader);
      let arrived = false;
      reader.list = async function* (opts) {
        for await (const page of list(opts)) {
          yield page;
          // the root folder was read (its last page handed over), its sweep comes once the listing goes on
          if (arrived) continue;
          arrived = true;
          write(root, 'new.txt');
          await intake.sweep(c.ctx, ['new.txt']);
        }
      };
      await intake.listingPass(c.ctx, 'reconcile');
      expect(c.emitted.map((e) => e.item.name)).toEqual(['old.txt', 'new.txt']);
      expect(s.memos().sort()).toEqual(['taken:new.txt', 'taken:old.txt']);
    }));
});

const servers = useRemoteServers();

const remotes = [
  {
    kind: 'ftp',
    folder: () => {
      const name = `in-${crypto.randomBytes(3).toString('hex')}`;
      return { local: path.join(servers.ftp.root, name), remote: `/${name}` };
    },
    create: (remote: string, extra: object) =>
      ftpConnector.createSource!(ftpSourceSchema.parse({ host: '127.0.0.1', port: servers.ftp.port, username: servers.ftp.user, password: servers.ftp.password, path: remote, settleMs: 0, recursive: true, ...extra }), { configDir: '/', log }),
  },
  {
    kind: 'sftp',
    folder: () => {
      const local = path.join(servers.sshd.root, `in-${crypto.randomBytes(3).toString('hex')}`);
      return { local, remote: local };
    },
    create: (remote: string, extra: object) =>
      sftpConnector.createSource!(
        sftpSourceSchema.parse({ host: '127.0.0.1', port: servers.sshd.port, username: servers.sshd.user, privateKey: servers.sshd.clientKey, hostKey: servers.sshd.hostKey, path: remote, settleMs: 0, recursive: true, ...extra }),
        { configDir: '/', log },
      ),
  },
];

describe.each(remotes)('durable memory of taken files on $kind', (storage) => {
  it.each([{ action: 'keep' }, { action: 'delete' }])('afterDelivery $action: a restart downloads nothing again, and the memory is looked up per listing page, never read whole', async (afterDelivery) => {
    const { local, remote } = storage.folder();
    const files = ['a.csv', 'b.csv', 'sub/c.csv', 'sub/d.csv', 'sub/deep/e.csv'];
    for (const rel of files) write(local, rel);
    const db = openDatabase(path.join(tempDir(), 'state.db'));
    const made: Array<{ close?(): Promise<void> }> = [];
    try {
      const first = countedState(db);
      const src = storage.create(remote, { afterDelivery });
      made.push(src);
      const c = recordingContext({ state: first.state });
      await src.scan(c.ctx);
      expect(c.names()).toEqual([...files].sort());

      // a restart before any delivery: nothing is downloaded again
      const again = countedState(db);
      const restarted = storage.create(remote, { afterDelivery });
      made.push(restarted);
      const rec = recordIntake(restarted);
      const c2 = recordingContext({ state: again.state });
      await restarted.scan(c2.ctx);
      expect(c2.emitted).toHaveLength(0);
      for (const rel of files) expect(rec.decisions(rel)).toEqual(['remembered']);
      expect(again.reads.entries).toBe(0);
      expect(again.reads.get).toBe(0);
      // one look-up per folder's page (three folders)
      expect(again.reads.getManyCalls).toBe(3);
      expect(again.reads.getMany).toBe(files.length);

      // a file removed on the server by someone else is forgotten; one added later is taken
      fs.rmSync(path.join(local, 'sub/deep'), { recursive: true });
      write(local, 'sub/f.csv');
      await restarted.scan(c2.ctx);
      expect(c2.names()).toEqual(['sub/f.csv']);
      expect(again.memos().sort()).toEqual(['taken:a.csv', 'taken:b.csv', 'taken:sub/c.csv', 'taken:sub/d.csv', 'taken:sub/f.csv']);
    } finally {
      for (const s of made) await s.close?.();
      db.close();
    }
  });
});

describe('existingFiles: skip, the baseline kept one key per file', () => {
  const intakeOn = (root: string) => {
    const reader = new FolderReader(root, { usePolling: false });
    reader.chooseFileOps();
    return new FileIntake(reader, { include: ['**/*'], exclude: [], recursive: true, settleMs: 0, afterDelivery: 'move', existingFiles: 'skip' });
  };

  it('a baseline kept whole by an earlier version is moved into one key per file, and its files are still left alone', () =>
    onShare(async (root, db) => {
      write(root, 'old/a.txt', 'there before');
      write(root, 'new.txt', 'arrived later');
      const st = fs.statSync(path.join(root, 'old/a.txt'));
      const s = countedState(db);
      s.state.set('existing-baseline', { 'old/a.txt': [st.size, st.mtimeMs] });
      const c = recordingContext({ state: s.state });
      await intakeOn(root).scan(c.ctx);
      expect(c.names()).toEqual(['new.txt']);
      expect(s.state.get('existing-baseline')).toBeUndefined();
      expect(s.state.get('existing:old/a.txt')).toEqual([st.size, st.mtimeMs]);
      expect(s.state.get('existing-files')).toBe(1);
      // a restart: the baseline is looked up per page, never read whole
      const again = countedState(db);
      const c2 = recordingContext({ state: again.state });
      const restarted = intakeOn(root);
      await restarted.scan(c2.ctx);
      expect(c2.emitted.map((e) => e.item.name)).toEqual(['new.txt']); // move: not remembered across a restart, the queue's dedupe drops it
      expect(again.reads.entries).toBe(0);
      // the existing file changed: taken
      fs.writeFileSync(path.join(root, 'old/a.txt'), 'changed since');
      await restarted.scan(c2.ctx);
      expect(c2.emitted.map((e) => String(e.item.attributes!.relativePath)).sort()).toEqual(['new.txt', 'old/a.txt']);
    }));

  it('a first start writes the baseline a batch at a time: 12,000 files left alone, one arriving later taken', () =>
    onShare(async (root, db) => {
      for (let i = 0; i < 12_000; i++) write(root, `d${i % 3}/f${i}.txt`);
      const s = countedState(db);
      const intake = intakeOn(root);
      const c = recordingContext({ state: s.state });
      await intake.scan(c.ctx);
      expect(c.emitted).toHaveLength(0);
      expect(s.state.get('existing-files')).toBe(12_000);
      expect(intake.memosHeld).toBeLessThanOrEqual(MEMO_CACHE);
      write(root, 'd1/late.txt');
      await intake.scan(c.ctx);
      expect(c.names()).toEqual(['d1/late.txt']);
    }));
});
