// The ftp connector against a real FTP/FTPS server (ftp-srv on 127.0.0.1, in this process), driven by the
// real engine: completeness, after-delivery on the server, dropped connections, TLS pinning, passive-mode
// quirks, collisions, traversal names and check's reasons.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ftpConnector } from '../../connectors/ftp/index.ts';
import { ftpDestinationSchema, ftpSourceSchema } from '../../connectors/ftp/schema.ts';
import { outgoingItem } from '../helpers/items.ts';
import { freePort, selfSignedCert, startFtpServer, type FtpServerHandle } from '../helpers/ftp-server.ts';
import { oneFlow, runEngine } from '../helpers/remote-engine.ts';
import { sourceState } from '../../main/engine/store/state.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { trayState } from '../../main/desktop/tray.ts';
import { recordIntake } from '../helpers/intake.ts';

/** Files a folder destination finished (its own temp files excluded). */
const landed = (d: string) => listFiles(d).filter((f) => !f.endsWith('.partial'));
const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const env = { configDir: '/', log };
const servers: FtpServerHandle[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(opts: Parameters<typeof startFtpServer>[0] = {}): Promise<FtpServerHandle> {
  const s = await startFtpServer(opts);
  servers.push(s);
  return s;
}

const bare = (s: FtpServerHandle) => ({ host: '127.0.0.1', port: s.port, username: s.user, password: s.password });
const conn = (s: FtpServerHandle) => ({ type: 'ftp', ...bare(s) });

function put(root: string, rel: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
  fs.writeFileSync(path.join(root, rel), content);
}

const item = (name: string, body: Buffer, attributes: Record<string, string> = {}) => outgoingItem(name, body, { attributes });
const dctx = () => ({ flow: 'f', log, signal: new AbortController().signal });

describe('ftp source', () => {
  it('takes a growing file only once stable, ignores temp names, moves delivered files into the archive', async () => {
    const srv = await server();
    put(srv.root, 'out/ready.xml', '<ready/>');
    put(srv.root, 'out/upload.xml.part', 'half');
    put(srv.root, 'out/notes.txt', 'not included');
    put(srv.root, 'out/growing.xml', 'a');
    const grow = setInterval(() => fs.appendFileSync(path.join(srv.root, 'out/growing.xml'), 'a'.repeat(100)), 200);
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow(
      { ...conn(srv), path: '/out', include: ['*.xml'], settleMs: 1200, afterDelivery: { action: 'move', to: '/out/archive' } },
      { type: 'folder', path: dest },
    ));
    try {
      const rec = recordIntake(run.engine.flow('f').source);
      await waitFor(() => landed(dest).includes('ready.xml'), 'ready.xml delivered');
      // three more scans saw it still changing (each with its second look): not taken
      const from = rec.mark();
      await rec.passes(3, { from, pass: 'second-look' });
      expect(rec.decisions('growing.xml', from).length).toBeGreaterThanOrEqual(3);
      expect(new Set(rec.decisions('growing.xml', from))).toEqual(new Set(['settling']));
      expect(landed(dest)).not.toContain('growing.xml');
      clearInterval(grow);
      const final = fs.readFileSync(path.join(srv.root, 'out/growing.xml'));
      await waitFor(() => landed(dest).includes('growing.xml'), 'growing.xml delivered once stable', 15_000);
      expect(fs.readFileSync(path.join(dest, 'growing.xml'))).toEqual(final);
      await waitFor(() => listFiles(path.join(srv.root, 'out')).join() === 'archive/growing.xml,archive/ready.xml,notes.txt,upload.xml.part', 'originals archived');
      expect(landed(dest)).toEqual(['growing.xml', 'ready.xml']);
      expect(run.count('f', 'delivered')).toBe(2);
    } finally {
      clearInterval(grow);
      await run.stop();
    }
  });

  it('keep: remembers what it took across restarts; ready markers; recursive with globs', async () => {
    const srv = await server();
    put(srv.root, 'in/a/one.csv', 'one');
    put(srv.root, 'in/b/deep/two.csv', 'two');
    put(srv.root, 'in/b/skip.txt', 'skip');
    put(srv.root, 'in/c/three.csv', 'three'); // no marker yet
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const flow = oneFlow(
      { ...conn(srv), path: '/in', recursive: true, include: ['**/*.csv'], readyMarker: '{name}.ok', afterDelivery: { action: 'keep' } },
      { type: 'folder', path: dest },
    );
    put(srv.root, 'in/a/one.csv.ok', '');
    put(srv.root, 'in/b/deep/two.csv.ok', '');
    let run = await runEngine(dir, flow);
    try {
      const rec = recordIntake(run.engine.flow('f').source);
      await waitFor(() => landed(dest).length === 2, 'two marked files delivered');
      expect(landed(dest)).toEqual(['a/one.csv', 'b/deep/two.csv']);
      await rec.decided('c/three.csv', 'waiting-for-marker', { times: 2 });
      expect(landed(dest)).toEqual(['a/one.csv', 'b/deep/two.csv']); // three.csv has no marker
    } finally {
      await run.stop();
    }
    // restart: nothing is taken twice, even a file touched (same content, new time)
    fs.utimesSync(path.join(srv.root, 'in/a/one.csv'), new Date(), new Date(Date.now() + 120_000));
    put(srv.root, 'in/c/three.csv.ok', '');
    run = await runEngine(dir, flow);
    try {
      const rec = recordIntake(run.engine.flow('f').source);
      await waitFor(() => landed(dest).includes('c/three.csv'), 'three.csv delivered once its marker appeared');
      // a later scan finds all three taken (one.csv, touched, was offered once more and recognised as a duplicate)
      const from = rec.mark();
      for (const f of ['a/one.csv', 'b/deep/two.csv', 'c/three.csv']) await rec.foundTaken(f, { from });
      expect(landed(dest)).toEqual(['a/one.csv', 'b/deep/two.csv', 'c/three.csv']);
      expect(listFiles(path.join(srv.root, 'in'))).toContain('a/one.csv'); // keep leaves the originals
      // what keep remembers is durable, and forgotten once the file is gone from the server
      const taken = () => sourceState(run.engine.db, 'f').entries('taken:').map(([k]) => k).sort();
      expect(taken()).toEqual(['taken:a/one.csv', 'taken:b/deep/two.csv', 'taken:c/three.csv']);
      fs.rmSync(path.join(srv.root, 'in/a/one.csv'));
      await waitFor(() => taken().length === 2, 'the memory of the removed file dropped');
    } finally {
      await run.stop();
    }
  });

  it('a connection dropped mid-download leaves nothing partial; the files arrive after recovery', async () => {
    const srv = await server();
    const big = crypto.randomBytes(1_500_000);
    const small = crypto.randomBytes(200_000);
    put(srv.root, 'drop/big.bin', big);
    put(srv.root, 'drop/small.bin', small);
    srv.faults.dropDownloadAfterBytes = 64 * 1024;
    srv.faults.dropDownloads = 2;
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ ...conn(srv), path: '/drop', settleMs: 0, afterDelivery: { action: 'delete' } }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => run.lastError('f'), 'the dropped download reported');
      await waitFor(() => landed(dest).length === 2, 'both files delivered after the drops', 30_000);
      expect(srv.faults.dropDownloads).toBe(0);
      expect(fs.readFileSync(path.join(dest, 'big.bin')).equals(big)).toBe(true);
      expect(fs.readFileSync(path.join(dest, 'small.bin')).equals(small)).toBe(true);
      expect(listFiles(path.join(dir, 'data/content/tmp'))).toEqual([]); // no partial body in the content store
      // the large body (kept as a file in the content store) was hard-linked into the folder, not written twice
      const stored = listFiles(path.join(dir, 'data/content')).map((f) => fs.statSync(path.join(dir, 'data/content', f)).ino);
      expect(stored).toContain(fs.statSync(path.join(dest, 'big.bin')).ino);
      expect(stored).not.toContain(fs.statSync(path.join(dest, 'small.bin')).ino); // small bodies sit in the database
      expect(run.count('f')).toBe(2); // each file queued exactly once
      await waitFor(() => listFiles(path.join(srv.root, 'drop')).length === 0, 'originals deleted after delivery');
    } finally {
      await run.stop();
    }
  });
});

