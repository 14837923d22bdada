// Reading HTTP replies the same way in every HTTP-speaking connector (http, webhook, http-steps): bounded
// bodies, Retry-After, and one-line reasons for network failures.
import { delivered, type DeliveryOutcome } from '../contract.ts';
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
