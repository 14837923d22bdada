// Small HTTP plumbing for the admin API: replies with a status, JSON request bodies.
import crypto from 'node:crypto';
import type http from 'node:http';
import { FerryApiError } from '../api/errors.ts';

/** A reply with a status other than 200 or extra headers (a handler may also return plain data: 200 JSON). */
export class Reply<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Record<string, string>;
  constructor(status: number, body: T, headers: Record<string, string> = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** Returned by handlers that wrote the response themselves (downloads, the event stream). */
export const STREAMED = Symbol('streamed');

const MAX_BODY = 2 * 1024 * 1024;

/** Reads a JSON request body (at most 2 MB); an empty body is undefined. */
export async function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > MAX_BODY) throw new FerryApiError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  if (n === 0) return undefined;
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) throw new FerryApiError(415, `expected Content-Type application/json, got ${JSON.stringify(type || 'none')}`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new FerryApiError(400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Compares two tokens in constant time. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}
