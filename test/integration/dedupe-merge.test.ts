// The engine merges the dedupe index's small level in the background (store/dedupe-keys.ts): webhooks replayed
// after their keys were merged, after a restart and after their items were pruned to fingerprints are each
// recognised, answered 2xx and never delivered twice.
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startEngine, freePort, type RunningEngine } from '../helpers/engine.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

const N = 300;

async function post(port: number, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) {
    const r = await request(`http://127.0.0.1:${port}/hooks/hooks`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': `order-${i}` }, body: JSON.stringify({ order: i }) });
    await r.body.text();
    expect(r.statusCode).toBeLessThan(300);
  }
}

function delivered(sink: Sink): number[] {
  return sink.received.map((r) => JSON.parse(r.body.toString()).order as number);
}

async function run(dir: string | undefined, port: number, sink: Sink, deliveredDays: number): Promise<RunningEngine> {
  const config = {
    retention: { deliveredDays, fingerprintDays: 90 },
    integrations: [{ name: 'i', flows: [{ name: 'hooks', source: { type: 'webhook', port, verify: { scheme: 'none' } }, destination: { type: 'http', url: `${sink.url}/in`, concurrency: 4 } }] }],
  };
  const running = await startEngine(config, dir);
  running.engine.queue.keys.mergeAt = 50;
  return running;
}

describe('dedupe index merges in a running engine', () => {
  it('replayed webhooks are recognised after their keys were merged, after a restart, and after pruning', async () => {
    const sink = await startSink();
    open.push(sink);
    const port = await freePort();
    let ferry = await run(undefined, port, sink, 7);
    const dir = ferry.dir;
    try {
      await post(port, 0, N);
      await waitFor(() => sink.received.length >= N, 'every webhook delivered');
      // the maintenance pass (once a second) merges once 50 keys wait
      await waitFor(() => ferry.engine.queue.keys.pending < 50, 'the small level merged');
      expect(ferry.engine.db.prepare('SELECT COUNT(*) FROM item_keys').pluck().get()).toBeGreaterThan(N - 50);
      await post(port, 0, N);
      await waitFor(() => ferry.engine.flow('hooks').counters.duplicates === N, 'every replay recognised');
    } finally {
      await ferry.stop();
    }
    // after a restart with deliveredDays 0: the start prunes every delivered item, keeping fingerprints
    ferry = await run(dir, port, sink, 0);
    try {
      await waitFor(() => ferry.engine.queue.count({ state: 'delivered' }) === 0, 'delivered items pruned');
      await post(port, 0, N + 10);
      await waitFor(() => sink.received.length >= N + 10, 'the ten new ones delivered');
      expect(ferry.engine.flow('hooks').counters.duplicates).toBe(N);
      expect(delivered(sink).sort((a, b) => a - b)).toEqual(Array.from({ length: N + 10 }, (_, i) => i));
    } finally {
      await ferry.stop();
    }
  });
});