describe('ftp destination', () => {
  it('a download that stalls is cut after timeoutMs; nothing partial stays and the file arrives on the next try', async () => {
    const srv = await server();
    const body = crypto.randomBytes(2 * 1024 * 1024 + 5);
    put(srv.root, 'stall/s.bin', body);
    Object.assign(srv.faults, { stallDownloads: 1, stallDownloadAfterBytes: 300 * 1024 });
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ ...conn(srv), path: '/stall', settleMs: 0, timeoutMs: 1500 }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => srv.faults.stallDownloads === 0, 'the download stalled');
      const stalledAt = Date.now();
      await waitFor(() => landed(dest).includes('s.bin'), 'delivered after the stall', 30_000);
      expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(1400); // it waited out the timeout, then tried again
      expect(fs.readFileSync(path.join(dest, 's.bin')).equals(body)).toBe(true);
      expect(fs.readdirSync(path.join(dir, 'data/content/tmp'))).toEqual([]);
      expect(run.count('f')).toBe(1);
    } finally {
      await run.stop();
    }
  });

  it('an upload the server stops reading is cut after timeoutMs; its partial file is removed and the retry delivers', async () => {
    const srv = await server();
    Object.assign(srv.faults, { stallUploads: 1, stallUploadAfterBytes: 256 * 1024 });
    const dst = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/slow', timeoutMs: 1500 }), env);
    const body = crypto.randomBytes(8 * 1024 * 1024);
    try {
      const started = Date.now();
      const first = await dst.send(item('big.bin', body), dctx());
      expect(first).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/no progress for 1500 ms uploading/) });
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
      await waitFor(() => fs.readdirSync(path.join(srv.root, 'slow')).length === 0, 'the partial file removed');
      expect(await dst.send(item('big.bin', body), dctx())).toMatchObject({ kind: 'delivered' });
      expect(fs.readFileSync(path.join(srv.root, 'slow/big.bin')).equals(body)).toBe(true);
      expect(fs.readdirSync(path.join(srv.root, 'slow'))).toEqual(['big.bin']);
    } finally {
      await dst.close?.();
    }
  });

  it('a connection dropped mid-upload leaves no partial file; the item is delivered after a retry', async () => {
    const srv = await server();
    const dir = tempDir();
    const src = path.join(dir, 'src');
    const body = crypto.randomBytes(700_000);
    put(src, 'sub/export.bin', body);
    srv.faults.dropUploadAfterBytes = 100_000;
    srv.faults.dropUploads = 2;
    const run = await runEngine(dir, oneFlow({ type: 'folder', path: src, settleMs: 100 }, { ...conn(srv), path: '/incoming/partner' }, { trigger: { on: 'change' } }));
    try {
      await waitFor(() => run.count('f', 'delivered') === 1, 'delivered after the dropped uploads', 30_000);
      expect(srv.faults.dropUploads).toBe(0);
      const remote = path.join(srv.root, 'incoming/partner');
      expect(listFiles(remote)).toEqual(['sub/export.bin']); // no *.partial left behind
      expect(fs.readFileSync(path.join(remote, 'sub/export.bin')).equals(body)).toBe(true);
    } finally {
      await run.stop();
    }
  });

  it('collisions (suffix, overwrite, fail), missing folders created, traversal names contained', async () => {
    const srv = await server();
    put(srv.root, 'target/report.csv', 'old');
    const mk = (onCollision: string) => ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/target', onCollision }), env);
    const suffix = mk('suffix');
    expect((await suffix.send(item('report.csv', Buffer.from('new 1')), dctx())).kind).toBe('delivered');
    expect(fs.readFileSync(path.join(srv.root, 'target/report (1).csv'), 'utf8')).toBe('new 1');
    const overwrite = mk('overwrite');
    expect((await overwrite.send(item('report.csv', Buffer.from('new 2')), dctx())).kind).toBe('delivered');
    expect(fs.readFileSync(path.join(srv.root, 'target/report.csv'), 'utf8')).toBe('new 2');
    const fail = mk('fail');
    const outcome = await fail.send(item('report.csv', Buffer.from('new 3')), dctx());
    expect(outcome).toMatchObject({ kind: 'dead', reason: expect.stringMatching(/exists and onCollision is "fail"/) });
    const evil = await suffix.send(item('../../etc/evil.txt', Buffer.from('x'), { relativePath: '../../etc/evil.txt' }), dctx());
    expect(evil.kind).toBe('delivered');
    const drive = await suffix.send(item('x.txt', Buffer.from('y'), { relativePath: 'C:\\deep\\new\\x.txt' }), dctx());
    expect(drive.kind).toBe('delivered');
    expect(listFiles(srv.root)).toEqual(['target/deep/new/x.txt', 'target/etc/evil.txt', 'target/report (1).csv', 'target/report.csv']);
    for (const d of [suffix, overwrite, fail]) await d.close?.();
  });

  it('uses at most maxConnections connections, one transfer each', async () => {
    const srv = await server();
    const dest = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/many', maxConnections: 2 }), env);
    expect(dest.concurrency).toBe(2);
    const bodies = Array.from({ length: 12 }, (_, i) => crypto.randomBytes(50_000 + i));
    const outcomes = await Promise.all(bodies.map((b, i) => dest.send(item(`f${i}.bin`, b), dctx())));
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(srv.maxConnected).toBeLessThanOrEqual(2);
    bodies.forEach((b, i) => expect(fs.readFileSync(path.join(srv.root, `many/f${i}.bin`)).equals(b)).toBe(true));
    await dest.close?.();
  });
});

