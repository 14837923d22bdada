// An idle flow skips its lease transaction (idle CPU with many flows), yet still notices work queued by
// another process (SQLite's data_version) and by this one (wake). The engines here re-check an idle queue only
// every 10 minutes, so a delivery within the tests' waits comes from those signals, never from the re-check.
// (How soon, in milliseconds, is the engine bench's idle-latency figure.)
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine, openStore } from '../../main/engine/engine.ts';
import { startSink } from '../helpers/sink.ts';
import { writeConfig } from '../helpers/cli.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

it('delivers items another process re-queued while the flow sat idle', async () => {
  let accept = false;
  const sink = await startSink(() => (accept ? undefined : { status: 422, body: 'no' }));
  cleanup.push(() => sink.close());
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'in'));
  const file = writeConfig(dir, {
    dataDir: './data',
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/x` } }] }],
  });
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 1000, idleRecheckMs: 600_000 });
  await engine.start();
  cleanup.push(() => engine.stop());
  fs.writeFileSync(path.join(dir, 'in', 'a.txt'), 'a');
  await waitFor(() => engine.queue.count({ state: 'dead' }) === 1, 'dead item');
  await waitFor(() => engine.flow('f').isIdle, 'the flow found its queue empty and went idle');
  accept = true;

  // `ferry queue retry` in another process: its own connection
  const other = openStore(engine.dataDir);
  expect(other.queue.retry({ state: 'dead' })).toBe(1);
  other.close();
  await waitFor(() => engine.queue.count({ state: 'delivered' }) === 1, 'delivery after an external retry', 30_000, 20);

  // and in-process work still wakes it
  await waitFor(() => engine.flow('f').isIdle, 'idle again');
  fs.writeFileSync(path.join(dir, 'in', 'b.txt'), 'b');
  await waitFor(() => engine.queue.count({ state: 'delivered' }) === 2, 'second delivery', 30_000, 20);
});

it('a retry is not held back by the idle skip (the outcome commits after the loop looked)', async () => {
  let n = 0;
  const sink = await startSink(() => (n++ < 2 ? { status: 503, body: 'busy' } : undefined));
  cleanup.push(() => sink.close());
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'in'));
  const file = writeConfig(dir, {
    dataDir: './data',
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/x` }, retry: { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 40 } }] }],
  });
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 1000, idleRecheckMs: 600_000 });
  await engine.start();
  cleanup.push(() => engine.stop());
  fs.writeFileSync(path.join(dir, 'in', 'a.txt'), 'a');
  await waitFor(() => sink.received.length > 0, 'first attempt');
  await waitFor(() => engine.queue.count({ state: 'delivered' }) === 1, 'delivery after two retries', 30_000, 20);
  expect(sink.received).toHaveLength(3);
});

it('idle flows sleep until there is work: no turn per flow per second, one look at the database for all of them', async () => {
  const sink = await startSink();
  cleanup.push(() => sink.close());
  const dir = tempDir();
  const flows = Array.from({ length: 8 }, (_, i) => {
    fs.mkdirSync(path.join(dir, `in${i}`));
    return { name: `f${i}`, source: { type: 'folder', path: `./in${i}`, settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/x` } };
  });
  const file = writeConfig(dir, { dataDir: './data', integrations: [{ name: 'i', flows }] });
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 1000, idleRecheckMs: 600_000 });
  await engine.start();
  cleanup.push(() => engine.stop());
  fs.writeFileSync(path.join(dir, 'in3', 'a.txt'), 'a');
  await waitFor(() => sink.received.length === 1, 'a delivery');
  const all = () => flows.map((f) => engine.flow(f.name));
  await waitFor(() => all().every((f) => f.isIdle), 'every flow idle');
  const turns = () => all().reduce((n, f) => n + f.counters.dispatchTurns, 0);
  const before = turns();
  // three passes of the engine's once-a-second maintenance, each of which would have met every idle dispatcher
  const runs = engine.maintenanceRuns;
  await waitFor(() => engine.maintenanceRuns >= runs + 3, 'three maintenance passes', 30_000, 50);
  expect(turns()).toBe(before);

  // another process's write wakes them all at the next pass; each looks once and sleeps again
  const other = openStore(engine.dataDir);
  other.db.exec('CREATE TABLE IF NOT EXISTS probe (x)');
  other.close();
  await waitFor(() => all().every((f) => f.counters.dispatchTurns > 0) && turns() > before, 'a look after the outside write', 30_000, 20);
  await waitFor(() => all().every((f) => f.isIdle), 'idle again');
  fs.writeFileSync(path.join(dir, 'in5', 'b.txt'), 'b');
  await waitFor(() => sink.received.length === 2, 'a delivery woken by intake', 30_000, 20);
});

it('a busy flow reads data_version when it leases, not on every turn (each read is a read transaction)', async () => {
  const sink = await startSink();
  cleanup.push(() => sink.close());
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'in'));
  const file = writeConfig(dir, {
    dataDir: './data',
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/x`, concurrency: 2 } }] }],
  });
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 1000, idleRecheckMs: 600_000 });
  await engine.start();
  cleanup.push(() => engine.stop());
  const flow = engine.flow('f');
  const deps = flow.deps as { dataVersion?: () => number };
  const read = deps.dataVersion!;
  let reads = 0;
  deps.dataVersion = () => (reads++, read());
  const turns0 = flow.counters.dispatchTurns;
  for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(dir, 'in', `f${i}.txt`), `body ${i}`);
  await waitFor(() => engine.queue.count({ state: 'delivered' }) === 300, '300 deliveries', 60_000, 20);
  const turns = flow.counters.dispatchTurns - turns0;
  // a turn per delivery; a read per lease of up to 17 × concurrency items and per idle look
  expect(turns).toBeGreaterThanOrEqual(150);
  expect(reads).toBeLessThan(turns / 3);
});
