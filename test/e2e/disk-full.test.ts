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

  it.skipIf(!mounted)('a delivery outcome that cannot be recorded while the disk is full is recorded once there is room, not sent again', async () => {
    execFileSync('mount', ['-o', 'remount,size=8m', mountPoint]);
    const sink = await startSink(() => ({ delayMs: 1500 })); // answers held back while the disk fills up
    const dir = tempDir('ferry-e2e-');
    const inbox = path.join(dir, 'outbox');
    fs.mkdirSync(inbox);
    const cfg = writeConfig(dir, {
      dataDir: path.join(mountPoint, 'data2'),
      minFreeDiskMb: 0,
      integrations: [{ name: 'i', flows: [{
        name: 'upload',
        source: { type: 'folder', path: './outbox', settleMs: 100, afterDelivery: { action: 'move', to: './outbox/.sent' } },
        destination: { type: 'http', url: sink.url },
      }] }],
    });
    let ferry: RunningFerry | undefined;
    const filler = path.join(mountPoint, 'filler');
    process.env.FERRY_ALLOW_TMPFS = '1';
    try {
      ferry = await startFerry(cfg);
      for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(inbox, `order-${i}.json`), JSON.stringify({ order: i }));
      await waitFor(() => sink.received.length === 3, 'the three deliveries in flight', 30_000, 20);
      // the disk fills up while the answers are on their way: their outcomes cannot be committed
      const fd = fs.openSync(filler, 'w');
      try {
        const chunk = Buffer.alloc(64 * 1024);
        for (;;) fs.writeSync(fd, chunk);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
      } finally {
        fs.closeSync(fd);
      }
      await ferry.waitForOutput(/recording a delivery outcome failed/, 30_000);
      fs.rmSync(filler);
      await waitFor(() => listFiles(path.join(inbox, '.sent')).length === 3, 'the outcomes recorded and the files moved once there is room', 20_000, 100);
      expect(sink.received.length).toBe(3); // recorded, not sent again
      expect(await ferry.stop()).toBe(0);
    } finally {
      fs.rmSync(filler, { force: true });
      if (ferry && ferry.child.exitCode === null) await ferry.kill9();
      await sink.close();
      delete process.env.FERRY_ALLOW_TMPFS;
    }
  }, 100_000);
});
