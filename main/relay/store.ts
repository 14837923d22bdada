// The relay's durable store: one SQLite file (WAL, synchronous=FULL, as the agent's queue), events in arrival
// order per queue. Webhooks arriving in the same turn of the event loop share one commit (one fsync), and
// each sender is answered only after its event is committed.
import crypto from 'node:crypto';
import path from 'node:path';
import { openDatabase, type Db } from '../engine/store/db.ts';
import { Batcher } from '../engine/batcher.ts';

const MIGRATIONS = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    queue       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL,
    size        INTEGER NOT NULL
  );
  CREATE INDEX events_queue ON events (queue, seq);
  CREATE INDEX events_age ON events (received_at);
  `,
];

export interface StoredEvent {
  seq: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface NewEvent {
  queue: string;
  headers: Record<string, string>;
  body: Buffer;
}

export class RelayStore {
  readonly db: Db;
  /** Names this store: cursors and event ids carry it, so a new store never takes an old cursor for its own. */
  readonly instance: string;
  private readonly writer: Batcher<NewEvent, number>;
  /** Waiting events and bytes per queue (for quotas), kept in step with the table. */
  private readonly usage = new Map<string, { events: number; bytes: number }>();
  private readonly stmts;

  constructor(dataDir: string) {
    this.db = openDatabase(path.join(dataDir, 'relay.db'), { migrations: MIGRATIONS });
    let instance = (this.db.prepare("SELECT value FROM meta WHERE key = 'instance'").get() as { value: string } | undefined)?.value;
    if (!instance) {
      instance = crypto.randomBytes(6).toString('hex');
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('instance', ?)").run(instance);
    }
    this.instance = instance;
    this.stmts = {
      insert: this.db.prepare('INSERT INTO events (queue, received_at, headers, body, size) VALUES (?, ?, ?, ?, ?)'),
      after: this.db.prepare('SELECT seq, headers, body FROM events WHERE queue = ? AND seq > ? ORDER BY seq LIMIT ?'),
      passed: this.db.prepare('SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM events WHERE queue = ? AND seq <= ?'),
      deletePassed: this.db.prepare('DELETE FROM events WHERE queue = ? AND seq <= ?'),
      old: this.db.prepare('SELECT queue, count(*) AS n, coalesce(sum(size), 0) AS bytes FROM events WHERE received_at < ? GROUP BY queue'),
      deleteOld: this.db.prepare('DELETE FROM events WHERE received_at < ?'),
    };
    for (const r of this.db.prepare('SELECT queue, count(*) AS n, coalesce(sum(size), 0) AS bytes FROM events GROUP BY queue').all() as Array<{ queue: string; n: number; bytes: number }>) {
      this.usage.set(r.queue, { events: r.n, bytes: r.bytes });
    }
    const insertAll = this.db.transaction((events: NewEvent[]) => {
      const now = Date.now();
      return events.map((e) => Number(this.stmts.insert.run(e.queue, now, JSON.stringify(e.headers), e.body, e.body.length).lastInsertRowid));
    });
    this.writer = new Batcher<NewEvent, number>((events) => insertAll(events), { maxBatch: 1000 });
  }

  usageOf(queue: string): { events: number; bytes: number } {
    return this.usage.get(queue) ?? { events: 0, bytes: 0 };
  }

  /** Stores an event; resolves with its sequence number once it is committed. Counted against the quota at once. */
  async add(event: NewEvent): Promise<number> {
    const u = this.usageOf(event.queue);
    this.usage.set(event.queue, { events: u.events + 1, bytes: u.bytes + event.body.length });
    try {
      return await this.writer.push(event);
    } catch (err) {
      const now = this.usageOf(event.queue);
      this.usage.set(event.queue, { events: now.events - 1, bytes: now.bytes - event.body.length });
      throw err;
    }
  }

  /** Deletes what a poll's cursor has passed (the agent committed it), then reads what follows. */
  take(queue: string, cursor: number, maxEvents: number, maxBytes: number): StoredEvent[] {
    if (cursor > 0) this.forget(queue, cursor);
    const rows = this.stmts.after.all(queue, cursor, maxEvents) as Array<{ seq: number; headers: string; body: Buffer }>;
    const out: StoredEvent[] = [];
    let bytes = 0;
    for (const r of rows) {
      if (out.length > 0 && bytes + r.body.length > maxBytes) break;
      bytes += r.body.length;
      out.push({ seq: r.seq, headers: JSON.parse(r.headers) as Record<string, string>, body: r.body });
    }
    return out;
  }

  private forget(queue: string, cursor: number): void {
    const passed = this.stmts.passed.get(queue, cursor) as { n: number; bytes: number };
    if (passed.n === 0) return;
    this.stmts.deletePassed.run(queue, cursor);
    const u = this.usageOf(queue);
    this.usage.set(queue, { events: u.events - passed.n, bytes: u.bytes - passed.bytes });
  }

  /** Drops events older than `before` (retention); returns how many per queue. */
  dropOlderThan(before: number): Map<string, number> {
    const dropped = new Map<string, number>();
    this.db.transaction(() => {
      for (const r of this.stmts.old.all(before) as Array<{ queue: string; n: number; bytes: number }>) {
        const u = this.usageOf(r.queue);
        this.usage.set(r.queue, { events: u.events - r.n, bytes: u.bytes - r.bytes });
        dropped.set(r.queue, r.n);
      }
      this.stmts.deleteOld.run(before);
    })();
    return dropped;
  }

  close(): void {
    this.writer.flush();
    this.db.close();
  }
}
