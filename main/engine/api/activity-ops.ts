// The activity log (deliveries, retries, dead items, problems, config changes) as pages and as a stream a
// client resumes from a cursor (Syncthing's event API): the event id is the cursor.
import type { Queue } from '../store/queue.ts';
import type { Db } from '../store/db.ts';
import type { ActivityEvent, ActivityReply } from '../admin/types.ts';
import { FerryApiError } from './errors.ts';

type EventRow = ReturnType<Queue['events']>[number];

export function eventView(e: EventRow): ActivityEvent {
  let data: Record<string, unknown> | null = null;
  if (e.data) {
    try {
      data = JSON.parse(e.data);
    } catch {
      data = { text: e.data };
    }
  }
  return { id: e.id, at: new Date(e.at).toISOString(), type: e.type, flow: e.flow, itemId: e.item_id, data };
}

export function latestEventId(db: Db): number {
  return db.prepare<[], { id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM events').get()!.id;
}

/** Events after `since`, or without it the latest `limit` events; oldest first. */
export function activity(db: Db, queue: Queue, q: { since?: number; limit?: number }): ActivityReply {
  const limit = q.limit ?? 200;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new FerryApiError(400, `limit: expected a whole number from 1 to 1000, got ${limit}`, [{ path: 'limit', message: 'expected a whole number from 1 to 1000' }]);
  const rows = q.since !== undefined ? queue.events(q.since, limit) : queue.events(Math.max(0, latestEventId(db) - limit), limit);
  const events = rows.map(eventView);
  return { events, cursor: events.length ? events[events.length - 1].id : (q.since ?? 0) };
}

const POLL_MS = 500;

/**
 * Every event after `since` (default: from now on), in order, to `listener`, looked for every 500 ms (the
 * events table is the one record every writer goes through). Ends when the database closes (the engine stopped).
 */
export function subscribe(db: Db, queue: Queue, since: number | undefined, listener: (e: ActivityEvent) => void, onEnd?: () => void): () => void {
  let cursor = since ?? latestEventId(db);
  let ended = false;
  const pump = () => {
    try {
      for (;;) {
        const rows = queue.events(cursor, 500);
        for (const r of rows) {
          cursor = r.id;
          listener(eventView(r));
        }
        if (rows.length < 500) break;
      }
    } catch {
      stop();
      onEnd?.();
    }
  };
  const timer = setInterval(pump, POLL_MS);
  const stop = () => {
    ended = true;
    clearInterval(timer);
  };
  queueMicrotask(() => {
    if (!ended) pump();
  });
  return stop;
}
