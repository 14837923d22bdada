// The file-intake core's behaviour (connectors/intake), run against all three storages it serves: a local
// folder, a real FTP server (ftp-srv on 127.0.0.1) and a real SFTP server (Debian's OpenSSH sshd). Each case
// drives the connector's own source with a context that records what it queues, over a real SQLite state
// (the memory of taken files must survive a restart), and the engine itself for the "failing" status.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NewItem, Source } from '../../connectors/contract.ts';
import { folderConnector } from '../../connectors/folder/index.ts';
import { folderSourceSchema } from '../../connectors/folder/schema.ts';
import { ftpConnector } from '../../connectors/ftp/index.ts';
import { ftpSourceSchema } from '../../connectors/ftp/schema.ts';
import { sftpConnector } from '../../connectors/sftp/index.ts';
import { sftpSourceSchema } from '../../connectors/sftp/schema.ts';
import { openDatabase } from '../../main/engine/store/db.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { recordIntake } from '../helpers/intake.ts';
import { recordingContext, type RecordingOptions } from '../helpers/source-context.ts';
import { oneFlow, runEngine } from '../helpers/remote-engine.ts';
import { useRemoteServers } from '../helpers/remote-servers.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const isRoot = process.getuid?.() === 0;

/** One storage the core reads from, seen from the test (files are written locally) and from Ferry (its config). */
interface Storage {
  kind: 'folder' | 'ftp' | 'sftp';
  /** A fresh source folder: the local path the test writes into, and its path in the source config. */
  folder(): { local: string; remote: string };
  /** The source block for a folder (without the rules under test). */
  config(remote: string): Record<string, unknown>;
  create(config: Record<string, unknown>): Source;
  /** How problems name a file of the folder. */
  where(remote: string, rel?: string): string;
  /** Has temp names (remote sources): files named like "~*" are never taken. */
  tempNames: boolean;
  /** Makes the storage refuse reading one file; returns the undo, or undefined when it cannot (the store's read fails instead). */
  refuseRead(local: string, remote: string, rel: string): (() => void) | undefined;
}

const servers = useRemoteServers();

const unique = (name: string) => `${name}-${crypto.randomBytes(3).toString('hex')}`;

const storages: Storage[] = [
  {
    kind: 'folder',
    folder: () => {
      const local = path.join(tempDir(), 'in');
      fs.mkdirSync(local);
      return { local, remote: local };
    },
    config: (remote) => ({ path: remote }),
    create: (c) => folderConnector.createSource!(folderSourceSchema.parse(c), { configDir: '/', log }),
    where: (remote, rel) => (rel === undefined ? remote : path.join(remote, rel)),
    tempNames: false,
    refuseRead: (local, _remote, rel) => {
      if (isRoot) return undefined; // root reads any file whatever its mode
      fs.chmodSync(path.join(local, rel), 0);
      return () => fs.chmodSync(path.join(local, rel), 0o644);
    },
  },
  {
    kind: 'ftp',
    folder: () => {
      const name = unique('in');
      fs.mkdirSync(path.join(servers.ftp.root, name));
      return { local: path.join(servers.ftp.root, name), remote: `/${name}` };
    },
    config: (remote) => ({ host: '127.0.0.1', port: servers.ftp.port, username: servers.ftp.user, password: servers.ftp.password, path: remote }),
    create: (c) => ftpConnector.createSource!(ftpSourceSchema.parse(c), { configDir: '/', log }),
    where: (remote, rel) => `ftp://${servers.ftp.user}@127.0.0.1:${servers.ftp.port}${rel === undefined ? remote : path.posix.join(remote, rel)}`,
    tempNames: true,
    refuseRead: (_local, remote, rel) => {
      servers.ftp.faults.denyReadsOf = path.posix.join(remote, rel);
      return () => (servers.ftp.faults.denyReadsOf = undefined);
    },
  },
  {
    kind: 'sftp',
    folder: () => {
      const local = path.join(servers.sshd.root, unique('in'));
      fs.mkdirSync(local);
      return { local, remote: local };
    },
    config: (remote) => ({ host: '127.0.0.1', port: servers.sshd.port, username: servers.sshd.user, privateKey: servers.sshd.clientKey, hostKey: servers.sshd.hostKey, path: remote }),
    create: (c) => sftpConnector.createSource!(sftpSourceSchema.parse(c), { configDir: '/', log }),
    where: (remote, rel) => `sftp://${servers.sshd.user}@127.0.0.1:${servers.sshd.port}${rel === undefined ? remote : path.posix.join(remote, rel)}`,
    tempNames: true,
    refuseRead: () => undefined, // the server runs as root here: it reads any file
  },
];

