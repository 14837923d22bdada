// Remote files end to end through the real `ferry` CLI: folder → SFTP (OpenSSH), FTP (ftp-srv) → HTTP,
// `ferry check` and a run reporting a host-key mismatch and a wrong password, and kill -9 during remote
// archive moves (nothing lost, nothing delivered twice under a different key).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startFerry, writeConfig } from '../helpers/cli.ts';
import { startFtpServer, type FtpServerHandle } from '../helpers/ftp-server.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { sshdAvailable, startSshd, type SshdHandle } from '../helpers/sshd.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

let sshd: SshdHandle;
let ftp: FtpServerHandle;
let sink: Sink;

beforeAll(async () => {
  if (!sshdAvailable()) throw new Error('these tests need /usr/sbin/sshd (Debian openssh-server) and root, as in CI');
  sshd = await startSshd();
  ftp = await startFtpServer();
  sink = await startSink();
});
afterAll(async () => {
  await sshd?.stop();
  await ftp?.close();
  await sink?.close();
});

const sftp = () => ({ type: 'sftp', host: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey, hostKey: sshd.hostKey });
const flowConfig = (dir: string, flow: object) => ({
  dataDir: path.join(dir, 'data'),
  admin: { port: 0 },
  minFreeDiskMb: 0,
  integrations: [{ name: 'remote', flows: [{ name: 'f', retry: { initialDelayMs: 200, maxDelayMs: 2000 }, ...flow }] }],
});
function remoteDir(name: string): string {
  const d = path.join(sshd.root, `${name}-${crypto.randomBytes(3).toString('hex')}`);
  fs.mkdirSync(d, { recursive: true });
  return d;
}
const byFile = (s: Sink, prefix: string) => {
  const keys = new Map<string, Set<string>>();
  for (const [key, recs] of s.accepted) {
    for (const r of recs) {
      const name = decodeURIComponent(String(r.headers['x-ferry-filename']));
      if (!name.startsWith(prefix)) continue;
      keys.set(name, (keys.get(name) ?? new Set()).add(key));
    }
  }
  return keys;
};

