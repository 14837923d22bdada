// The queue's kept counts (item_counts) against a real count of the items after every kind of write; the
// dead-items page across flows; pruning in short steps with intake in between; the migration that fills the
// counts of an existing database.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { migrations, openDatabase, type Db } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey, ITEM_STATES, type ItemState, type NewRow, type Settlement } from '../../main/engine/store/queue.ts';
import { tempDir } from '../helpers/tmp.ts';
import { closeAfterTest, freshQueue } from '../helpers/queue-db.ts';

function row(n: number, flow: string, extra: Partial<NewRow> = {}): NewRow {
  const body = Buffer.from(`body ${n} `.repeat(1 + (n % 7)));
  const sha256 = `sha-${n}`;
  return { flow, idemKey: idempotencyKey(flow, `k${n}`, sha256), sourceKey: `k${n}`, name: `file${n}.txt`, attributes: { n }, size: body.length, sha256, inline: body, ...extra };
}

/** What a real count of the items says, in the shape of Queue.counts(). */
function counted(db: Db) {
  return db.prepare('SELECT flow, state, COUNT(*) AS n, SUM(size) AS bytes FROM items GROUP BY flow, state ORDER BY flow, state').all();
}
const kept = (queue: Queue) => queue.counts().sort((a, b) => a.flow.localeCompare(b.flow) || a.state.localeCompare(b.state));

