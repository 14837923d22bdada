// Ordered delivery: `ordering: fifo` and `fifo-by: <key field>` hold under retries (a flaky destination with
// several deliveries allowed at once): no item is sent before the earlier items of its group are delivered
// or dead, and a dead item does not block its group.
import { afterAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePort, startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';

const engines: RunningEngine[] = [];
const sinks: Sink[] = [];
afterAll(async () => {
  for (const e of engines) await e.stop();
  for (const s of sinks) await s.close();
});

/** Fails about 40% of attempts (deterministically by request number) and one poisoned event for good. */
const flaky = (_req: unknown, body: Buffer, n: number) => {
  if (body.toString().includes('"poison":true')) return { status: 422 };
  return n % 5 === 1 || n % 5 === 3 ? { status: 503 } : undefined;
};

async function flow(extra: Record<string, unknown>) {
  const port = await freePort();
  const sink = await startSink(flaky);
  sinks.push(sink);
  const run = await startEngine({
    integrations: [
      {
        name: 'ordered',
        flows: [
          {
            name: 'events',
            source: { type: 'webhook', port, verify: { scheme: 'none' } },
            destination: { type: 'http', url: `${sink.url}/in`, concurrency: 8, contentType: 'application/json' },
            retry: { initialDelayMs: 5, maxDelayMs: 30, maxAttempts: 100 },
            circuitBreaker: { failureThreshold: 1000, cooldownMs: 100 },
            ...extra,
          },
        ],
      },
    ],
  });
  engines.push(run);
  const post = async (event: Record<string, unknown>) => {
    const res = await request(`http://127.0.0.1:${port}/hooks/events`, { method: 'POST', body: JSON.stringify(event), headers: { 'idempotency-key': String(event.seq) } });
    await res.body.dump();
    expect(res.statusCode).toBe(202);
  };
  return { run, sink, post };
}

/** For each attempt on an event: which earlier events (of the same group) had been accepted by then. */
function checkOrder(sink: Sink, groupOf: (e: any) => string, poisoned: Set<number>) {
  const accepted = new Set<number>();
  const seqsByGroup = new Map<string, number[]>();
  sink.received.forEach((r, n) => {
    const e = JSON.parse(r.body.toString());
    const mine = seqsByGroup.get(groupOf(e)) ?? [];
    // every earlier event of the group is accepted (or poisoned: dead) before this one is even attempted
    for (const earlier of mine) if (earlier < e.seq && !accepted.has(earlier) && !poisoned.has(earlier)) throw new Error(`event ${e.seq} sent before ${earlier} was delivered`);
    if (!mine.includes(e.seq)) mine.push(e.seq);
    seqsByGroup.set(groupOf(e), mine);
    if (flaky(undefined, r.body, n) === undefined) accepted.add(e.seq);
  });
  return { accepted, seqsByGroup };
}

function acceptedOrder(sink: Sink): any[] {
  return sink.received
    .filter((r, n) => flaky(undefined, r.body, n) === undefined)
    .map((r) => JSON.parse(r.body.toString()));
}

describe('ordered delivery', () => {
  it('ordering: fifo sends a flow\'s items strictly in order through retries', async () => {
    const { run, sink, post } = await flow({ ordering: 'fifo' });
    for (let seq = 1; seq <= 40; seq++) await post({ seq, poison: seq === 17 });
    await waitFor(() => run.engine.queue.count({ flow: 'events', state: 'delivered' }) === 39 && run.engine.queue.count({ flow: 'events', state: 'dead' }) === 1, 'all settled', 60_000);
    const order = acceptedOrder(sink).map((e) => e.seq);
    expect(order).toEqual(Array.from({ length: 40 }, (_, i) => i + 1).filter((s) => s !== 17));
    // and never two attempts overlapping: each request began after the previous one was answered
    checkOrder(sink, () => 'all', new Set([17]));
    expect(sink.received.length).toBeGreaterThan(50); // retries happened
  }, 90_000);

  it('fifo-by keeps per-customer order while customers proceed side by side', async () => {
    const { run, sink, post } = await flow({ 'fifo-by': 'customer' });
    const customers = ['acme', 'globex', 'initech'];
    for (let seq = 1; seq <= 60; seq++) await post({ seq, customer: customers[seq % 3], poison: seq === 10 });
    await waitFor(() => run.engine.queue.count({ flow: 'events', state: 'delivered' }) === 59 && run.engine.queue.count({ flow: 'events', state: 'dead' }) === 1, 'all settled', 60_000);
    const { seqsByGroup } = checkOrder(sink, (e) => e.customer, new Set([10]));
    const accepted = acceptedOrder(sink);
    for (const c of customers) {
      const mine = accepted.filter((e) => e.customer === c).map((e) => e.seq);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
      expect(mine.length).toBe(c === customers[10 % 3] ? 19 : 20);
      expect(seqsByGroup.get(c)!.length).toBe(20);
    }
    // the groups interleave: not one customer after the other
    const firstTen = new Set(accepted.slice(0, 10).map((e) => e.customer));
    expect(firstTen.size).toBeGreaterThan(1);
    const items = run.engine.queue.list({ flow: 'events', limit: 100 });
    expect(new Set(items.map((i) => i.grp))).toEqual(new Set(customers));
  }, 90_000);
});
