// The `amqp` source and destination against Debian's rabbitmq-server, started here on 127.0.0.1 and
// restarted mid-stream: consumed messages are acknowledged only once queued, published items count as
// delivered only once confirmed, and nothing is lost across the broker restart.
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { AmqpSource } from '../../connectors/amqp/source.ts';
import { AmqpDestination } from '../../connectors/amqp/destination.ts';
import { amqpDestinationSchema, amqpSourceSchema } from '../../connectors/amqp/schema.ts';
import { freePort, startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startRabbit, type Rabbit } from '../helpers/rabbitmq.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';
import { silentLogger } from '../../main/engine/logger.ts';

let rabbit: Rabbit;
let run: RunningEngine;
let sink: Sink;
let hookPort: number;

beforeAll(async () => {
  rabbit = await startRabbit();
  sink = await startSink();
  hookPort = await freePort();
  run = await startEngine({
    integrations: [
      {
        name: 'broker',
        flows: [
          {
            name: 'consume',
            source: { type: 'amqp', url: rabbit.url, queue: 'ferry-in', prefetch: 20, heartbeatSec: 5 },
            destination: { type: 'http', url: `${sink.url}/in`, contentType: 'application/json' },
          },
          {
            name: 'publish',
            source: { type: 'webhook', port: hookPort, verify: { scheme: 'none' } },
            destination: { type: 'amqp', url: rabbit.url, queue: 'ferry-out', heartbeatSec: 5 },
            retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAttempts: 1000 },
            circuitBreaker: { failureThreshold: 1000, cooldownMs: 200 },
          },
        ],
      },
    ],
  });
}, 90_000);

afterAll(async () => {
  await run?.stop();
  await sink?.close();
  await rabbit?.stop();
}, 60_000);

async function publishIn(from: number, to: number): Promise<void> {
  const conn = await amqp.connect(rabbit.url);
  const ch = await conn.createConfirmChannel();
  await ch.assertQueue('ferry-in', { durable: true });
  for (let n = from; n <= to; n++) ch.sendToQueue('ferry-in', Buffer.from(JSON.stringify({ n })), { persistent: true, messageId: `m-${n}` });
  await ch.waitForConfirms();
  await conn.close();
}

/** Publishes m-from..m-to at a steady pace with confirms, resending unconfirmed ones after a broker outage. */
async function publishSteadily(from: number, to: number, onEach: (n: number) => void): Promise<void> {
  let next = from;
  while (next <= to) {
    try {
      const conn = await amqp.connect(rabbit.url);
      conn.on('error', () => undefined);
      const ch = await conn.createConfirmChannel();
      ch.on('error', () => undefined);
      await ch.assertQueue('ferry-in', { durable: true });
      while (next <= to) {
        ch.sendToQueue('ferry-in', Buffer.from(JSON.stringify({ n: next })), { persistent: true, messageId: `m-${next}` });
        await ch.waitForConfirms();
        onEach(next);
        next++;
        await new Promise((r) => setTimeout(r, 10));
      }
      await conn.close();
    } catch {
      await new Promise((r) => setTimeout(r, 300)); // broker down: resend from the first unconfirmed message
    }
  }
}

async function postEvents(from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) {
    const res = await request(`http://127.0.0.1:${hookPort}/hooks/publish`, { method: 'POST', body: JSON.stringify({ n }), headers: { 'idempotency-key': `e-${n}` } });
    await res.body.dump();
    expect(res.statusCode).toBe(202);
  }
}

/** Drains ferry-out with the test's own client; returns the distinct event numbers and message ids. */
async function drainOut(): Promise<{ ns: Set<number>; ids: Set<string> }> {
  const conn = await amqp.connect(rabbit.url);
  const ch = await conn.createChannel();
  const ns = new Set<number>();
  const ids = new Set<string>();
  for (;;) {
    const m = await ch.get('ferry-out', { noAck: true });
    if (!m) break;
    ns.add(JSON.parse(m.content.toString()).n);
    ids.add(m.properties.messageId);
  }
  await conn.close();
  return { ns, ids };
}

const sunkNumbers = () => new Set(sink.received.map((r) => JSON.parse(r.body.toString()).n as number));

describe('amqp', () => {
  it('consumes and publishes with the broker restarted mid-stream, losing nothing', async () => {
    await publishIn(1, 100);
    await postEvents(1, 150);
    // mid-stream: messages keep arriving (and Ferry keeps consuming and publishing) while the broker restarts
    let restarting: Promise<void> | undefined;
    let queuedAtRestart = -1;
    const publisher = publishSteadily(101, 400, (n) => {
      if (n === 200 && !restarting) {
        queuedAtRestart = run.engine.queue.count({ flow: 'consume' });
        restarting = rabbit.restart();
      }
    });
    const poster = postEvents(151, 250);
    await waitFor(() => restarting !== undefined, 'the restart to begin', 30_000);
    await restarting;
    await Promise.all([publisher, poster]);
    expect(queuedAtRestart).toBeGreaterThan(100);
    expect(queuedAtRestart).toBeLessThan(400);
    await waitFor(() => sunkNumbers().size === 400, '400 consumed messages delivered', 60_000, 200);
    // each message queued once (redeliveries recognised by message id)
    expect(run.engine.queue.count({ flow: 'consume' })).toBe(400);
    await waitFor(() => run.engine.queue.count({ flow: 'publish', state: 'delivered' }) === 250, '250 published items confirmed', 60_000, 200);
    const out = await drainOut();
    expect(out.ns.size).toBe(250);
    const keys = new Set(run.engine.queue.list({ flow: 'publish', limit: 1000 }).map((i) => i.idem_key));
    for (const id of out.ids) expect(keys.has(id)).toBe(true);
    // the broker holds nothing unacknowledged for Ferry's queue
    const conn = await amqp.connect(rabbit.url);
    const ch = await conn.createChannel();
    expect((await ch.checkQueue('ferry-in')).messageCount).toBe(0);
    await conn.close();
  }, 120_000);

  it('check() names what is wrong, without the password', async () => {
    const bad = rabbit.url.replace('guest:guest', 'guest:wrong-password');
    const src = new AmqpSource(amqpSourceSchema.parse({ url: bad, queue: 'x' }), { configDir: '.', log: silentLogger });
    const r = await src.check();
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).toMatch(/authentication refused/);
    expect(JSON.stringify(r)).not.toContain('wrong-password');
    const down = new AmqpDestination(amqpDestinationSchema.parse({ url: `amqp://guest:pw@127.0.0.1:${await freePort()}`, queue: 'x' }));
    const d = await down.check();
    expect(d).toMatchObject({ ok: false });
    expect((d as { message: string }).message).toMatch(/connection refused/);
    expect((await new AmqpSource(amqpSourceSchema.parse({ url: rabbit.url, queue: 'ferry-in' }), { configDir: '.', log: silentLogger }).check()).ok).toBe(true);
  }, 60_000);
});
