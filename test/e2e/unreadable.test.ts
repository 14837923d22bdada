// An unreadable source file is reported and retried, never skipped in silence. Root reads any file whatever its
// mode, so (as in CI, which runs as root) `ferry run` runs here as the unprivileged user "nobody", from an
// installed copy in a folder nobody can read (the checkout may not be: a clone under /root is mode 0700).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { installedCopy, sharedBase, sharedTempDir } from '../helpers/installed-copy.ts';
import { ferryBin, writeConfig } from '../helpers/cli.ts';
import { startSink } from '../helpers/sink.ts';
import { statusJson } from '../helpers/flows.ts';

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const shared = asRoot ? sharedBase() : undefined;
if (shared && 'reason' in shared) console.warn(`unreadable.test.ts skipped: running as nobody needs a folder nobody can reach, and ${shared.reason}`);

describe('unreadable source file', () => {
  it.skipIf(process.platform === 'win32' || (shared !== undefined && 'reason' in shared))('is reported with its path and reason, stays, and is taken once readable', async () => {
    const sink = await startSink();
    // as root: everything nobody must reach lies in a shared folder; as another user that user runs it
    const base = shared && 'dir' in shared ? shared.dir : undefined;
    const dir = base ? sharedTempDir(base, 'ferry-e2e-') : tempDir('ferry-e2e-');
    const bin = base ? installedCopy(base) : ferryBin;
    const inbox = path.join(dir, 'outbox');
    fs.mkdirSync(inbox, { mode: 0o777 });
    fs.chmodSync(inbox, 0o777);
    const cfg = writeConfig(dir, {
      dataDir: './data',
      minFreeDiskMb: 0,
      integrations: [{ name: 'i', flows: [{
        name: 'upload',
        source: { type: 'folder', path: './outbox', settleMs: 100, afterDelivery: { action: 'move', to: './outbox/.sent' } },
        destination: { type: 'http', url: sink.url },
      }] }],
    });
    fs.writeFileSync(path.join(inbox, 'ok.csv'), 'readable');
    fs.writeFileSync(path.join(inbox, 'locked.csv'), 'not yet');
    fs.chmodSync(path.join(inbox, 'ok.csv'), 0o666);
    fs.chmodSync(path.join(inbox, 'locked.csv'), 0o000);
    const child = spawn(process.execPath, [bin, 'run', '--config', cfg], {
      cwd: dir,
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
      env: { ...process.env, HOME: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await waitFor(() => fs.existsSync(path.join(inbox, '.sent', 'ok.csv')), `ok.csv delivered:\n${out}`, 20_000);
      const status = await waitFor(async () => {
        const s = await statusJson(cfg);
        return s.flows[0].lastError?.includes('locked.csv') ? s : undefined;
      }, `the unreadable file reported:\n${out}`, 20_000, 200);
      expect(status.flows[0].lastError).toMatch(new RegExp(`cannot take ${path.join(inbox, 'locked.csv').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EACCES.*retrying in \\d+ s`));
      expect(out).toContain('locked.csv');
      expect(fs.existsSync(path.join(inbox, 'locked.csv'))).toBe(true);
      expect(sink.received.map((r) => decodeURIComponent(String(r.headers['x-ferry-filename'])))).toEqual(['ok.csv']);
      fs.chmodSync(path.join(inbox, 'locked.csv'), 0o666);
      await waitFor(() => fs.existsSync(path.join(inbox, '.sent', 'locked.csv')), 'locked.csv taken once readable', 30_000, 200);
      expect(sink.received.find((r) => r.body.toString() === 'not yet')).toBeDefined();
      expect(listFiles(inbox)).toEqual(['.sent/locked.csv', '.sent/ok.csv']);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await sink.close();
    }
  }, 70_000);
});
