// What the queue writes per item on a real SQLite file: its WAL frames and nothing else. A statement that changes
// many rows (a lease, a batch of deliveries, a block of new items) journals the pages it changes so it can undo
// itself alone; SQLite spilled that journal to a temporary file past 64 KB, about 1 KB per item written (and
// read back) for nothing durable. Counted with the process's write calls (Linux: /proc/self/io).
import fs from 'node:fs';
import crypto from 'node:crypto';
import { expect, it } from 'vitest';
import { Queue, idempotencyKey, type NewRow, type Settlement } from '../../main/engine/store/queue.ts';
import { freshQueue } from '../helpers/queue-db.ts';

/** Bytes this process handed to write calls so far (undefined where /proc/self/io is missing). */
function bytesWritten(): number | undefined {
  try {
    return Number(/^wchar: (\d+)$/m.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
  } catch {
    return undefined;
  }
}

const canCount = bytesWritten() !== undefined;

function rows(from: number, n: number): NewRow[] {
  const body = crypto.randomBytes(512);
  const sha256 = crypto.hash('sha256', body, 'hex');
  return Array.from({ length: n }, (_, i) => ({ flow: 'q', idemKey: idempotencyKey('q', `item-${from + i}`, sha256), sourceKey: `item-${from + i}`, name: `item-${from + i}`, attributes: {}, size: body.length, sha256, inline: body }));
}

it.skipIf(!canCount)('enqueue, lease and delivery of 1,000 items each write their WAL frames and no statement journal (needs /proc/self/io)', () => {
  const { db, file } = freshQueue();
  const queue = new Queue(db);
  queue.enqueue(rows(0, 1000)); // the first batch lays out the tables
  const walBytes = () => fs.statSync(`${file}-wal`).size;
  /** Bytes written by `step` beyond the WAL's growth (the WAL does not restart here: no checkpoint runs). */
  const beyondWal = (step: () => void) => {
    const wal0 = walBytes();
    const w0 = bytesWritten()!;
    step();
    return { extra: bytesWritten()! - w0 - (walBytes() - wal0), wal: walBytes() - wal0 };
  };
  const phases = {
    enqueue: beyondWal(() => queue.enqueue(rows(1000, 1000))),
    lease: beyondWal(() => expect(queue.lease('q', 1000, 60_000)).toHaveLength(1000)),
    settle: beyondWal(() => queue.settle(queue.list({ state: 'inflight', limit: 1000 }).map((r): Settlement => ({ id: r.id, kind: 'delivered', afterPending: false, detail: 'HTTP 200' })))),
  };
  for (const [phase, { extra, wal }] of Object.entries(phases)) {
    expect(wal, phase).toBeGreaterThan(100 * 1024); // each wrote its pages (with 4 KB pages, well over 25 frames)
    expect(extra, `${phase}: bytes written beyond the WAL`).toBeLessThan(4096);
  }
});
