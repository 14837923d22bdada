// Retry timing and the circuit breaker: a down API is paused and probed, not hammered.

/** Exponential backoff with full jitter: a random delay in [0, min(max, initial · 2^(attempt-1))]. */
export function fullJitterDelay(attempt: number, initialMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.floor(random() * ceiling);
}

const MAX_RETRY_AFTER_MS = 24 * 3600_000;

/** When the next attempt may run: the destination's Retry-After wins over our own backoff. */
export function nextAttemptAt(now: number, attempt: number, retry: { initialDelayMs: number; maxDelayMs: number }, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return now + Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS);
  return now + fullJitterDelay(attempt, retry.initialDelayMs, retry.maxDelayMs);
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  state: BreakerState = 'closed';
  private failures = 0;
  private cooldownMs: number;
  private reopenAt = 0;
  /** When the destination was first seen failing in this streak (for "unreachable since …"). */
  failingSince: number | undefined;
  private readonly threshold: number;
  private readonly baseCooldownMs: number;

  constructor(opts: { failureThreshold: number; cooldownMs: number }) {
    this.threshold = opts.failureThreshold;
    this.baseCooldownMs = opts.cooldownMs;
    this.cooldownMs = opts.cooldownMs;
  }

  /** How many new attempts may start now, given `inFlight` running ones. */
  permits(now: number, concurrency: number, inFlight: number): number {
    if (this.state === 'open') {
      if (now < this.reopenAt) return 0;
      this.state = 'half-open';
    }
    if (this.state === 'half-open') return inFlight === 0 ? 1 : 0;
    return Math.max(0, concurrency - inFlight);
  }

  /** Milliseconds until a probe may run (0 when attempts are allowed). */
  waitMs(now: number): number {
    return this.state === 'open' ? Math.max(0, this.reopenAt - now) : 0;
  }

  success(): void {
    this.state = 'closed';
    this.failures = 0;
    this.cooldownMs = this.baseCooldownMs;
    this.failingSince = undefined;
  }

  failure(now: number): void {
    this.failures++;
    this.failingSince ??= now;
    if (this.state === 'half-open') {
      this.cooldownMs = Math.min(this.cooldownMs * 2, 300_000);
      this.open(now);
    } else if (this.failures >= this.threshold) this.open(now);
  }

  private open(now: number): void {
    this.state = 'open';
    this.reopenAt = now + this.cooldownMs;
  }
}
