// The queue as a UI sees it: items listed with filters and paging, one item with its attempts, its body,
// retry and discard. Used by EngineApi (a running engine) and StoreApi (the database alone).
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { ContentStore } from '../store/content.ts';
import type { ItemFilter, ItemSummary, Queue } from '../store/queue.ts';
import type { ItemDetail, ItemView, QueueActionRequest, QueueList, QueueQuery } from '../admin/types.ts';
import { FerryApiError } from './errors.ts';
import { itemState } from './input.ts';
import type { ItemBody, RecentDeadItem } from './ferry-api.ts';

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

export function itemView(i: ItemSummary): ItemView {
  return {
    id: i.id,
    flow: i.flow,
    state: i.state,
    name: i.name,
    size: i.size,
    sha256: i.sha256,
    idempotencyKey: i.idem_key,
    sourceKey: i.source_key,
    group: i.grp,
    attempts: i.attempts,
    nextAttemptAt: i.state === 'retrying' ? iso(i.next_at) : null,
    lastError: i.last_error,
    lastStatus: i.last_status,
    lastResponse: i.last_response,
    createdAt: new Date(i.created_at).toISOString(),
    updatedAt: new Date(i.updated_at).toISOString(),
    settledAt: iso(i.settled_at),
    afterDeliveryPending: i.after_pending === 1,
    attributes: JSON.parse(i.attrs),
  };
}

/** Refuses a flow name the config does not know, listing the ones it does. */
export function knownFlow(flows: string[], name: string, where = 'flow'): string {
  if (!flows.includes(name)) throw new FerryApiError(404, `${where}: no flow named "${name}" (flows: ${flows.join(', ') || 'none'})`);
  return name;
}

export function listQueue(queue: Queue, q: QueueQuery): QueueList {
  const limit = q.limit ?? 50;
  const offset = q.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new FerryApiError(400, `limit: expected a whole number from 1 to 1000, got ${limit}`, [{ path: 'limit', message: 'expected a whole number from 1 to 1000' }]);
  if (!Number.isInteger(offset) || offset < 0) throw new FerryApiError(400, `offset: expected a whole number from 0, got ${offset}`, [{ path: 'offset', message: 'expected a whole number from 0' }]);
  const f: ItemFilter = { flow: q.flow || undefined, state: itemState(q.state, 'state') };
  return { items: queue.list({ ...f, limit, offset }).map(itemView), total: queue.count(f), limit, offset };
}

export function showItem(queue: Queue, id: number): ItemDetail {
  const item = queue.list({ id })[0];
  if (!item) throw new FerryApiError(404, `no item ${id}`);
  const hasBody = item.body_file !== null || queue.body(id) !== undefined;
  return {
    item: itemView(item),
    attempts: queue.attemptsOf(id).map((a) => ({ at: new Date(a.at).toISOString(), outcome: a.outcome, error: a.error, status: a.status })),
    lastResponse: item.last_response,
    hasBody,
  };
}

export function itemBody(queue: Queue, content: ContentStore, id: number): ItemBody {
  const row = queue.get(id);
  if (!row) throw new FerryApiError(404, `no item ${id}`);
  const inline = row.body_file ? undefined : queue.body(id);
  if (!row.body_file && !inline) throw new FerryApiError(410, `item ${id} has no body any more (${row.state})`);
  return { name: row.name, size: row.size, open: () => (row.body_file ? fs.createReadStream(content.pathOf(row.body_file)) : Readable.from([inline!])) };
}

/** The filters a retry or discard request stands for (ids each with the request's flow and state). */
export function actionFilters(flows: string[], request: QueueActionRequest): ItemFilter[] {
  const flow = request.flow ? knownFlow(flows, request.flow, 'flow') : undefined;
  const state = itemState(request.state, 'state');
  if (!request.ids && !flow && !state) throw new FerryApiError(400, 'name the items: ids, flow or state (state "dead" takes every dead item)');
  return request.ids ? request.ids.map((id) => ({ id, flow, state })) : [{ flow, state }];
}

export function recentDead(queue: Queue, limit = 5): RecentDeadItem[] {
  return queue.list({ state: 'dead', limit }).map((i) => ({ flow: i.flow, itemId: i.id, name: i.name, message: i.last_error ?? 'could not be delivered' }));
}
