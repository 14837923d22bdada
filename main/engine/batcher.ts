// Group commit: many callers' writes join one SQLite transaction (one fsync) instead of one each, so
// durability (synchronous=FULL) does not cost throughput. A batch is written when it is full, or
// `maxDelayMs` after its first value arrived (0: on the next turn of the event loop).

export class Batcher<T, R> {
  private pending: Array<{ value: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private readonly apply: (values: T[]) => R[];
  private readonly maxBatch: number;
  private readonly maxDelayMs: number;

  /** `apply` runs one transaction for a batch and returns one result per value, in order. */
  constructor(apply: (values: T[]) => R[], opts: { maxBatch?: number; maxDelayMs?: number } = {}) {
    this.apply = apply;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxDelayMs = opts.maxDelayMs ?? 0;
  }

  push(value: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ value, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (this.timer === undefined) {
        this.timer = this.maxDelayMs > 0 ? setTimeout(() => this.flush(), this.maxDelayMs) : setImmediate(() => this.flush());
      }
    });
  }

  /** Writes whatever is pending now (also used at shutdown). */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = undefined;
    }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      const results = this.apply(batch.map((b) => b.value));
      batch.forEach((b, i) => b.resolve(results[i]));
    } catch (err) {
      batch.forEach((b) => b.reject(err));
    }
  }

  get size(): number {
    return this.pending.length;
  }
}
