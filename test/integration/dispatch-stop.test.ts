// Stopping with deliveries in flight: they get the grace period, then the stop interrupts every one of them
// at once (one stop signal for all), and each item goes back to the queue as it was, not as a failed attempt.
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

it('a stop interrupts 16 hanging deliveries after its grace period and queues them again, no attempt spent', async () => {
  // the API takes every request and answers none within the test
  const sink = await startSink(() => ({ delayMs: 600_000 }));
  cleanup.push(() => sink.close());
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'in'));
  const file = writeConfig(dir, {
    dataDir: './data',
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/x`, concurrency: 16, timeoutMs: 600_000 } }] }],
  });
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  cleanup.push(async () => void process.off('warning', onWarning));
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 300 });
  await engine.start();
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(dir, 'in', `f${i}.txt`), `file ${i}`);
  await waitFor(() => sink.received.length === 16, '16 deliveries in flight at once');
  await engine.stop();

  const store = openStore(engine.dataDir);
  try {
    const items = store.queue.list({});
    expect(items).toHaveLength(20);
    expect(items.every((i) => i.state === 'queued')).toBe(true);
    // interrupted by the stop: not a failed attempt (a released lease gives the attempt back)
    expect(items.map((i) => store.queue.attemptsOf(i.id).filter((a) => a.outcome !== 'released'))).toEqual(items.map(() => []));
  } finally {
    store.close();
  }
  // all 16 listened to one stop signal without a listener-leak warning
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  for (let i = 0; i < 20; i++) expect(fs.existsSync(path.join(dir, 'in', `f${i}.txt`))).toBe(true);
});
