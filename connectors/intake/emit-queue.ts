// Queues files' items into the engine in batches: bodies read in the same turn of the event loop go out in one
// emit (one transaction), and one emit runs at a time, so the queue keeps the order the files were taken in.
// While an emit runs, what is read meanwhile waits and goes out together: batches grow when commits are slow.
import type { EmitResult, NewItem, SourceContext } from '../contract.ts';

export class EmitQueue<T extends { item: NewItem }> {
  /** Back pressure refused a batch: takers stop, the files stay where they are. */
  refused = false;
  private readonly ctx: SourceContext;
  private readonly settle: (result: EmitResult, entries: T[]) => void;
  private batch: T[] = [];
  private queued = false;
  private chain: Promise<void> = Promise.resolve();
  private error: unknown;

  constructor(ctx: SourceContext, settle: (result: EmitResult, entries: T[]) => void) {
    this.ctx = ctx;
    this.settle = settle;
  }

  add(t: T): void {
    this.batch.push(t);
    if (this.queued) return;
    this.queued = true;
    this.chain = this.chain.then(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve)); // bodies read in this turn join
      this.queued = false;
      const entries = this.batch;
      this.batch = [];
      if (entries.length === 0 || this.error !== undefined) return;
      try {
        const result = await this.ctx.emit(entries.map((e) => e.item));
        if (result.refused) this.refused = true;
        this.settle(result, entries);
      } catch (err) {
        this.error = err;
      }
    });
  }

  /** Waits until everything added has been emitted and settled; throws an emit's error. */
  async drain(): Promise<void> {
    while (this.queued) await this.chain;
    await this.chain;
    if (this.error !== undefined) throw this.error;
  }
}
