// Which failures a retry can cure. Ferry retries what may pass next time (reading a file or a network
// stream, its own disk or database busy or full, a stop in the middle) and sends the rest to dead at once
// with its reason: input that fails to parse, convert or format fails the same way on every attempt, and
// retrying it forever only hides it.
import { errorMessage, type DeliveryOutcome } from '../../connectors/contract.ts';

/** A failure of I/O or of Ferry's own storage, to be retried whatever the error looks like. */
export class TransientError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

// errno codes (ENOENT, EIO, ENOSPC, ECONNRESET…), SQLite's (SQLITE_BUSY, SQLITE_FULL…), undici's network
// errors, a stream cut short
const TRANSIENT_CODE = /^(E[A-Z0-9]+|SQLITE_[A-Z_]+|UND_ERR_[A-Z_]+|ERR_STREAM_PREMATURE_CLOSE|ERR_SOCKET_[A-Z_]+)$/;

/** True when the failure (or one it was caused by) is I/O, the network, storage or an interruption. */
export function isTransient(err: unknown): boolean {
  let e: unknown = err;
  for (let k = 0; e && k < 5; k++, e = (e as { cause?: unknown }).cause) {
    if (e instanceof TransientError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_CODE.test(code)) return true;
    if ((e as Error).name === 'AbortError') return true;
  }
  return false;
}

/**
 * Intake (parsing and transforming a file): anything that is not I/O or storage comes from the data and
 * would come again: permanent.
 */
export function intakeFailureIsPermanent(err: unknown): boolean {
  return !isTransient(err);
}

/**
 * Delivery: a destination that throws (rather than answering retry or dead) is retried, bounded by
 * retry.maxAttempts, unless the error can only come from the item itself: too deep or too large to encode
 * (RangeError), or a body that does not parse (SyntaxError).
 */
export function outcomeOfThrown(err: unknown): DeliveryOutcome {
  const reason = errorMessage(err);
  if (!isTransient(err) && (err instanceof RangeError || err instanceof SyntaxError)) {
    return { kind: 'dead', reason: `${reason} (the item fails the same way on every attempt)` };
  }
  return { kind: 'retry', reason };
}
