// Delivery outcomes with a detail ("HTTP 200", as the HTTP destination reports) are applied set-wise like those
// without: one statement per group of the same detail, not two per item; each item's event keeps its detail.
import { expect, it } from 'vitest';
import { Queue, idempotencyKey, type NewRow, type Settlement } from '../../main/engine/store/queue.ts';
import { freshQueue } from '../helpers/queue-db.ts';
import { watchStatements } from '../helpers/statement-calls.ts';

function row(n: number): NewRow {
  const body = Buffer.from(`body ${n}`);
  return { flow: 'f', idemKey: idempotencyKey('f', `k${n}`, `sha-${n}`), sourceKey: `k${n}`, name: `file${n}.txt`, attributes: { n }, size: body.length, sha256: `sha-${n}`, inline: body };
}

it('delivered outcomes with details are written per detail, each event with its own detail and name', () => {
  const { db } = freshQueue();
  const queue = new Queue(db);
  const { ids } = queue.enqueue(Array.from({ length: 7 }, (_, i) => row(i)), [], 1000);
  const leased = queue.lease('f', 10, 60_000, 2000);
  expect(leased).toHaveLength(7);
  // the per-item statement (the real one, counted)
  const stmts = (queue as unknown as { stmts: { delivered: { get: (...a: unknown[]) => unknown } } }).stmts;
  const perItem = stmts.delivered.get.bind(stmts.delivered);
  let perItemCalls = 0;
  stmts.delivered.get = (...a: unknown[]) => (perItemCalls++, perItem(...a));
  const settlements: Settlement[] = [
    { id: ids[0], kind: 'delivered', afterPending: true, detail: 'HTTP 200' },
    { id: ids[1], kind: 'delivered', afterPending: true, detail: 'HTTP 201' },
    { id: ids[2], kind: 'delivered', afterPending: true, detail: 'HTTP 200' },
    { id: ids[3], kind: 'delivered', afterPending: false, detail: 'HTTP 200' },
    { id: ids[4], kind: 'delivered', afterPending: true },
    { id: ids[5], kind: 'delivered', afterPending: true, detail: 'HTTP 200', reply: { status: 200, body: Buffer.from('{"ok":1}') } },
    { id: ids[6], kind: 'retry', nextAt: 9e12, reason: 'HTTP 503' },
  ];
  queue.settle(settlements, 3000);
  // only the delivery whose reply is kept went item by item
  expect(perItemCalls).toBe(1);
  for (let i = 0; i < 6; i++) expect(queue.get(ids[i])!.state, `item ${i}`).toBe('delivered');
  expect(queue.get(ids[0])!.after_pending).toBe(1);
  expect(queue.get(ids[3])!.after_pending).toBe(0);
  expect(queue.get(ids[6])!.state).toBe('retrying');
  const events = new Map(queue.events(0).filter((e) => e.type === 'delivered').map((e) => [e.item_id, JSON.parse(e.data!)]));
  expect(events.size).toBe(6);
  expect(events.get(ids[0])).toEqual({ name: 'file0.txt', detail: 'HTTP 200', nextAt: null });
  expect(events.get(ids[1])).toEqual({ name: 'file1.txt', detail: 'HTTP 201', nextAt: null });
  expect(events.get(ids[3])).toEqual({ name: 'file3.txt', detail: 'HTTP 200', nextAt: null });
  expect(events.get(ids[4])).toEqual({ name: 'file4.txt', detail: null, nextAt: null });
  expect(events.get(ids[5])).toEqual({ name: 'file5.txt', detail: 'HTTP 200', nextAt: null });
  // counted as delivered: nothing waits
  expect(queue.backlog('f')).toEqual({ n: 1, bytes: row(6).size });
});

it('a batch of deliveries moves only the items still in flight: no event, no count for the others; no RETURNING pass', () => {
  const { db } = freshQueue();
  const calls = watchStatements(db);
  const queue = new Queue(db);
  const { ids } = queue.enqueue([...Array.from({ length: 6 }, (_, i) => row(i)), { ...row(6), flow: 'g', idemKey: idempotencyKey('g', 'k6', 'sha-6') }], [], 1000);
  const leased = [...queue.lease('f', 10, 60_000, 2000), ...queue.lease('g', 10, 60_000, 2000)];
  expect(leased).toHaveLength(7);
  // two of them are no longer in flight: one given back, one delivered already
  queue.settle([{ id: ids[1], kind: 'release' }], 2500);
  queue.settle([{ id: ids[2], kind: 'delivered', afterPending: false, detail: 'HTTP 200' }], 2600);
  calls.reset();
  queue.settle(ids.map((id): Settlement => ({ id, kind: 'delivered', afterPending: false, detail: 'HTTP 201' })), 3000);
  // the SQL a plain delivery batch runs reads no row back through a temporary table
  expect(calls.sql.filter((sql) => /RETURNING/i.test(sql))).toEqual([]);
  expect(queue.get(ids[1])!.state).toBe('queued');
  const second = queue.events(0).filter((e) => e.type === 'delivered' && JSON.parse(e.data!).detail === 'HTTP 201');
  expect(second.map((e) => e.item_id)).toEqual([ids[0], ids[3], ids[4], ids[5], ids[6]]);
  expect(second.map((e) => e.flow)).toEqual(['f', 'f', 'f', 'f', 'g']);
  expect(queue.get(ids[2])!.settled_at).toBe(2600);
  const counts = Object.fromEntries(queue.counts().map((c) => [`${c.flow}:${c.state}`, [c.n, c.bytes]]));
  expect(counts).toEqual({ 'f:queued': [1, row(1).size], 'f:delivered': [5, 5 * row(0).size], 'g:delivered': [1, row(6).size] });
  // a lease reads its rows and updates them by id: no RETURNING either
  calls.reset();
  expect(queue.lease('f', 10, 60_000, 4000).map((r) => r.id)).toEqual([ids[1]]);
  expect(calls.sql.filter((sql) => /RETURNING/i.test(sql))).toEqual([]);
  expect(queue.counts().find((c) => c.flow === 'f' && c.state === 'inflight')).toEqual({ flow: 'f', state: 'inflight', n: 1, bytes: row(1).size });
});