describe('ftp connections', () => {
  it('EPSV refused and a private PASV address announced: falls back to PASV on the control address', async () => {
    const srv = await server({ blacklist: ['EPSV'], pasvUrl: '10.20.30.40' });
    put(srv.root, 'nat/in.txt', 'through NAT');
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ ...conn(srv), path: '/nat', settleMs: 0 }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => landed(dest).includes('in.txt'), 'downloaded over PASV');
      expect(fs.readFileSync(path.join(dest, 'in.txt'), 'utf8')).toBe('through NAT');
    } finally {
      await run.stop();
    }
  });

  it('FTPS explicit and implicit: verified by default, self-signed accepted only when pinned', async () => {
    const cert = selfSignedCert();
    const other = selfSignedCert('other');
    for (const tls of ['explicit', 'implicit'] as const) {
      const srv = await server({ tls, cert });
      const cfg = (extra: object) => ftpSourceSchema.parse({ ...bare(srv), path: '/', tls, ...extra });
      const unpinned = await ftpConnector.createSource!(cfg({}), env).check();
      expect(unpinned).toMatchObject({ ok: false, message: expect.stringMatching(/^TLS certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/) });
      const wrongPin = await ftpConnector.createSource!(cfg({ tlsFingerprint: other.fingerprint }), env).check();
      expect(wrongPin).toMatchObject({ ok: false, message: expect.stringMatching(/^TLS certificate not trusted: .* presented SHA256:/) });
      expect(srv.logins).toBe(0); // no credentials went to an unverified server
      const pinned = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/secure', tls, tlsFingerprint: cert.fingerprint }), env);
      expect(await pinned.check()).toMatchObject({ ok: true });
      expect((await pinned.send(item('s.txt', Buffer.from(`over ${tls} TLS`)), dctx())).kind).toBe('delivered');
      expect(fs.readFileSync(path.join(srv.root, 'secure/s.txt'), 'utf8')).toBe(`over ${tls} TLS`);
      await pinned.close?.();
    }
  });

  it('FTPS source: a large file streams through TLS into the content store byte for byte', async () => {
    const cert = selfSignedCert();
    const srv = await server({ tls: 'explicit', cert });
    const big = crypto.randomBytes(3 * 1024 * 1024 + 99); // several of the download body's 1 MB blocks
    put(srv.root, 'tls/big.bin', big);
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ ...conn(srv), path: '/tls', tls: 'explicit', tlsFingerprint: cert.fingerprint, settleMs: 0, afterDelivery: { action: 'keep' } }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => landed(dest).length === 1, 'the file delivered', 30_000);
      expect(fs.readFileSync(path.join(dest, 'big.bin')).equals(big)).toBe(true);
    } finally {
      await run.stop();
    }
  });

  it('check removes its probe file when the server dropped the probe upload', async () => {
    const srv = await server();
    fs.mkdirSync(path.join(srv.root, 'probe'));
    Object.assign(srv.faults, { dropUploads: 1, dropUploadAfterBytes: 0 });
    const dst = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/probe' }), env);
    expect(await dst.check()).toMatchObject({ ok: false, message: expect.stringMatching(/dropped|closed/) });
    expect(fs.readdirSync(path.join(srv.root, 'probe'))).toEqual([]);
    expect(srv.faults.dropUploads).toBe(0);
  });

  it('an empty file is uploaded and verified (the server answers SIZE for it without a number)', async () => {
    const srv = await server();
    const dst = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/empty' }), env);
    try {
      expect(await dst.send(item('none.txt', Buffer.alloc(0)), dctx())).toMatchObject({ kind: 'delivered' });
      expect(fs.readdirSync(path.join(srv.root, 'empty'))).toEqual(['none.txt']);
      expect(fs.statSync(path.join(srv.root, 'empty/none.txt')).size).toBe(0);
    } finally {
      await dst.close?.();
    }
  });

  it('a source whose server is down is "failing" in the status (the tray asks for attention) until a scan succeeds again', async () => {
    const first = await server();
    put(first.root, 'down/a.txt', 'a');
    const port = first.port;
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ ...conn(first), path: '/down', settleMs: 0 }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => landed(dest).includes('a.txt'), 'the first file');
      expect(run.engine.status().flows[0].source.failingSince).toBeNull();
      await first.close();
      const failing = await waitFor(() => (run.engine.status().flows[0].source.failingSince ? run.engine.status().flows[0] : undefined), 'the source failing');
      expect(failing.source.problem).toMatch(/^cannot list ftp:\/\/ferry@127\.0\.0\.1:\d+\/down: host unreachable: connection refused/);
      expect(trayState(run.engine.status())).toBe('attention');

      const second = await server({ port, root: fs.mkdtempSync(path.join(dir, 'root-')) });
      put(second.root, 'down/b.txt', 'b');
      await waitFor(() => landed(dest).includes('b.txt') && run.engine.status().flows[0].source.failingSince === null, 'a clean scan again');
      expect(run.engine.status().flows[0].source.problem).toBeNull();
      expect(trayState(run.engine.status())).toBe('ok');
    } finally {
      await run.stop();
    }
  });

  it('check names the reason: unreachable, authentication, folder missing, permission denied', async () => {
    const srv = await server();
    fs.mkdirSync(path.join(srv.root, 'ro'));
    srv.faults.denyWritesUnder = '/ro';
    const closedPort = await freePort();
    const src = (extra: object) => ftpConnector.createSource!(ftpSourceSchema.parse({ ...bare(srv), path: '/', ...extra }), env).check();
    const dst = (extra: object) => ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...bare(srv), path: '/', ...extra }), env).check();
    expect(await src({ port: closedPort })).toEqual({ ok: false, message: `host unreachable: connection refused by 127.0.0.1:${closedPort}` });
    expect(await src({ password: 'wrong' })).toMatchObject({ ok: false, message: expect.stringMatching(/^authentication failed: 127.0.0.1:\d+ refused user ferry \(530/) });
    expect(await src({ path: '/nope' })).toMatchObject({ ok: false, message: expect.stringMatching(/^folder missing: ftp:\/\/ferry@127.0.0.1:\d+\/nope/) });
    expect(await dst({ path: '/ro' })).toMatchObject({ ok: false, message: expect.stringMatching(/^permission denied on \/ro/) });
    expect(await src({ path: '/' })).toMatchObject({ ok: true });
    expect(await dst({ path: '/fresh/folder' })).toMatchObject({ ok: true });
    expect(fs.existsSync(path.join(srv.root, 'fresh/folder'))).toBe(true);
    expect(listFiles(path.join(srv.root, 'fresh'))).toEqual([]); // the probe is removed
  });
});
