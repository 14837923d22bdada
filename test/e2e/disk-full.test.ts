// A disk that fills up during intake loses nothing: the data dir sits on a small tmpfs mounted by the test
// (needs root, as in CI; skipped where mounting is not allowed), and grows once the disk "is cleaned up".
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { startSink } from '../helpers/sink.ts';
import { statusJson } from '../helpers/flows.ts';

const mountPoint = tempDir('ferry-small-disk-');
let mounted = false;
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'ignore' });
  mounted = true;
} catch {
  mounted = false; // not root or no mount permission: the test below is skipped, not faked
}
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
});

describe('disk full during intake', () => {
  it.skipIf(!mounted)('keeps the files that did not fit where they are, reports it, and takes them once there is room', async () => {
    const sink = await startSink();
    const dir = tempDir('ferry-e2e-');
    const inbox = path.join(dir, 'outbox');
    fs.mkdirSync(inbox);
    const cfg = writeConfig(dir, {
      dataDir: path.join(mountPoint, 'data'),
      minFreeDiskMb: 0, // no floor: hit the real ENOSPC
      integrations: [{ name: 'i', flows: [{
        name: 'upload',
        source: { type: 'folder', path: './outbox', settleMs: 100, afterDelivery: { action: 'move', to: './outbox/.sent' } },
        destination: { type: 'http', url: sink.url },
        retry: { maxAttempts: 30, initialDelayMs: 50, maxDelayMs: 400 },
      }] }],
    });
    let ferry: RunningFerry | undefined;
    process.env.FERRY_ALLOW_TMPFS = '1'; // for `ferry run` and `ferry status` alike
    try {
      ferry = await startFerry(cfg);
      const files = new Map<string, Buffer>();
      for (let i = 0; i < 10; i++) {
        const bytes = crypto.randomBytes(400 * 1024); // above the inline limit: content store files
        files.set(`big-${i}.bin`, bytes);
        fs.writeFileSync(path.join(inbox, `big-${i}.bin`), bytes);
      }
      const status = await waitFor(async () => {
        const s = await statusJson(cfg);
        return s.flows[0].lastError && /ENOSPC|no space|full/i.test(s.flows[0].lastError) ? s : undefined;
      }, 'the disk-full problem to be reported', 30_000, 300);
      expect(status.flows[0].lastError).toMatch(/big-\d\.bin/);
      const waiting = listFiles(inbox).filter((f) => !f.startsWith('.sent/'));
      expect(waiting.length).toBeGreaterThan(0); // what did not fit is still there
      expect(ferry.child.exitCode).toBeNull(); // and Ferry keeps running
      // room again
      execFileSync('mount', ['-o', 'remount,size=64m', mountPoint]);
      await waitFor(() => listFiles(path.join(inbox, '.sent')).length === 10, 'all files delivered once there is room', 60_000, 200);
      const got = new Map([...sink.accepted.values()].flat().map((r) => [decodeURIComponent(String(r.headers['x-ferry-filename'])), r.body]));
      expect([...got.keys()].sort()).toEqual([...files.keys()].sort());
      for (const [name, bytes] of files) expect(got.get(name)!.equals(bytes), name).toBe(true);
      expect(await ferry.stop()).toBe(0);
    } finally {
      if (ferry && ferry.child.exitCode === null) await ferry.kill9();
      await sink.close();
      delete process.env.FERRY_ALLOW_TMPFS;
    }
  }, 100_000);
});
