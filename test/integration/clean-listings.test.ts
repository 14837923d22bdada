// Remote folders at rest (connectors/intake/clean-listings.ts): once every file of a folder was found taken, a
// scan fetches only the digest of the folder's listing, and reads nothing more while it is unchanged (no entry
// built, no memo looked up, no memo swept). What a full read would take is still taken: a new file, a file
// whose size or time changed, a file in a sub-folder; a removed file is still forgotten. Against real servers
// (ftp-srv, Debian's vsftpd with its Unix LIST output, OpenSSH's SFTP) and the real SQLite state.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceState } from '../../connectors/contract.ts';
import { ftpConnector } from '../../connectors/ftp/index.ts';
import { ftpSourceSchema } from '../../connectors/ftp/schema.ts';
import { CANDIDATES } from '../../connectors/intake/core.ts';
import type { IntakeActivity } from '../../connectors/intake/activity.ts';
import type { TakenMemory } from '../../connectors/intake/memory.ts';
import { sftpConnector } from '../../connectors/sftp/index.ts';
import { sftpSourceSchema } from '../../connectors/sftp/schema.ts';
import { openDatabase, type Db } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { recordIntake } from '../helpers/intake.ts';
import { useRemoteServers } from '../helpers/remote-servers.ts';
import { recordingContext } from '../helpers/source-context.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startVsftpd, vsftpdAvailable, type VsftpdHandle } from '../helpers/vsftpd.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const servers = useRemoteServers();
let vsftpd: VsftpdHandle;
beforeAll(async () => {
  if (!vsftpdAvailable()) throw new Error('these tests need /usr/sbin/vsftpd (Debian vsftpd) and root, as in CI');
  vsftpd = await startVsftpd();
});
afterAll(async () => {
  await vsftpd?.stop();
});

/** The flow's real SQLite state, counting the memo reads. */
function countedState(db: Db) {
  const inner = sourceState(db, 'f');
  const reads = { get: 0, getMany: 0, keys: 0 };
  const state: SourceState = {
    get: (k) => (reads.get++, inner.get(k)),
    set: (k, v) => inner.set(k, v),
    setMany: (entries) => inner.setMany(entries),
    delete: (k) => inner.delete(k),
    entries: (p) => inner.entries(p) as never,
    getMany: (keys) => (reads.getMany++, inner.getMany(keys) as never),
    keys: (from, to, limit) => (reads.keys++, inner.keys(from, to, limit)),
    // a folder's memos read alongside its listing: memo reads too
    range: (from, to, limit) => (reads.getMany++, inner.range(from, to, limit) as never),
  };
  return { state, reads, memos: () => inner.keys('taken:', 'taken;', 1e9).sort() };
}

interface Storage {
  kind: string;
  /** A fresh folder: where the test writes its files, and the source's path. */
  folder(): { local: string; remote: string };
  /** Writes a file as the server's users would (vsftpd: owned by its anonymous account). */
  write(local: string, rel: string, body: string): void;
  create(remote: string, extra?: object): { scan: (ctx: never) => Promise<void>; close?(): Promise<void> };
}

function writeLocal(local: string, rel: string, body: string): void {
  fs.mkdirSync(path.dirname(path.join(local, rel)), { recursive: true });
  fs.writeFileSync(path.join(local, rel), body);
}

