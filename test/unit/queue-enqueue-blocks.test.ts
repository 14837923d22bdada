// New items go into SQLite a block of rows per statement (store/item-inserts.ts), their keys looked up in the
// dedupe index's large level once per batch: the rows stored are exactly those written one by one, a bad row
// still names itself and leaves nothing of its batch, and duplicates inside a batch are still found.
import { expect, it } from 'vitest';
import { Queue, idempotencyKey, type NewRow } from '../../main/engine/store/queue.ts';
import { freshQueue } from '../helpers/queue-db.ts';
import { watchStatements } from '../helpers/statement-calls.ts';

function row(n: number, flow = 'f', extra: Partial<NewRow> = {}): NewRow {
  const body = Buffer.from(`body ${n}`);
  const sha256 = `sha-${n}`;
  return { flow, idemKey: idempotencyKey(flow, `k${n}`, sha256), sourceKey: `k${n}`, name: `file${n}.txt`, attributes: { n }, size: body.length, sha256, inline: body, ...extra };
}

const rowsFrom = (from: number, n: number, flow = 'f') => Array.from({ length: n }, (_, i) => row(from + i, flow));

it('1,000 new items take a few dozen statement calls and about 11 bound values each, not 3 calls and 19 values per item', () => {
  const { db } = freshQueue();
  const calls = watchStatements(db);
  const queue = new Queue(db);
  queue.enqueue(rowsFrom(0, 10)); // the small level is loaded at the first write
  calls.reset();
  const { ids } = queue.enqueue(rowsFrom(10, 1000));
  expect(ids).toHaveLength(1000);
  // blocks of 32: 31 of items and 31 of bodies, the last 8 rows one by one (16 statements), one key lookup
  expect(calls.calls).toBeLessThan(100);
  // per item: 9 values of its row (what a block's rows share is bound once), 2 of its body
  expect(calls.values / 1000).toBeLessThan(12);
  expect(db.prepare('SELECT COUNT(*) FROM items').pluck().get()).toBe(1010);
  expect(db.prepare('SELECT COUNT(*) FROM bodies').pluck().get()).toBe(1010);
});

it('rows written in blocks are exactly the rows written one at a time: mixed flows, states, groups, files and bodies', () => {
  // runs of one flow and state long enough for blocks, broken by rows that share nothing with their neighbours
  const rows: NewRow[] = [];
  for (let i = 0; i < 300; i++) {
    const flow = i < 100 || i >= 200 ? 'a' : 'b';
    const extra: Partial<NewRow> = {};
    if (i % 37 === 5) extra.leaseUntil = 90_000 + i;
    if (i % 11 === 3) extra.group = `g${i % 3}`;
    if (i % 13 === 7) (extra.bodyFile = `ab/${i}.bin`), (extra.inline = undefined);
    if (i % 17 === 2) extra.attributes = { name: 'für ✓', n: i, ok: true, none: null };
    rows.push(row(i, flow, extra));
  }
  const blocks = freshQueue();
  const one = freshQueue();
  const inBlocks = blocks.queue.enqueue(rows, [], 5000);
  const oneByOne = rows.map((r) => one.queue.enqueue([r], [], 5000).ids[0]);
  expect(inBlocks.ids).toEqual(oneByOne);
  const dump = (q: typeof blocks) => ({
    items: q.db.prepare('SELECT * FROM items ORDER BY id').all(),
    bodies: q.db.prepare('SELECT item_id, body FROM bodies ORDER BY item_id').all(),
    counts: q.queue.counts(),
  });
  const a = dump(blocks);
  expect(a.items).toHaveLength(300);
  expect(a.bodies).toHaveLength(300 - rows.filter((r) => !r.inline).length);
  expect(a).toEqual(dump(one));
  // the leased-at-intake rows are inflight with their own lease, the others queued
  const leased = blocks.queue.list({ state: 'inflight', limit: 1000 });
  expect(leased.map((r) => r.lease_until).sort()).toEqual(rows.flatMap((r) => (r.leaseUntil === undefined ? [] : [r.leaseUntil])).sort());
});

it('a bad row in the middle of a block names itself; nothing of its batch is stored and the batch goes in once fixed', () => {
  const { db, queue } = freshQueue();
  const rows = rowsFrom(0, 100);
  rows[40] = { ...rows[40], name: null as unknown as string };
  expect(() => queue.enqueue(rows, [{ flow: 'f', key: 'cursor', value: 100 }])).toThrow(/item null of flow f could not be stored: NOT NULL constraint failed: items\.name/);
  expect(db.prepare('SELECT COUNT(*) FROM items').pluck().get()).toBe(0);
  expect(db.prepare('SELECT COUNT(*) FROM bodies').pluck().get()).toBe(0);
  expect(db.prepare('SELECT COUNT(*) FROM source_state').pluck().get()).toBe(0);
  expect(queue.keys.pending).toBe(0);
  const fixed = queue.enqueue(rowsFrom(0, 100));
  expect(fixed.ids).toHaveLength(100);
  expect(fixed.duplicates).toHaveLength(0);
});

it('duplicates inside one batch are found whether the first copy is written yet or not', () => {
  const { queue } = freshQueue();
  // row 3 again 4 rows later (its block not written yet), row 10 again 400 rows later (written by then)
  const rows = [...rowsFrom(0, 7), row(3), ...rowsFrom(7, 400), row(10), row(500, 'other')];
  const r = queue.enqueue(rows);
  expect(r.ids).toHaveLength(408);
  expect(r.duplicates.map((d) => d.row.sourceKey)).toEqual(['k3', 'k10']);
  expect(r.duplicates.map((d) => d.existing)).toEqual([
    { id: r.ids[3], state: 'queued' },
    { id: r.ids[10], state: 'queued' },
  ]);
  // and in the next batch, from the rows
  const next = queue.enqueue(rowsFrom(0, 410));
  expect(next.ids).toHaveLength(3); // k407..k409
  expect(next.duplicates).toHaveLength(407);
});

it('a lease returns each item as its row now stands (flow, state and lease set from the lease itself, not read back)', () => {
  const { queue } = freshQueue();
  queue.enqueue([...rowsFrom(0, 40), ...rowsFrom(0, 5, 'other')], [], 1000);
  const leased = queue.lease('f', 25, 60_000, 2000);
  expect(leased).toHaveLength(25);
  for (const item of leased) {
    const stored = queue.get(item.id)! as unknown as Record<string, unknown>;
    expect(item).toEqual(Object.fromEntries(Object.keys(item).map((k) => [k, stored[k]])));
    expect(item).toMatchObject({ flow: 'f', state: 'inflight', lease_until: 62_000, attempts: 1 });
  }
});

it('a row whose attributes cannot be stored as JSON names itself too', () => {
  const { queue } = freshQueue();
  const rows = rowsFrom(0, 64);
  rows[50] = { ...rows[50], attributes: { n: 10n } as unknown as NewRow['attributes'] };
  expect(() => queue.enqueue(rows)).toThrow(/item "file50\.txt" of flow f could not be stored: .*BigInt/);
  expect(queue.count()).toBe(0);
});
