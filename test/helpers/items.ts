// An OutgoingItem as the engine hands it to a destination, for testing destinations directly.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import type { OutgoingItem } from '../../connectors/contract.ts';

export function outgoingItem(name: string, body: Buffer | string, extra: Partial<OutgoingItem> = {}): OutgoingItem {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return {
    id: 1,
    flow: 'f',
    name,
    idempotencyKey: crypto.createHash('sha256').update(`${name}\0`).update(bytes).digest('hex').slice(0, 40),
    attributes: {},
    size: bytes.length,
    sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
    attempt: 1,
    openBody: () => Readable.from([bytes]),
    readBody: async () => bytes,
    ...extra,
  };
}
