// How a flow turns what its source emitted into queue rows, and a leased row back into what its destination
// sends: the idempotency key (flow + source identity + content hash), the FIFO group, the outgoing item.
import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { NewItem, OutgoingItem } from '../../connectors/contract.ts';
import { idempotencyKey, type LeasedItem, type NewRow, type Queue } from './store/queue.ts';
import type { ContentStore, StoredBody } from './store/content.ts';
import { readBlocks } from './store/file-blocks.ts';

/** A leased row; one leased at intake keeps its inline body, so delivery need not read it back. */
export type LeasedRow = LeasedItem & { inline?: Buffer };

/** The queue row of a stored item; its idempotency key is flow + source identity + content hash. */
export function rowFor(flow: string, fifoBy: string | undefined, item: NewItem, body: StoredBody, leaseUntil?: number): NewRow {
  return {
    flow,
    idemKey: idempotencyKey(flow, item.sourceKey, body.sha256),
    sourceKey: item.sourceKey,
    name: item.name,
    attributes: item.attributes ?? {},
    size: body.size,
    sha256: body.sha256,
    inline: body.inline,
    bodyFile: body.file,
    group: groupOf(fifoBy, item, body),
    leaseUntil,
  };
}

/** The FIFO group of an item under `fifo-by`: an attribute, else a field of its JSON body, else the source's group. */
function groupOf(field: string | undefined, item: NewItem, body: StoredBody): string | undefined {
  if (!field) return item.group;
  const attr = item.attributes?.[field];
  if (attr !== undefined && attr !== null) return String(attr);
  if (body.inline && body.inline.length > 0 && (body.inline[0] === 0x7b || body.inline[0] === 0x20 || body.inline[0] === 0x0a)) {
    try {
      let v: unknown = JSON.parse(body.inline.toString('utf8'));
      for (const k of field.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
      if (v !== undefined && v !== null && typeof v !== 'object') return String(v);
    } catch {
      // not JSON: the item falls into the group of items without the field
    }
  }
  return item.group ?? '';
}

/** Bodies above this size are read for sending in large blocks. */
const LARGE_BODY_BYTES = 8 * 1024 * 1024;

/** A stored body's file as a stream: a large one in 1 MB reads (a 1 GB file: 1,000 reads instead of 16,000). */
function openBodyFile(file: string, size: number): Readable {
  return fs.createReadStream(file, { highWaterMark: size > LARGE_BODY_BYTES ? 1024 * 1024 : 64 * 1024 });
}

/** What the destination sends: the row's identity and a body it can open as a stream or read whole. */
export function outgoingItem(row: LeasedRow, attributes: Record<string, any>, content: ContentStore, queue: Queue): OutgoingItem {
  const file = row.body_file;
  const inline = () => row.inline ?? queue.body(row.id) ?? Buffer.alloc(0);
  return {
    id: row.id,
    flow: row.flow,
    name: row.name,
    idempotencyKey: row.idem_key,
    attributes,
    size: row.size,
    sha256: row.sha256,
    attempt: row.attempts,
    openBody: () => (file ? openBodyFile(content.pathOf(file), row.size) : Readable.from([inline()])),
    readBody: async () => (file ? fs.promises.readFile(content.pathOf(file)) : inline()),
    bodyFile: file ? content.pathOf(file) : undefined,
    bodyBlocks: file ? () => readBlocks(content.pathOf(file), row.size) : undefined,
  };
}

/** The attributes a processed file had when its source emitted it (kept on each of its parts). */
export function parentAttributes(attrs: Record<string, any>): Record<string, any> {
  try {
    if (typeof attrs.parentAttributes === 'string') return JSON.parse(attrs.parentAttributes);
  } catch {
    // fall through: the part's own attributes carry the parent's too
  }
  return attrs;
}