describe('remote files through the CLI', () => {
  it('folder → SFTP: files dropped in a folder land on the server under their names', async () => {
    const dir = tempDir();
    const outbox = path.join(dir, 'outbox');
    fs.mkdirSync(outbox);
    const remote = remoteDir('partner');
    const file = writeConfig(dir, flowConfig(dir, {
      source: { type: 'folder', path: './outbox', settleMs: 200, afterDelivery: { action: 'move', to: './sent' } },
      trigger: { on: 'change' },
      destination: { ...sftp(), path: `${remote}/incoming` },
    }));
    const check = await runCli(['check', '--config', file]);
    expect(check.stdout).toContain('f destination (sftp): OK');
    expect(check.code).toBe(0);
    const ferry = await startFerry(file);
    try {
      fs.mkdirSync(path.join(outbox, 'eu'));
      fs.writeFileSync(path.join(outbox, 'eu/order-1.xml'), '<order id="1"/>');
      fs.writeFileSync(path.join(outbox, 'order-2.xml'), '<order id="2"/>');
      await waitFor(() => listFiles(path.join(dir, 'sent')).length === 2, 'both files sent and moved');
      expect(listFiles(remote)).toEqual(['incoming/eu/order-1.xml', 'incoming/order-2.xml']);
      expect(fs.readFileSync(path.join(remote, 'incoming/eu/order-1.xml'), 'utf8')).toBe('<order id="1"/>');
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('FTP → HTTP: scheduled pick-up, posted with idempotency keys, archived on the server after delivery', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(ftp.root, 'exports'), { recursive: true });
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(ftp.root, `exports/ftp-${i}.csv`), `row,${i}\n`);
    fs.writeFileSync(path.join(ftp.root, 'exports/ftp-busy.csv.tmp'), 'still writing');
    const file = writeConfig(dir, flowConfig(dir, {
      source: { type: 'ftp', host: '127.0.0.1', port: ftp.port, username: ftp.user, password: '${env:FTP_PASSWORD}', path: '/exports', include: ['*.csv'], settleMs: 500, afterDelivery: { action: 'move', to: '/exports/done' } },
      trigger: { schedule: '* * * * * *' },
      destination: { type: 'http', url: `${sink.url}/upload` },
    }));
    const env = { FTP_PASSWORD: ftp.password };
    const check = await runCli(['check', '--config', file], { env });
    expect(check.stdout).toMatch(/f source \(ftp\): OK - ftp:\/\/ferry@127\.0\.0\.1:\d+\/exports is readable/);
    expect(fs.readFileSync(file, 'utf8')).not.toContain(ftp.password); // the secret stays out of the config
    const ferry = await startFerry(file, { env });
    try {
      await waitFor(() => byFile(sink, 'ftp-').size === 5, 'five files posted');
      await waitFor(() => listFiles(path.join(ftp.root, 'exports')).filter((f) => f.startsWith('done/')).length === 5, 'archived on the server');
      expect(listFiles(path.join(ftp.root, 'exports'))).toContain('ftp-busy.csv.tmp');
      const got = [...sink.accepted.values()].flat().filter((r) => String(r.headers['x-ferry-filename']).startsWith('ftp-'));
      expect(got.map((r) => r.body.toString()).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `row,${i}\n`));
      expect(fs.readFileSync(path.join(dir, 'data/logs/ferry.log'), 'utf8')).not.toContain(ftp.password);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });

  it('host-key mismatch and a wrong password: `ferry check` and a run give the reason', async () => {
    const dir = tempDir();
    const remote = remoteDir('guarded');
    fs.writeFileSync(path.join(remote, 'x.txt'), 'x');
    const wrongKey = `SHA256:${crypto.randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    const { privateKey: _k, ...noKey } = sftp();
    const file = writeConfig(dir, {
      dataDir: path.join(dir, 'data'),
      admin: { port: 0 },
      minFreeDiskMb: 0,
      integrations: [{
        name: 'remote',
        flows: [
          { name: 'mismatch', source: { ...sftp(), hostKey: wrongKey, path: remote, settleMs: 0 }, trigger: { schedule: '* * * * * *' }, destination: { type: 'folder', path: './in1' } },
          { name: 'badpass', source: { ...noKey, password: '${env:SFTP_PASSWORD}', path: remote, settleMs: 0 }, trigger: { schedule: '* * * * * *' }, destination: { type: 'folder', path: './in2' } },
        ],
      }],
    });
    const env = { SFTP_PASSWORD: 'definitely-wrong' };
    const check = await runCli(['check', '--config', file], { env });
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`mismatch source (sftp): FAILED - host key mismatch: 127.0.0.1:${sshd.port} presented ${sshd.hostKey}, hostKey pins ${wrongKey}; refused`);
    expect(check.stdout).toContain(`badpass source (sftp): FAILED - authentication failed: 127.0.0.1:${sshd.port} refused user ${sshd.user}`);
    expect(check.stdout).toContain('mismatch destination (folder): OK');
    const ferry = await startFerry(file, { env });
    try {
      await ferry.waitForOutput(/host key mismatch: 127\.0\.0\.1:\d+ presented SHA256:/);
      await ferry.waitForOutput(/authentication failed: 127\.0\.0\.1:\d+ refused user/);
    } finally {
      await ferry.stop();
    }
    expect(listFiles(dir).filter((f) => f.startsWith('in'))).toEqual([]);
    expect(ferry.output()).not.toContain('definitely-wrong');
    const status = await runCli(['status', '--config', file], { env });
    expect(status.stdout).toMatch(/mismatch: last error .*host key mismatch/);
  });

  it('kill -9 during remote archive moves: nothing lost, nothing delivered twice under a different key', async () => {
    const dir = tempDir();
    const remote = remoteDir('kill9');
    const N = 150;
    for (let i = 0; i < N; i++) fs.writeFileSync(path.join(remote, `k9-${String(i).padStart(3, '0')}.txt`), `file ${i} ${'x'.repeat(i)}`);
    const file = writeConfig(dir, flowConfig(dir, {
      source: { ...sftp(), path: remote, settleMs: 0, afterDelivery: { action: 'move', to: `${remote}/archive` } },
      trigger: { schedule: '* * * * * *' },
      destination: { type: 'http', url: `${sink.url}/k9`, concurrency: 8 },
    }));
    const archived = () => listFiles(path.join(remote, 'archive')).length;
    let ferry = await startFerry(file);
    await waitFor(() => archived() >= 10, 'archive moves under way', 30_000, 5);
    await ferry.kill9();
    const atKill = archived();
    expect(atKill).toBeLessThan(N); // killed in the middle of the moves
    ferry = await startFerry(file);
    try {
      await waitFor(() => archived() === N, 'every file archived after the restart', 60_000);
      await waitFor(() => byFile(sink, 'k9-').size === N, 'every file delivered');
      expect(listFiles(remote).filter((f) => !f.startsWith('archive/'))).toEqual([]);
      const keys = byFile(sink, 'k9-');
      const twiceUnderNewKey = [...keys].filter(([, k]) => k.size > 1).map(([name]) => name);
      expect(twiceUnderNewKey).toEqual([]);
      // the archive holds each file once, unchanged
      const names = listFiles(path.join(remote, 'archive'));
      expect(names.length).toBe(N);
      expect(names.every((n) => /^k9-\d{3}\.txt$/.test(n))).toBe(true);
    } finally {
      expect(await ferry.stop()).toBe(0);
    }
  });
});