/** A small deterministic random sequence (the same every run). */
function rng(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

describe('kept item counts', () => {
  it('match a real count after every kind of write, in every ordering', () => {
    const { db, queue } = freshQueue();
    const random = rng(7);
    const flows = ['plain', 'ordered', 'grouped'];
    const ordering = { plain: 'none', ordered: 'fifo', grouped: 'group' } as const;
    let n = 0;
    let now = 1000;
    const seen = new Set<ItemState>();
    const check = (what: string) => {
      const real = counted(db) as Array<{ state: ItemState }>;
      expect(kept(queue), what).toEqual(real);
      for (const c of real) seen.add(c.state);
    };
    for (let round = 0; round < 40; round++) {
      now += 1000;
      const flow = flows[Math.floor(random() * flows.length)];
      const op = Math.floor(random() * 9);
      if (op <= 2) {
        const rows = Array.from({ length: 1 + Math.floor(random() * 20) }, () => row(n++, flow, { group: flow === 'grouped' ? `g${n % 3}` : undefined }));
        rows.push(rows[0]); // a duplicate in the batch changes nothing
        if (random() < 0.3) rows.push({ ...row(n++, flow), leaseUntil: now + 60_000 }); // inserted already leased
        queue.enqueue(rows, [], now);
      } else if (op === 3) {
        queue.enqueueDead([{ ...row(n++, flow), reason: 'bad record' }], now);
      } else if (op <= 6) {
        const leased = queue.lease(flow, 1 + Math.floor(random() * 10), 60_000, now, ordering[flow as keyof typeof ordering]);
        const outcomes: Settlement[] = leased.map((r, i) => {
          const pick = (r.id + i + round) % 5;
          if (pick === 0) return { id: r.id, kind: 'retry', nextAt: now + 500, reason: 'HTTP 503' };
          if (pick === 1) return { id: r.id, kind: 'dead', reason: 'HTTP 400' };
          if (pick === 2) return { id: r.id, kind: 'release' };
          if (pick === 3) return { id: r.id, kind: 'delivered', afterPending: false, detail: 'with a detail' };
          return { id: r.id, kind: 'delivered', afterPending: false, item: { flow, name: r.name } };
        });
        // some outcomes twice: the second finds the item settled already and must not count it again
        queue.settle([...outcomes, ...outcomes.slice(0, 2)], now);
      } else if (op === 7) {
        if (random() < 0.5) queue.retry({ flow, state: 'dead' }, now);
        else queue.discard({ flow, state: random() < 0.5 ? 'retrying' : 'queued' }, now);
      } else {
        queue.lease(flow, 3, 10, now, ordering[flow as keyof typeof ordering]);
        queue.requeueExpired(now + 100);
        queue.prune(now - 3000, 0, 0);
      }
      check(`round ${round}`);
    }
    queue.lease('plain', 5, 60_000, now);
    expect(queue.requeueAllInflight(now)).toBeGreaterThan(0);
    check('after start-up requeue');
    // every state was reached, so the checks covered every transition's bookkeeping
    expect([...seen].sort()).toEqual([...ITEM_STATES].sort());
    // count() and backlog() answer from the kept counts
    for (const flow of flows) {
      const real = db.prepare("SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM items WHERE flow = ? AND state IN ('queued','inflight','retrying')").get(flow);
      expect(queue.backlog(flow)).toEqual(real);
      expect(queue.count({ flow, state: 'dead' })).toBe((db.prepare("SELECT COUNT(*) AS n FROM items WHERE flow = ? AND state = 'dead'").get(flow) as { n: number }).n);
    }
    expect(queue.count()).toBe((db.prepare('SELECT COUNT(*) AS n FROM items').get() as { n: number }).n);
  });

  it('a failed batch leaves the counts as they were', () => {
    const { db, queue } = freshQueue();
    queue.enqueue([row(1, 'f')]);
    const broken = { ...row(2, 'f'), size: null as unknown as number };
    expect(() => queue.enqueue([row(3, 'f'), broken])).toThrow(/could not be stored/);
    expect(kept(queue)).toEqual(counted(db));
    expect(queue.count({ flow: 'f' })).toBe(1);
  });

  it('the migration counts the items of a database written before it', () => {
    const file = path.join(tempDir(), 'ferry.db');
    const old = new Database(file);
    migrations.slice(0, 4).forEach((m) => (typeof m === 'string' ? old.exec(m) : m(old)));
    old.pragma('user_version = 4');
    const insert = old.prepare(`INSERT INTO items (flow, state, idem_key, source_key, name, size, sha256, created_at, updated_at) VALUES (?, ?, ?, 'k', 'n', ?, 's', 1, 1)`);
    insert.run('a', 'queued', 'k1', 10);
    insert.run('a', 'queued', 'k2', 5);
    insert.run('a', 'dead', 'k3', 7);
    insert.run('b', 'delivered', 'k4', 1);
    old.close();
    const db = closeAfterTest(openDatabase(file));
    expect(kept(new Queue(db))).toEqual([
      { flow: 'a', state: 'dead', n: 1, bytes: 7 },
      { flow: 'a', state: 'queued', n: 2, bytes: 15 },
      { flow: 'b', state: 'delivered', n: 1, bytes: 1 },
    ]);
  });
});

describe('long queues', () => {
  it('lists one state across flows newest first, as a plain scan would, page by page', () => {
    const { db, queue } = freshQueue();
    let n = 0;
    for (let round = 0; round < 30; round++) {
      for (const flow of ['a', 'b', 'c']) {
        const { ids } = queue.enqueue([row(n++, flow), row(n++, flow)], [], round);
        queue.lease(flow, 2, 60_000, round);
        queue.settle(ids.map((id, i): Settlement => ((round + i) % 3 === 0 ? { id, kind: 'dead', reason: 'no' } : { id, kind: 'delivered', afterPending: false })), round);
      }
    }
    const plain = (limit: number, offset: number) => db.prepare("SELECT id FROM items WHERE state = 'dead' ORDER BY id DESC LIMIT ? OFFSET ?").all(limit, offset).map((r) => (r as { id: number }).id);
    for (const [limit, offset] of [[5, 0], [7, 3], [50, 0], [10, 55], [10, 500]]) {
      expect(queue.list({ state: 'dead', limit, offset }).map((r) => r.id), `limit ${limit} offset ${offset}`).toEqual(plain(limit, offset));
    }
    expect(queue.list({ state: 'dead', limit: 5 }).every((r) => r.state === 'dead' && r.last_error === 'no')).toBe(true);
    expect(queue.list({ state: 'queued' })).toEqual([]);
    expect(queue.count({ state: 'dead' })).toBe(plain(1000, 0).length);
  });

  it('prunes in short steps that intake can run between, keeping every key as a fingerprint', () => {
    const { db, queue } = freshQueue();
    const N = 3000;
    for (let start = 0; start < N; start += 500) {
      const { ids } = queue.enqueue(Array.from({ length: 500 }, (_, i) => row(start + i, 'f')), [], 0);
      queue.lease('f', 500, 60_000, 0);
      queue.settle(ids.map((id) => ({ id, kind: 'delivered', afterPending: false })), 1000);
    }
    queue.addEvent('old', 'f', null, {}, 500);
    const pass = queue.pruneSteps({ settledBefore: 5000, fingerprintsBefore: 0, eventsBefore: 2000 });
    let steps = 0;
    let pruned = 0;
    let later = N;
    for (;;) {
      const step = pass.step();
      steps++;
      pruned += step.items;
      // intake between steps: new items go in, and a pruned key is already a duplicate
      const fresh = queue.enqueue([row(later++, 'f'), row(0, 'f')], [], 6000);
      expect(fresh.ids).toHaveLength(1);
      expect(fresh.duplicates).toHaveLength(1);
      if (step.done) break;
      expect(steps).toBeLessThan(1000);
    }
    expect(pruned).toBe(N);
    expect(steps).toBeGreaterThan(2); // more than one transaction for the items
    expect(queue.count({ state: 'delivered' })).toBe(0);
    expect(queue.count({ state: 'queued' })).toBe(later - N);
    expect(db.prepare('SELECT COUNT(*) AS n FROM fingerprints').get()).toEqual({ n: N });
    // delivered events (settled at 1000) and the old one went; the ones of the fresh items stay
    expect(db.prepare('SELECT COUNT(*) AS n FROM events WHERE at < 2000').get()).toEqual({ n: 0 });
    expect(kept(queue)).toEqual(counted(db));
  });

  it('expired fingerprints go in id order over several steps, the rest stay', () => {
    const { db, queue } = freshQueue();
    const insert = db.prepare('INSERT INTO fingerprints (flow, idem_key, settled_at) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 20_000; i++) insert.run(i % 2 ? 'a' : 'b', idempotencyKey('x', String(i), ''), i % 4 === 0 ? 10 : 10_000);
    })();
    const pass = queue.pruneSteps({ settledBefore: 0, fingerprintsBefore: 100, eventsBefore: 0 });
    let steps = 0;
    while (!pass.step().done) steps++;
    expect(steps).toBeGreaterThan(2);
    expect(db.prepare('SELECT COUNT(*) AS n FROM fingerprints').get()).toEqual({ n: 15_000 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM fingerprints WHERE settled_at < 100').get()).toEqual({ n: 0 });
  });

  it('the next due time comes from the retries index, and is now while anything is queued', () => {
    const { queue } = freshQueue();
    expect(queue.nextRetryAt('f')).toBeUndefined();
    const { ids } = queue.enqueue([row(1, 'f'), row(2, 'f')], [], 0);
    queue.lease('f', 2, 60_000, 0);
    queue.settle([{ id: ids[0], kind: 'retry', nextAt: 9000, reason: 'x' }, { id: ids[1], kind: 'retry', nextAt: 7000, reason: 'x' }], 0);
    expect(queue.nextRetryAt('f')).toBe(7000);
    queue.enqueue([row(3, 'f')], [], 0);
    expect(queue.nextRetryAt('f')).toBe(0);
    expect(queue.lease('f', 5, 60_000, 7500).map((r) => r.id).sort()).toEqual([ids[1], 3].sort()); // the due retry and the queued item
  });
});
