// Group commit: many callers' writes join one SQLite transaction (one fsync) instead of one each, so
// durability (synchronous=FULL) does not cost throughput.

export class Batcher<T, R> {
  private pending: Array<{ value: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private readonly apply: (values: T[]) => R[];
  private readonly maxBatch: number;

  /** `apply` runs one transaction for a batch and returns one result per value, in order. */
  constructor(apply: (values: T[]) => R[], maxBatch = 1000) {
    this.apply = apply;
    this.maxBatch = maxBatch;
  }

  push(value: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ value, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.flushNow();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flushNow());
      }
    });
  }

  private flushNow(): void {
    this.scheduled = false;
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

  /** Writes whatever is pending now (used at shutdown). */
  flush(): void {
    this.flushNow();
  }

  get size(): number {
    return this.pending.length;
  }
}