const storages: Storage[] = [
  {
    kind: 'FTP (ftp-srv)',
    folder: () => {
      const name = `in-${crypto.randomBytes(3).toString('hex')}`;
      return { local: path.join(servers.ftp.root, name), remote: `/${name}` };
    },
    write: writeLocal,
    create: (remote, extra = {}) =>
      ftpConnector.createSource!(ftpSourceSchema.parse({ host: '127.0.0.1', port: servers.ftp.port, username: servers.ftp.user, password: servers.ftp.password, path: remote, settleMs: 0, recursive: true, afterDelivery: { action: 'keep' }, ...extra }), { configDir: '/', log }) as never,
  },
  {
    kind: 'FTP (vsftpd, Unix LIST)',
    folder: () => {
      const name = `in-${crypto.randomBytes(3).toString('hex')}`;
      return { local: path.join(vsftpd.root, name), remote: `/${name}` };
    },
    write: (local, rel, body) => vsftpd.put(path.relative(vsftpd.root, path.join(local, rel)), body),
    create: (remote, extra = {}) =>
      ftpConnector.createSource!(ftpSourceSchema.parse({ host: '127.0.0.1', port: vsftpd.port, username: 'anonymous', password: 'ferry@example.com', path: remote, settleMs: 0, recursive: true, afterDelivery: { action: 'keep' }, ...extra }), { configDir: '/', log }) as never,
  },
  {
    kind: 'SFTP (OpenSSH)',
    folder: () => {
      const local = path.join(servers.sshd.root, `in-${crypto.randomBytes(3).toString('hex')}`);
      return { local, remote: local };
    },
    write: writeLocal,
    create: (remote, extra = {}) =>
      sftpConnector.createSource!(
        sftpSourceSchema.parse({ host: '127.0.0.1', port: servers.sshd.port, username: servers.sshd.user, privateKey: servers.sshd.clientKey, hostKey: servers.sshd.hostKey, path: remote, settleMs: 0, recursive: true, afterDelivery: { action: 'keep' }, ...extra }),
        { configDir: '/', log },
      ) as never,
  },
];

/** The intake core's memory of a source (to change it as after-delivery would, behind the listing's back). */
const memoryOf = (src: unknown) => (src as { intake: { memory: TakenMemory } }).intake.memory;

