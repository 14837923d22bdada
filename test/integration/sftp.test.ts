// The sftp connector against a real OpenSSH server (Debian's sshd, started here on 127.0.0.1 with its own
// config and keys), driven by the real engine: keys and passphrases, host-key pinning, after-delivery,
// dropped sessions mid-transfer, collisions and traversal names.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sftpConnector } from '../../connectors/sftp/index.ts';
import { sftpDestinationSchema, sftpSourceSchema } from '../../connectors/sftp/schema.ts';
import { outgoingItem } from '../helpers/items.ts';
import { sshdAvailable, startSshd, type SshdHandle } from '../helpers/sshd.ts';
import { freePort } from '../helpers/ftp-server.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { oneFlow, runEngine } from '../helpers/remote-engine.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { memoryState, recordingContext } from '../helpers/source-context.ts';

/** Files a folder destination finished (its own temp files excluded). */
const landed = (d: string) => listFiles(d).filter((f) => !f.endsWith('.partial'));
const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const env = { configDir: '/', log };
let sshd: SshdHandle;

beforeAll(async () => {
  if (!sshdAvailable()) throw new Error('these tests need /usr/sbin/sshd (Debian openssh-server) and root, as in CI');
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

const bare = () => ({ host: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey, hostKey: sshd.hostKey });
const conn = () => ({ type: 'sftp', ...bare() });
/** A fresh folder on the server (the server sees the same file system). */
function remoteDir(name: string): string {
  const d = path.join(sshd.root, `${name}-${crypto.randomBytes(3).toString('hex')}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
function put(root: string, rel: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
}
const item = (name: string, body: Buffer, attributes: Record<string, string> = {}) => outgoingItem(name, body, { attributes });
const dctx = () => ({ flow: 'f', log, signal: new AbortController().signal });

describe('sftp source', () => {
  it('takes complete files with a passphrase-protected key and moves them into the archive after delivery', async () => {
    const remote = remoteDir('src');
    put(remote, 'a.xml', '<a/>');
    put(remote, 'b.xml', '<b/>');
    put(remote, 'c.tmp', 'being written');
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const { privateKey: _unused, ...withoutKey } = conn();
    const run = await runEngine(dir, oneFlow(
      { ...withoutKey, privateKey: sshd.clientKeyWithPassphrase.file, passphrase: sshd.clientKeyWithPassphrase.passphrase, path: remote, settleMs: 300, afterDelivery: { action: 'move', to: `${remote}/archive` } },
      { type: 'folder', path: dest },
    ));
    try {
      await waitFor(() => landed(dest).length === 2, 'both files delivered');
      expect(landed(dest)).toEqual(['a.xml', 'b.xml']);
      await waitFor(() => listFiles(remote).join() === 'archive/a.xml,archive/b.xml,c.tmp', 'originals archived on the server');
      // the same name dropped again later is a new file: taken again, archived with a suffix
      put(remote, 'a.xml', '<a version="2"/>');
      fs.utimesSync(path.join(remote, 'a.xml'), new Date(), new Date(Date.now() + 5000));
      await waitFor(() => landed(dest).includes('a (1).xml'), 'the new a.xml delivered');
      await waitFor(() => listFiles(remote).includes('archive/a (1).xml'), 'archived next to the first');
      expect(run.count('f', 'delivered')).toBe(3);
    } finally {
      await run.stop();
    }
  });

  it('a connection dropped mid-download leaves nothing partial; the file arrives after recovery (delete after delivery)', async () => {
    const remote = remoteDir('drop-dl');
    const big = crypto.randomBytes(6 * 1024 * 1024);
    put(remote, 'big.bin', big);
    const proxy = await startTcpProxy(sshd.port, 2 * 1024 * 1024);
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const tmp = path.join(dir, 'data/content/tmp');
    const run = await runEngine(dir, oneFlow({ ...conn(), port: proxy.port, path: remote, settleMs: 0, afterDelivery: { action: 'delete' } }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => listFiles(tmp).some((f) => fs.statSync(path.join(tmp, f)).size > 1024 * 1024), 'the download under way', 20_000, 10);
      const cutAt = proxy.bytes;
      proxy.dropAll();
      proxy.bytesPerSecond = 0;
      await waitFor(() => landed(dest).length === 1, 'delivered after the drop', 40_000);
      expect(fs.readFileSync(path.join(dest, 'big.bin')).equals(big)).toBe(true);
      expect(proxy.bytes - cutAt).toBeGreaterThan(big.length); // sent again in full over a new connection
      expect(listFiles(tmp)).toEqual([]);
      expect(run.count('f')).toBe(1);
      await waitFor(() => listFiles(remote).length === 0, 'original deleted');
    } finally {
      await run.stop();
      await proxy.close();
    }
  });

  it('small files: several in flight per connection, never more than maxConnections; one gone or grown since the listing spoils nothing else', async () => {
    const remote = remoteDir('many');
    const files = new Map<string, Buffer>([['empty.dat', Buffer.alloc(0)]]);
    for (let i = 0; i < 60; i++) files.set(`f${i}.dat`, crypto.randomBytes(1 + ((i * 7919) % 200_000)));
    for (const [name, body] of files) put(remote, name, body);
    put(remote, 'gone.dat', 'x'.repeat(100));
    put(remote, 'grows.dat', 'y'.repeat(100));
    const proxy = await startTcpProxy(sshd.port);
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), port: proxy.port, path: remote, settleMs: 0, maxConnections: 2 }), env);
    // between the listing and the downloads one file disappears and another grows
    const reader = (source as any).reader;
    const list = reader.list.bind(reader);
    reader.list = async function* (opts: unknown) {
      for await (const page of list(opts)) {
        fs.rmSync(path.join(remote, 'gone.dat'), { force: true });
        if (fs.statSync(path.join(remote, 'grows.dat')).size === 100) fs.appendFileSync(path.join(remote, 'grows.dat'), 'more');
        yield page;
      }
    };
    const emitted = new Map<string, Buffer>();
    const problems: string[] = [];
    try {
      await source.scan({
        flow: 'f',
        log,
        signal: new AbortController().signal,
        state: memoryState(),
        hasCapacity: () => true,
        problem: (m) => void problems.push(m),
        emit: async (items) => {
          for (const it of items) emitted.set(it.name, (it.body as { bytes: Buffer }).bytes);
          return { queued: items.length, duplicates: [], failed: [] };
        },
      });
    } finally {
      await source.close?.();
      await proxy.close();
    }
    expect([...emitted.keys()].sort()).toEqual([...files.keys()].sort());
    for (const [name, body] of files) expect(emitted.get(name)!.equals(body), name).toBe(true);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/grows\.dat: file grew beyond the listed 100 bytes/); // retried on a later run; gone.dat just vanished
    expect(proxy.accepted).toBeLessThanOrEqual(2);
  });

  it('a file changed between its listing and its download is not taken: grown by a byte at a 32 KB boundary, or shrunk across its READs', async () => {
    const remote = remoteDir('changed');
    put(remote, 'boundary.dat', crypto.randomBytes(32 * 1024));
    put(remote, 'shrinks.dat', crypto.randomBytes(70_000));
    const intact = crypto.randomBytes(100_000);
    put(remote, 'intact.dat', intact);
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), path: remote, settleMs: 0 }), env);
    const reader = (source as any).reader;
    const list = reader.list.bind(reader);
    reader.list = async function* (opts: unknown) {
      for await (const page of list(opts)) {
        fs.appendFileSync(path.join(remote, 'boundary.dat'), 'x');
        fs.truncateSync(path.join(remote, 'shrinks.dat'), 40_000);
        yield page;
      }
    };
    try {
      const rec = recordingContext();
      await source.scan(rec.ctx);
      expect(rec.names()).toEqual(['intact.dat']);
      expect(rec.emitted[0].bytes.equals(intact)).toBe(true);
      expect(rec.problems.sort()).toEqual([
        expect.stringMatching(/boundary\.dat: file grew beyond the listed 32768 bytes/),
        expect.stringMatching(/shrinks\.dat: downloaded 40000 bytes, the listing said 70000/),
      ]);
    } finally {
      await source.close?.();
    }
  });

  it('a large folder is listed a page at a time as the server answers (never whole); a sub-folder removed mid-walk is skipped', async () => {
    const remote = remoteDir('paged');
    for (let i = 0; i < 450; i++) put(remote, `top-${i}.dat`, `t${i}`);
    for (let i = 0; i < 130; i++) put(remote, `sub/s-${i}.dat`, `s${i}`);
    for (let i = 0; i < 5; i++) put(remote, `doomed/d-${i}.dat`, `d${i}`);
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), path: remote, settleMs: 0, recursive: true, maxConnections: 1 }), env);
    const reader = (source as any).reader;
    try {
      // the reader's pages as the intake core sees them: the server's READDIR replies, not one array per folder
      const sizes: number[] = [];
      for await (const page of reader.list({ descend: () => true, wants: () => true })) sizes.push(page.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(585);
      expect(sizes.length).toBeGreaterThanOrEqual(7);
      expect(Math.max(...sizes)).toBeLessThanOrEqual(100);

      // a scan takes every file while the walk goes on; a folder removed between its listing and its walk is skipped
      const list = reader.list.bind(reader);
      reader.list = async function* (opts: unknown) {
        for await (const page of list(opts)) {
          fs.rmSync(path.join(remote, 'doomed'), { recursive: true, force: true });
          yield page;
        }
      };
      const rec = recordingContext();
      await source.scan(rec.ctx);
      expect(rec.problems).toEqual([]);
      expect(rec.names()).toHaveLength(580);
      expect(rec.names().filter((n) => n.startsWith('sub/'))).toHaveLength(130);
      expect(rec.emitted.find((e) => e.item.attributes!.relativePath === 'top-449.dat')!.bytes.toString()).toBe('t449');
    } finally {
      await source.close?.();
    }
  });

  it('the folder itself removed or unreadable: the scan says which folder and why, and takes nothing', async () => {
    const remote = remoteDir('vanishing');
    put(remote, 'a.dat', 'a');
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), path: path.join(remote, 'missing'), settleMs: 0 }), env);
    try {
      const rec = recordingContext();
      await source.scan(rec.ctx);
      expect(rec.emitted).toHaveLength(0);
      expect(rec.problems).toEqual([expect.stringMatching(new RegExp(`cannot list sftp://.*${path.basename(remote)}/missing: folder or file missing`))]);
    } finally {
      await source.close?.();
    }
  });

  it('host key mismatch and a wrong password: check and a run say so', async () => {
    const remote = remoteDir('auth');
    put(remote, 'x.txt', 'x');
    const otherKey = `SHA256:${crypto.randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    const mismatch = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), path: remote, hostKey: otherKey }), env).check();
    expect(mismatch).toEqual({ ok: false, message: `host key mismatch: 127.0.0.1:${sshd.port} presented ${sshd.hostKey}, hostKey pins ${otherKey}; refused` });
    const { privateKey: _k, ...noKey } = bare();
    const badPassword = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...noKey, password: 'not-the-password', path: remote }), env).check();
    expect(badPassword).toEqual({ ok: false, message: `authentication failed: 127.0.0.1:${sshd.port} refused user ${sshd.user}` });
    const badPhrase = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), privateKey: sshd.clientKeyWithPassphrase.file, passphrase: 'not-it', path: remote }), env).check();
    expect(badPhrase).toMatchObject({ ok: false, message: expect.stringMatching(/^authentication failed: cannot use privateKey .*client_pp_ed25519 \(/) });
    const closed = await freePort();
    const unreachable = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), port: closed, path: remote }), env).check();
    expect(unreachable).toEqual({ ok: false, message: `host unreachable: connection refused by 127.0.0.1:${closed}` });
    const missing = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), path: `${remote}/nope` }), env).check();
    expect(missing).toMatchObject({ ok: false, message: expect.stringMatching(/^folder missing: sftp:\/\/.*\/nope$/) });
    const noCredentials = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...noKey, path: remote }), env).check();
    expect(noCredentials.ok).toBe(false);
    expect(noCredentials).toMatchObject({ message: expect.stringMatching(/expected password or privateKey/) });
    expect(await sftpConnector.createSource!(sftpSourceSchema.parse({ ...bare(), path: remote }), env).check()).toEqual({ ok: true, message: `sftp://${sshd.user}@127.0.0.1:${sshd.port}${remote} is readable (1 entries)` });
    const { hostKey: _h, ...unpinned } = bare();
    const hint = await sftpConnector.createSource!(sftpSourceSchema.parse({ ...unpinned, path: remote }), env).check();
    expect(hint).toMatchObject({ ok: true, message: expect.stringContaining(`host key not pinned: add hostKey: "${sshd.hostKey}"`) });

    const dir = tempDir();
    const run = await runEngine(dir, oneFlow({ ...conn(), hostKey: otherKey, path: remote, settleMs: 0 }, { type: 'folder', path: path.join(dir, 'dest') }));
    try {
      await waitFor(() => run.lastError('f')?.includes('host key mismatch'), 'the run reports the host key mismatch');
      expect(run.lastError('f')).toContain(`presented ${sshd.hostKey}`);
      expect(run.count('f')).toBe(0);
    } finally {
      await run.stop();
    }
  });
});