function write(dir: string, rel: string, body: string | Buffer = rel, mtime?: Date): void {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body);
  if (mtime) fs.utimesSync(file, mtime, mtime);
}

/** A later time for a rewritten file: remote servers give times in seconds (or minutes), so a change must show in the size or a distant time. */
const later = (s = 120) => new Date(Date.now() + s * 1000);

/** A recording context over the real SQLite state (the memory of taken files must survive a restart). */
const intakeContext = (db: ReturnType<typeof openDatabase>, opts: Omit<RecordingOptions, 'state'> = {}) => recordingContext({ ...opts, state: sourceState(db, 'f') });

/** The delivered item handed back for after-delivery. */
const settled = (item: NewItem) => ({ id: 1, sourceKey: item.sourceKey, name: item.name, attributes: item.attributes!, outcome: 'delivered' as const });

describe.each(storages)('file intake on $kind', (storage) => {
  /** A source on a fresh folder; closed after the test. */
  async function withSource<T>(extra: Record<string, unknown> | ((remote: string) => Record<string, unknown>), fn: (s: { src: Source; local: string; remote: string; db: ReturnType<typeof openDatabase>; make: () => Source }) => Promise<T>): Promise<T> {
    const { local, remote } = storage.folder();
    const db = openDatabase(path.join(tempDir(), 'state.db'));
    const made: Source[] = [];
    const make = () => {
      const s = storage.create({ ...storage.config(remote), settleMs: 0, ...(typeof extra === 'function' ? extra(remote) : extra) });
      made.push(s);
      return s;
    };
    try {
      return await fn({ src: make(), local, remote, db, make });
    } finally {
      for (const s of made) await s.close?.();
      db.close();
    }
  }
  const archiveOf = (remote: string) => (storage.kind === 'ftp' ? path.posix.join(remote, 'archive') : path.join(remote, 'archive'));

  it('settle: a file still being written is taken only once its size and time stay unchanged for settleMs', async () => {
    await withSource({ settleMs: 400 }, async ({ src, local, db }) => {
      write(local, 'grow.txt', 'part1');
      const c = intakeContext(db);
      const rec = recordIntake(src);
      const scanning = src.scan(c.ctx);
      await rec.decided('grow.txt', 'settling'); // the first look
      fs.appendFileSync(path.join(local, 'grow.txt'), '-part2');
      await scanning;
      // the second look, settleMs later, saw another size: not taken yet
      expect(rec.decisions('grow.txt')).toEqual(['settling', 'settling']);
      expect(c.emitted).toHaveLength(0);
      await src.scan(c.ctx);
      expect(c.emitted.map((e) => e.bytes.toString())).toEqual(['part1-part2']);
      expect(rec.decisions('grow.txt').at(-1)).toBe('taken');
    });
  });

  it('include, exclude, temp names and sub-folders; the archive folder inside the source is never taken from', async () => {
    await withSource((remote: string) => ({ include: ['**/*.csv', '**/*.xml'], exclude: ['**/skip-*'], recursive: true, afterDelivery: { action: 'move', to: archiveOf(remote) } }), async ({ src, local, db }) => {
      for (const f of ['a.csv', 'b.xml', 'notes.txt', 'skip-me.csv', '~lock.csv', 'sub/c.csv', 'sub/deeper/d.xml', 'archive/old.csv']) write(local, f);
      const c = intakeContext(db);
      await src.scan(c.ctx);
      const expected = ['a.csv', 'b.xml', 'sub/c.csv', 'sub/deeper/d.xml', ...(storage.tempNames ? [] : ['~lock.csv'])].sort();
      expect(c.names()).toEqual(expected);
      expect(c.emitted.find((e) => e.item.name === 'c.csv')!.bytes.toString()).toBe('sub/c.csv');
      expect(c.problems).toEqual([]);
    });
  });

  it('ready marker: a file waits for its marker; the marker is no item and goes with the file', async () => {
    await withSource((remote: string) => ({ readyMarker: '{name}.done', settleMs: 60_000, afterDelivery: { action: 'move', to: archiveOf(remote) } }), async ({ src, local, db }) => {
      write(local, 'data.csv', '1,2');
      const c = intakeContext(db);
      const rec = recordIntake(src);
      await src.scan(c.ctx);
      expect(rec.decisions('data.csv')).toEqual(['waiting-for-marker']);
      expect(c.emitted).toHaveLength(0);
      write(local, 'data.csv.done', '');
      await src.scan(c.ctx); // complete by its marker at once, whatever settleMs says
      expect(c.names()).toEqual(['data.csv']);
      await src.afterDelivery!(settled(c.emitted[0].item));
      expect(listFiles(local)).toEqual(['archive/data.csv']);
    });
  });

  it('after delivery: move never overwrites (a suffix instead), delete removes, keep leaves the file and remembers it', async () => {
    await withSource((remote: string) => ({ afterDelivery: { action: 'move', to: archiveOf(remote) } }), async ({ src, local, db }) => {
      write(local, 'archive/a.txt', 'earlier');
      write(local, 'a.txt', 'now');
      const c = intakeContext(db);
      await src.scan(c.ctx);
      await src.afterDelivery!(settled(c.emitted[0].item));
      expect(listFiles(local)).toEqual(['archive/a (1).txt', 'archive/a.txt']);
      expect(fs.readFileSync(path.join(local, 'archive/a.txt'), 'utf8')).toBe('earlier');
      expect(fs.readFileSync(path.join(local, 'archive/a (1).txt'), 'utf8')).toBe('now');
      // a repeat (a crash after the move) finds nothing to do
      await src.afterDelivery!(settled(c.emitted[0].item));
      expect(listFiles(local)).toEqual(['archive/a (1).txt', 'archive/a.txt']);
    });
    await withSource({ afterDelivery: { action: 'delete' } }, async ({ src, local, db }) => {
      write(local, 'b.txt', 'b');
      const c = intakeContext(db);
      await src.scan(c.ctx);
      await src.afterDelivery!(settled(c.emitted[0].item));
      expect(listFiles(local)).toEqual([]);
    });
    await withSource({ afterDelivery: { action: 'keep' } }, async ({ src, local, db }) => {
      write(local, 'c.txt', 'c');
      const c = intakeContext(db);
      const rec = recordIntake(src);
      await src.scan(c.ctx);
      // nothing to do once delivered: the engine then records no pending after-delivery step either
      expect(src.afterDelivery).toBeUndefined();
      expect(listFiles(local)).toEqual(['c.txt']);
      await src.scan(c.ctx);
      expect(rec.decisions('c.txt')).toEqual(['taken', 'remembered']);
      expect(c.emitted).toHaveLength(1);
    });
  });

  it('a file replaced after it was taken is left alone after delivery, and is taken again as a new file', async () => {
    await withSource((remote: string) => ({ afterDelivery: { action: 'move', to: archiveOf(remote) } }), async ({ src, local, db }) => {
      write(local, 'r.txt', 'version 1');
      const c = intakeContext(db);
      await src.scan(c.ctx);
      const first = c.emitted[0].item;
      write(local, 'r.txt', 'version 2, longer', later());
      await src.afterDelivery!(settled(first));
      expect(listFiles(local)).toEqual(['r.txt']); // not the file delivered: not moved
      await src.scan(c.ctx);
      expect(c.emitted.map((e) => e.bytes.toString())).toEqual(['version 1', 'version 2, longer']);
      expect(c.emitted[1].item.sourceKey).not.toBe(first.sourceKey);
      await src.afterDelivery!(settled(c.emitted[1].item));
      expect(listFiles(local)).toEqual(['archive/r.txt']);
    });
  });

  it('an unreadable file is reported with its reason, stays, is not tried again within its wait, and is taken once it can be read', async () => {
    await withSource({}, async ({ src, local, remote, db }) => {
      write(local, 'ok.txt', 'fine');
      write(local, 'locked.txt', 'secret');
      const undo = storage.refuseRead(local, remote, 'locked.txt');
      let storeRefuses = undo === undefined;
      const c = intakeContext(db, { failStore: (item) => (storeRefuses && item.name === 'locked.txt' ? `EACCES: permission denied, open '${path.join(local, 'locked.txt')}'` : undefined) });
      const rec = recordIntake(src);
      await src.scan(c.ctx);
      expect(c.names()).toEqual(['ok.txt']);
      expect(c.problems).toHaveLength(1);
      const where = storage.where(remote, 'locked.txt');
      expect(c.problems[0].startsWith(`cannot take ${where}: `)).toBe(true);
      expect(c.problems[0]).toMatch(/permission denied.*; retrying in 5 s$/i);
      expect(fs.existsSync(path.join(local, 'locked.txt'))).toBe(true);
      // within its wait it is not tried again (and not reported again)
      await src.scan(c.ctx);
      expect(rec.decisions('locked.txt')).toEqual(['failed', 'backing-off']);
      expect(c.problems).toHaveLength(1);
      undo?.();
      storeRefuses = false;
      await waitFor(async () => {
        await src.scan(c.ctx);
        return c.names().includes('locked.txt');
      }, 'locked.txt taken after its wait', 20_000, 250);
      expect(c.emitted.find((e) => e.item.name === 'locked.txt')!.bytes.toString()).toBe('secret');
    });
  });

  it('keep: what was taken is remembered across a restart (the stored memory of earlier versions too); a changed file is taken again', async () => {
    await withSource({ afterDelivery: { action: 'keep' } }, async ({ src, local, db, make }) => {
      write(local, 'a.txt', 'a');
      write(local, 'b.txt', 'b');
      const c = intakeContext(db);
      await src.scan(c.ctx);
      expect(c.names()).toEqual(['a.txt', 'b.txt']);
      // the source keys and the stored memory keep the forms earlier versions wrote (queues and memories survive an upgrade)
      const a = c.emitted.find((e) => e.item.name === 'a.txt')!.item;
      expect(a.sourceKey).toBe(storage.kind === 'folder' ? 'a.txt#' : 'a.txt');
      const memo = c.state.get<Record<string, unknown>>('taken:a.txt')!;
      expect(Object.keys(memo).sort()).toEqual(storage.kind === 'folder' ? ['mtimeMs', 'sha256', 'size'] : ['mtimeMs', 'rawTime', 'size']);

      // a restart: a new source on the same state
      const again = make();
      const rec = recordIntake(again);
      await again.scan(c.ctx);
      expect(rec.decisions('a.txt')).toEqual(['remembered']);
      expect(rec.decisions('b.txt')).toEqual(['remembered']);
      expect(c.emitted).toHaveLength(2);
      write(local, 'b.txt', 'b, changed', later());
      await again.scan(c.ctx);
      expect(c.emitted.map((e) => e.bytes.toString()).sort()).toEqual(['a', 'b', 'b, changed']);
      // a file gone from the storage is forgotten
      fs.rmSync(path.join(local, 'a.txt'));
      await again.scan(c.ctx);
      expect(c.state.entries('taken:').map(([k]) => k)).toEqual(['taken:b.txt']);
    });
  });

  it('move: a file queued but not yet delivered is not queued again after a restart (a folder offers it under the same key: a duplicate)', async () => {
    await withSource((remote: string) => ({ afterDelivery: { action: 'move', to: archiveOf(remote) } }), async ({ src, local, db, make }) => {
      write(local, 'q.txt', 'queued');
      const c = intakeContext(db);
      await src.scan(c.ctx);
      const first = c.emitted[0].item;
      expect(first.sourceKey).toMatch(/^q\.txt@\d+$/);
      const again = make();
      await again.scan(c.ctx);
      if (storage.kind === 'folder') {
        // re-reading a local file costs little: the queue recognises the same key and content
        expect(c.emitted.map((e) => e.item.sourceKey)).toEqual([first.sourceKey, first.sourceKey]);
      } else {
        // a download is not repeated: the memory of taken files is durable for remote sources
        expect(c.emitted).toHaveLength(1);
      }
      await again.afterDelivery!(settled(first));
      expect(listFiles(local)).toEqual(['archive/q.txt']);
      expect(c.state.entries('taken:')).toEqual([]);
    });
  });

  it('back pressure: complete files stay where they are and are taken once intake has room', async () => {
    let full: string | undefined = 'queue full';
    await withSource({}, async ({ src, local, db }) => {
      write(local, 'a.txt');
      write(local, 'b.txt');
      const c = intakeContext(db, { refuse: () => full });
      const rec = recordIntake(src);
      await src.scan(c.ctx);
      expect(c.emitted).toHaveLength(0);
      expect(rec.decisions('a.txt')).toEqual(['deferred']);
      full = undefined;
      await src.scan(c.ctx);
      expect(c.names()).toEqual(['a.txt', 'b.txt']);
      expect(c.problems).toEqual([]);
    });
  });

  it('a source whose folder cannot be listed is reported once, stays failing while it lasts, and says when it works again', async () => {
    await withSource({}, async ({ src, local, remote, db }) => {
      write(local, 'a.txt');
      const aside = `${local}-aside`;
      fs.renameSync(local, aside);
      const c = intakeContext(db);
      await src.scan(c.ctx);
      expect(c.problems).toHaveLength(1);
      expect(c.problems[0].startsWith(`cannot list ${storage.where(remote)}: `)).toBe(true);
      expect(c.problems[0]).toMatch(/missing/);
      await src.scan(c.ctx);
      expect(c.problems).toHaveLength(1); // not logged again…
      expect(c.stillFailing).toEqual([c.problems[0]]); // …but still failing
      fs.renameSync(aside, local);
      await src.scan(c.ctx);
      expect(c.names()).toEqual(['a.txt']);
      expect(c.problems).toHaveLength(1);
      expect(c.infos).toContain(`listing ${storage.where(remote)} works again`);
    });
  });

  it('through the engine: the flow is "failing" on every scan while its folder cannot be listed, and recovers', async () => {
    const { local, remote } = storage.folder();
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    write(local, 'a.txt', 'a');
    const run = await runEngine(dir, oneFlow({ type: storage.kind, ...storage.config(remote), settleMs: 0 }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => listFiles(dest).includes('a.txt'), 'a.txt delivered');
      const rec = recordIntake(run.engine.flow('f').source);
      const aside = `${local}-aside`;
      fs.renameSync(local, aside);
      const failing = () => run.engine.status().flows[0].source;
      await waitFor(() => failing().failingSince, 'the source failing');
      const since = failing().failingSince;
      // later scans fail for the same reason: still failing, since the same time
      const from = rec.mark();
      await rec.passes(2, { from, pass: 'scan' });
      expect(rec.events.slice(from).filter((e) => e.type === 'pass' && e.pass === 'scan').every((e) => e.type === 'pass' && !e.ok)).toBe(true);
      expect(failing().failingSince).toBe(since);
      expect(failing().problem).toMatch(new RegExp(`^cannot list ${storage.where(remote).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*missing`));
      fs.renameSync(aside, local);
      write(local, 'b.txt', 'b');
      await waitFor(() => listFiles(dest).includes('b.txt') && failing().failingSince === null, 'a clean scan again');
      expect(failing().problem).toBeNull();
    } finally {
      await run.stop();
    }
  });
});