describe.each(storages)('unchanged folders at rest on $kind', (storage) => {
  it(`a folder is skipped while its listing is unchanged, and every change is still taken (${CANDIDATES + 200} ready files taken in one scan)`, async () => {
    const { local, remote } = storage.folder();
    const bulk = Array.from({ length: CANDIDATES + 200 }, (_, i) => `f-${String(i).padStart(5, '0')}.csv`);
    for (const rel of [...bulk, 'a.csv', 'b.csv', 'sub/c.csv']) storage.write(local, rel, rel);
    const db = openDatabase(path.join(tempDir(), 'state.db'));
    db.pragma('synchronous = OFF');
    const src = storage.create(remote);
    try {
      const counted = countedState(db);
      const c = recordingContext({ state: counted.state });
      const rec = recordIntake(src);
      const scan = async () => {
        const from = rec.mark();
        const before = c.emitted.length;
        const reads = { ...counted.reads };
        await src.scan(c.ctx as never);
        return {
          taken: c.emitted.slice(before).map((e) => String(e.item.attributes!.relativePath)).sort(),
          unchanged: rec.unchangedFolders(from).sort(),
          memoReads: counted.reads.getMany - reads.getMany + counted.reads.get - reads.get,
          sweeps: counted.reads.keys - reads.keys,
        };
      };

      // the first scan takes every ready file, beyond the window of candidates a pass may hold
      expect((await scan()).taken).toHaveLength(bulk.length + 3);
      // the next finds them all taken (and records the folders clean); the one after reads neither folder
      expect(await scan()).toMatchObject({ taken: [], unchanged: [] });
      expect(await scan()).toEqual({ taken: [], unchanged: ['', 'sub'], memoReads: 0, sweeps: 0 });

      const changes: Array<[string, () => void, string[]]> = [
        ['a new file', () => storage.write(local, 'new.csv', 'new'), ['new.csv']],
        ['a file grown', () => storage.write(local, 'a.csv', 'a.csv, longer now'), ['a.csv']],
        // same size, another time (an hour back: another minute in an FTP LIST too)
        ['a file touched', () => fs.utimesSync(path.join(local, 'b.csv'), new Date(), new Date(Date.now() - 3_600_000)), ['b.csv']],
        ['a new file in a clean sub-folder', () => storage.write(local, 'sub/d.csv', 'd'), ['sub/d.csv']],
        ['a new sub-folder', () => storage.write(local, 'sub/deeper/e.csv', 'e'), ['sub/deeper/e.csv']],
        ['a file among many changed', () => storage.write(local, bulk[777], 'changed content'), [bulk[777]]],
      ];
      for (const [what, change, expected] of changes) {
        change();
        expect((await scan()).taken, what).toEqual(expected);
        // read once more in full (it was not clean: a file was just taken there), then skipped again
        expect((await scan()).taken, what).toEqual([]);
        const rest = await scan();
        expect(rest, what).toMatchObject({ taken: [], memoReads: 0, sweeps: 0 });
        expect(rest.unchanged, what).toContain('');
      }

      // a removed file is forgotten: its folder changed, so it is read and swept
      fs.rmSync(path.join(local, 'sub/c.csv'));
      expect((await scan()).taken).toEqual([]);
      expect(counted.memos()).not.toContain('taken:sub/c.csv');
      expect(counted.memos()).toContain('taken:sub/d.csv');
      expect(counted.memos()).toHaveLength(bulk.length + 5); // a, b, new, sub/d, sub/deeper/e
      expect((await scan()).taken).toEqual([]);
      expect((await scan()).unchanged).toContain('');

      // a memo forgotten while the folder is read, right after its file was found taken: the folder is not
      // recorded clean, and the next scan reads it and takes that file again, as a full read would
      memoryOf(src).listings.drop('');
      let forgot = false;
      const stop = (src as unknown as { activity: IntakeActivity }).activity.on((e) => {
        if (e.type === 'decision' && e.rel === bulk[0] && e.decision === 'remembered') (memoryOf(src).forget(bulk[0]), (forgot = true));
      });
      expect(await scan()).toMatchObject({ taken: [], unchanged: ['sub', 'sub/deeper'] });
      stop();
      expect(forgot).toBe(true);
      expect((await scan()).taken).toEqual([bulk[0]]);
    } finally {
      await src.close?.();
      db.close();
    }
  });

  it('a folder is recorded clean only when every file in it was found taken, and only while its memory stays unchanged', async () => {
    const { local, remote } = storage.folder();
    const files = ['a.csv', 'b.csv', 'c.csv', 'd.csv', 'e.csv'];
    for (const rel of files) storage.write(local, rel, rel);
    const db = openDatabase(path.join(tempDir(), 'state.db'));
    db.pragma('synchronous = OFF');
    const src = storage.create(remote);
    try {
      const counted = countedState(db);
      let full: string | undefined = 'queue full';
      const c = recordingContext({ state: counted.state, refuse: () => full });
      const rec = recordIntake(src);
      const scan = async () => {
        const from = rec.mark();
        const before = c.emitted.length;
        await src.scan(c.ctx as never);
        return { taken: c.emitted.slice(before).map((e) => String(e.item.attributes!.relativePath)).sort(), unchanged: rec.unchangedFolders(from) };
      };
      // back pressure leaves the files where they are: the folder is not clean, so its unchanged listing is read again
      expect(await scan()).toEqual({ taken: [], unchanged: [] });
      expect(await scan()).toEqual({ taken: [], unchanged: [] });
      full = undefined;
      expect((await scan()).taken).toEqual(files);
      expect(await scan()).toEqual({ taken: [], unchanged: [] });
      expect(await scan()).toEqual({ taken: [], unchanged: [''] });

      // a memo forgotten between scans (as after-delivery does) drops the record: the folder is read again,
      // and its file, no longer remembered, is taken as a full read would
      memoryOf(src).forget('c.csv');
      expect(await scan()).toEqual({ taken: ['c.csv'], unchanged: [] });
      expect((await scan()).unchanged).toEqual([]);
      expect((await scan()).unchanged).toEqual(['']);
    } finally {
      await src.close?.();
      db.close();
    }
  });
});
