// The ftp connector against Debian's vsftpd, a server many legacy systems run: no MLSD (Unix LIST output), and
// with FTPS its default of data connections that must resume the control connection's TLS session. With a
// self-signed certificate pinned by tlsFingerprint, every data connection used to fail: a resumed session
// carries the control connection's "self-signed" verification result.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftpConnector } from '../../connectors/ftp/index.ts';
import { ftpDestinationSchema, ftpSourceSchema } from '../../connectors/ftp/schema.ts';
import { selfSignedCert } from '../helpers/ftp-server.ts';
import { outgoingItem } from '../helpers/items.ts';
import { oneFlow, runEngine } from '../helpers/remote-engine.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { startVsftpd, vsftpdAvailable, type VsftpdHandle } from '../helpers/vsftpd.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const env = { configDir: '/', log };
const dctx = () => ({ flow: 'f', log, signal: new AbortController().signal });
const landed = (d: string) => listFiles(d).filter((f) => !f.endsWith('.partial'));

let plain: VsftpdHandle;
let tls: VsftpdHandle;
beforeAll(async () => {
  if (!vsftpdAvailable()) throw new Error('these tests need /usr/sbin/vsftpd (Debian vsftpd) and root, as in CI');
  [plain, tls] = await Promise.all([startVsftpd(), startVsftpd({ tls: true })]);
});
afterAll(async () => {
  await Promise.all([plain?.stop(), tls?.stop()]);
});

const anon = (s: VsftpdHandle) => ({ host: '127.0.0.1', port: s.port, username: 'anonymous', password: 'ferry@example.com' });
const pinned = (s: VsftpdHandle, fingerprint = s.fingerprint) => ({ ...anon(s), tls: 'explicit', tlsFingerprint: fingerprint });

describe('ftp connector against vsftpd', () => {
  it('plain FTP: files listed from LIST output are taken byte for byte, and delivered with a suffix on collision', async () => {
    const a = crypto.randomBytes(300 * 1024);
    plain.put('exports/a.bin', a);
    plain.put('exports/b.txt', 'b');
    plain.put('exports/skip.part', 'still being written');
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ type: 'ftp', ...anon(plain), path: '/exports', settleMs: 0, afterDelivery: { action: 'keep' } }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => landed(dest).length === 2, 'both files delivered', 20_000);
      expect(landed(dest).sort()).toEqual(['a.bin', 'b.txt']);
      expect(fs.readFileSync(path.join(dest, 'a.bin')).equals(a)).toBe(true);
    } finally {
      await run.stop();
    }

    const out = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...anon(plain), path: '/upload/plain' }), env);
    try {
      expect(await out.check()).toMatchObject({ ok: true });
      for (const body of ['first', 'second']) expect((await out.send(outgoingItem('r.txt', Buffer.from(body)), dctx())).kind).toBe('delivered');
      expect(fs.readdirSync(path.join(plain.root, 'upload/plain')).sort()).toEqual(['r (1).txt', 'r.txt']);
      expect(fs.readFileSync(path.join(plain.root, 'upload/plain/r (1).txt'), 'utf8')).toBe('second');
    } finally {
      await out.close?.();
    }
  });

  it('FTPS with a pinned self-signed certificate and TLS session reuse: check, download and upload work', async () => {
    const big = crypto.randomBytes(3 * 1024 * 1024 + 7);
    tls.put('secure/big.bin', big);
    expect(await ftpConnector.createSource!(ftpSourceSchema.parse({ ...pinned(tls), path: '/secure' }), env).check()).toMatchObject({ ok: true, message: expect.stringMatching(/readable \(1 entries\)/) });

    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ type: 'ftp', ...pinned(tls), path: '/secure', settleMs: 0, afterDelivery: { action: 'move', to: '/upload/archive' } }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => landed(dest).length === 1 && fs.existsSync(path.join(tls.root, 'upload/archive/big.bin')), 'downloaded over FTPS and archived', 30_000);
      expect(fs.readFileSync(path.join(dest, 'big.bin')).equals(big)).toBe(true);
      expect(run.lastError('f')).toBeUndefined();
    } finally {
      await run.stop();
    }

    const out = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...pinned(tls), path: '/upload/tls' }), env);
    try {
      expect(await out.check()).toMatchObject({ ok: true });
      const report = crypto.randomBytes(2 * 1024 * 1024);
      expect((await out.send(outgoingItem('report.bin', report), dctx())).kind).toBe('delivered');
      expect(fs.readFileSync(path.join(tls.root, 'upload/tls/report.bin')).equals(report)).toBe(true);
      expect(fs.readdirSync(path.join(tls.root, 'upload/tls'))).toEqual(['report.bin']); // no partial, no probe
    } finally {
      await out.close?.();
    }
  });

  it('FTPS: an unpinned or wrongly pinned certificate is refused with the reason, and check leaves nothing behind', async () => {
    const other = selfSignedCert('other');
    const src = (extra: object) => ftpConnector.createSource!(ftpSourceSchema.parse({ ...anon(tls), tls: 'explicit', path: '/', ...extra }), env).check();
    expect(await src({})).toMatchObject({ ok: false, message: expect.stringMatching(/^TLS certificate not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/) });
    expect(await src({ tlsFingerprint: other.fingerprint })).toMatchObject({ ok: false, message: expect.stringMatching(/^TLS certificate not trusted: 127\.0\.0\.1:\d+ presented SHA256:/) });
    const dst = ftpConnector.createDestination!(ftpDestinationSchema.parse({ ...anon(tls), tls: 'explicit', tlsFingerprint: other.fingerprint, path: '/upload/refused' }), env);
    expect(await dst.check()).toMatchObject({ ok: false, message: expect.stringMatching(/^TLS certificate not trusted/) });
    expect(fs.existsSync(path.join(tls.root, 'upload/refused'))).toBe(false);
  });
});
