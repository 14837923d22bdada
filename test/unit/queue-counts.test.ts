// Queue.counts() reuses its result only while nothing was written: by this connection or by another one.
import path from 'node:path';
import { expect, it } from 'vitest';
import { openDatabase } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey, type NewRow } from '../../main/engine/store/queue.ts';
import { tempDir } from '../helpers/tmp.ts';

const row = (flow: string, i: number): NewRow => ({ flow, idemKey: idempotencyKey(flow, `k${i}`, 'x'), sourceKey: `k${i}`, name: `n${i}`, attributes: {}, size: 10, sha256: 'x', inline: Buffer.from('0123456789') });
const n = (q: Queue, flow: string, state: string) => q.counts().find((c) => c.flow === flow && c.state === state)?.n ?? 0;

it('counts follow writes from this connection and from another process', () => {
  const file = path.join(tempDir(), 'ferry.db');
  const a = new Queue(openDatabase(file));
  const b = new Queue(openDatabase(file));
  a.enqueue([row('f', 1), row('f', 2)]);
  expect(n(a, 'f', 'queued')).toBe(2);
  expect(n(a, 'f', 'queued')).toBe(2); // cached, same answer
  a.counts()[0].n = 99; // callers cannot corrupt the cache
  expect(n(a, 'f', 'queued')).toBe(2);
  a.enqueue([row('f', 3)]);
  expect(n(a, 'f', 'queued')).toBe(3);
  b.enqueue([row('g', 4)]);
  expect(n(a, 'g', 'queued')).toBe(1);
  const leased = b.lease('f', 1, 60_000);
  b.settle([{ id: leased[0].id, kind: 'dead', reason: 'x' }]);
  expect(n(a, 'f', 'dead')).toBe(1);
  expect(n(a, 'f', 'queued')).toBe(2);
  expect(a.counts().find((c) => c.flow === 'f' && c.state === 'queued')?.bytes).toBe(20);
});
