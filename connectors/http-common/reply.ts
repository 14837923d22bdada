// Reading HTTP replies the same way in every HTTP-speaking connector (http, webhook, http-steps, http-poll):
// bounded bodies, Retry-After, and one-line reasons for network failures.
import { pipeline, type Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';
import { delivered, errorMessage, sizeText, type DeliveryOutcome } from '../contract.ts';
import { describeNetworkError } from '../net/errors.ts';

export const SNIPPET_BYTES = 2048;
export const REPLY_MAX_BYTES = 1024 * 1024;
export const RETRYABLE_STATUS = new Set([408, 425, 429]);

type Body = AsyncIterable<Buffer> & { destroy?: () => void };

/** Reads a response body up to max bytes (the rest is discarded). */
export async function readBounded(body: Body, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    if (n < max) chunks.push(chunk);
    n += chunk.length;
    if (n > max) break;
  }
  if (n > max) body.destroy?.();
  return Buffer.concat(chunks).subarray(0, max);
}

/** Default cap of a reply read whole (http-poll pages, http-steps answers), after decompression. */
export const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** What http-poll and http-steps accept: compressed replies are smaller on the wire and decompressed here. */
export const ACCEPT_ENCODING = 'gzip, deflate, br';

/** A reply that cannot be read whole: over its cap once decompressed, never ending, or in an unknown encoding. */
export class ReplyError extends Error {
  /** true: the same request will get the same answer (over the cap, unknown encoding); false: cut off in time. */
  readonly permanent: boolean;
  constructor(message: string, permanent: boolean) {
    super(message);
    this.name = 'ReplyError';
    this.permanent = permanent;
  }
}

function decoders(encoding: string | string[] | undefined): Transform[] | string {
  const names = (Array.isArray(encoding) ? encoding.join(',') : encoding ?? '')
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '' && e !== 'identity');
  const out: Transform[] = [];
  // applied in the order listed, so undone in reverse
  for (const name of names.reverse()) {
    // lenient flushing: a body cut short yields what arrived, and the read fails on its own terms
    if (name === 'gzip' || name === 'x-gzip') out.push(zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH }));
    else if (name === 'deflate') out.push(zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH }));
    else if (name === 'br') out.push(zlib.createBrotliDecompress());
    else return name;
  }
  return out;
}

/**
 * Reads a whole reply body, decompressing it per Content-Encoding. The cap counts decompressed bytes, so a
 * small compressed reply that expands without end (a gzip bomb) is cut at the cap, and `deadlineMs` cuts a
 * reply that keeps trickling. Throws ReplyError naming the cap (`capName`, e.g. "maxReplyBytes").
 */
export async function readReply(
  res: { headers: Record<string, string | string[] | undefined>; body: Readable },
  opts: { maxBytes: number; capName: string; deadlineMs: number; what: string; /** keep the first maxBytes instead of failing (error texts) */ truncate?: boolean },
): Promise<Buffer> {
  const decode = decoders(res.headers['content-encoding']);
  if (typeof decode === 'string') {
    res.body.destroy();
    throw new ReplyError(`${opts.what} is in Content-Encoding "${decode}", which Ferry cannot read (it asks for ${ACCEPT_ENCODING})`, true);
  }
  // pipeline passes an error of any stage on to the last one, where the loop below sees it
  const stream: Readable = decode.length === 0 ? res.body : (pipeline([res.body, ...decode], () => undefined) as unknown as Readable);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stream.destroy();
    res.body.destroy();
  }, opts.deadlineMs);
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const chunk of stream) {
      n += (chunk as Buffer).length;
      if (n > opts.maxBytes) {
        if (opts.truncate) {
          chunks.push((chunk as Buffer).subarray(0, (chunk as Buffer).length - (n - opts.maxBytes)));
          n = opts.maxBytes;
          stream.destroy();
          res.body.destroy();
          break;
        }
        throw new ReplyError(`${opts.what} is larger than ${sizeText(opts.maxBytes)}${decode.length > 0 ? ' once decompressed' : ''} (${opts.capName})`, true);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    stream.destroy();
    res.body.destroy();
    if (err instanceof ReplyError) throw err;
    if (timedOut) throw new ReplyError(`${opts.what} was not complete after ${opts.deadlineMs} ms (${sizeText(n)} read): cut off`, false);
    if ((err as NodeJS.ErrnoException).code?.startsWith('Z_') || (err as NodeJS.ErrnoException).code?.startsWith('ERR_BROTLI')) {
      throw new ReplyError(`${opts.what} does not decompress (${errorMessage(err)})`, true);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new ReplyError(`${opts.what} was not complete after ${opts.deadlineMs} ms (${sizeText(n)} read): cut off`, false);
  return Buffer.concat(chunks, n);
}

/** The first SNIPPET_BYTES of a reply as text, for the dead-letter record. */
export async function snippet(body: Body): Promise<string> {
  return (await readBounded(body, SNIPPET_BYTES)).toString('utf8');
}

/**
 * The outcome of a 2xx reply. Its body is kept (bounded, so a huge answer cannot exhaust memory) only when a
 * synchronous caller waits for it; otherwise it is drained.
 */
export async function deliveredReply(
  res: { statusCode: number; headers: Record<string, string | string[] | undefined>; body: Body & { dump(): Promise<void> } },
  wantsReply: boolean | undefined,
): Promise<DeliveryOutcome> {
  const status = res.statusCode;
  if (!wantsReply) {
    await res.body.dump();
    return delivered(`HTTP ${status}`);
  }
  const body = await readBounded(res.body, REPLY_MAX_BYTES).catch(() => Buffer.alloc(0));
  const contentType = res.headers['content-type'];
  return delivered(`HTTP ${status}`, { status, contentType: Array.isArray(contentType) ? contentType[0] : contentType, body });
}

/** Parses Retry-After (delta seconds or an HTTP date) into milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** One-line description of a network failure (the network facility's, shared by every HTTP client). */
export function networkReason(err: unknown, url: URL): string {
  return describeNetworkError(err, url);
}