describe('sftp destination', () => {
  it('uploads through a partial name, creates folders, handles collisions and contains traversal names', async () => {
    const remote = remoteDir('dst');
    put(remote, 'in/report.csv', 'old');
    const mk = (onCollision: string) => sftpConnector.createDestination!(sftpDestinationSchema.parse({ ...bare(), path: `${remote}/in`, onCollision }), env);
    const suffix = mk('suffix');
    expect(await suffix.check()).toMatchObject({ ok: true });
    expect((await suffix.send(item('report.csv', Buffer.from('new')), dctx())).kind).toBe('delivered');
    expect((await suffix.send(item('x', Buffer.from('evil'), { relativePath: '../../../etc/cron.d/x' }), dctx())).kind).toBe('delivered');
    const fail = mk('fail');
    expect(await fail.send(item('report.csv', Buffer.from('again')), dctx())).toMatchObject({ kind: 'dead' });
    const overwrite = mk('overwrite');
    expect((await overwrite.send(item('report.csv', Buffer.from('replaced')), dctx())).kind).toBe('delivered');
    expect(listFiles(remote)).toEqual(['in/etc/cron.d/x', 'in/report (1).csv', 'in/report.csv']);
    expect(fs.readFileSync(path.join(remote, 'in/report.csv'), 'utf8')).toBe('replaced');
    for (const d of [suffix, fail, overwrite]) await d.close?.();
  });

  it('folder → SFTP: a connection dropped mid-upload leaves no partial file; delivered after a retry', async () => {
    const remote = remoteDir('drop-ul');
    const dir = tempDir();
    const src = path.join(dir, 'src');
    const body = crypto.randomBytes(6 * 1024 * 1024);
    put(src, 'export.bin', body);
    const proxy = await startTcpProxy(sshd.port, 2 * 1024 * 1024);
    const run = await runEngine(dir, oneFlow({ type: 'folder', path: src, settleMs: 100 }, { ...conn(), port: proxy.port, path: remote }, { trigger: { on: 'change' } }));
    try {
      await waitFor(() => listFiles(remote).some((f) => f.endsWith('.partial') && fs.statSync(path.join(remote, f)).size > 1024 * 1024), 'the upload under way', 20_000, 10);
      proxy.dropAll();
      proxy.bytesPerSecond = 0;
      await waitFor(() => run.count('f', 'delivered') === 1, 'delivered after the drop', 40_000);
      expect(run.engine.queue.attemptsOf(run.engine.queue.list({ flow: 'f' })[0].id).length).toBeGreaterThanOrEqual(1); // the cut attempt was recorded
      expect(listFiles(remote)).toEqual(['export.bin']); // no *.partial left
      expect(fs.readFileSync(path.join(remote, 'export.bin')).equals(body)).toBe(true);
    } finally {
      await run.stop();
      await proxy.close();
    }
  });
});
