// Group commit: many callers' writes join one SQLite transaction (one fsync) instead of one each, so
// durability (synchronous=FULL) does not cost throughput. A batch is written when it is full, or
// `maxDelayMs` after its first value arrived (0: on the next turn of the event loop).
// Batchers can ride on each other: when one flushes, the pending values of its riders are written in the
// same transaction (outcomes waiting 50 ms for their window go out with the next intake commit, say),
// and their callers are answered only once that transaction committed.

type Pending<T, R> = Array<{ value: T; resolve: (r: R) => void; reject: (e: unknown) => void }>;

/** Values taken out of a batcher to be written by someone else's transaction. */
export interface Taken<T> {
  /** The batcher the values were taken from. */
  from: Batcher<T, void>;
  values: T[];
  /** The transaction committed: answer the callers. */
  done(): void;
  /** That transaction failed (perhaps for its own values): the values go back to wait for their own commit. */
  putBack(): void;
}

export class Batcher<T, R> {
  private pending: Pending<T, R> = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly apply: (values: T[], riders: Array<Taken<unknown>>) => R[];
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;
  private riders: Array<Batcher<unknown, void>> = [];

  /**
   * `apply` runs one transaction for a batch and returns one result per value, in order; it writes the riders'
   * values (see ride()) inside that same transaction.
   */
  constructor(apply: (values: T[], riders: Array<Taken<unknown>>) => R[], opts: { maxBatch?: number; maxDelayMs?: number } = {}) {
    this.apply = apply;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 0;
  }

  /** Lets `other`'s pending values join this batcher's transactions (their results must be void). */
  ride(other: Batcher<any, void>): void {
    this.riders.push(other);
  }

  push(value: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ value, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else this.arm();
    });
  }

  private arm(): void {
    if (this.timer !== undefined || this.pending.length === 0) return;
    this.timer = this.maxDelayMs > 0 ? setTimeout(() => this.flush(), this.maxDelayMs) : setImmediate(() => this.flush());
  }

  /** Takes everything pending, for a transaction run by another batcher. */
  take(): Taken<T> {
    this.clearTimer();
    const batch = this.pending as Pending<T, void>;
    this.pending = [];
    return {
      from: this as unknown as Batcher<T, void>,
      values: batch.map((b) => b.value),
      done: () => batch.forEach((b) => b.resolve()),
      putBack: () => {
        this.pending = [...batch, ...this.pending] as Pending<T, R>;
        this.arm();
      },
    };
  }

  /** Writes whatever is pending now (also used at shutdown). */
  flush(): void {
    this.clearTimer();
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const riders = this.riders.filter((r) => r.size > 0).map((r) => r.take());
    try {
      const results = this.apply(batch.map((b) => b.value), riders);
      riders.forEach((r) => r.done());
      batch.forEach((b, i) => b.resolve(results[i]));
    } catch (err) {
      riders.forEach((r) => r.putBack());
      batch.forEach((b) => b.reject(err));
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as NodeJS.Timeout);
    clearImmediate(this.timer as NodeJS.Immediate);
    this.timer = undefined;
  }

  get size(): number {
    return this.pending.length;
  }
}
