// Queues files' items into the engine in batches. A commit blocks the process while it syncs to disk, so a
// batch is worth waiting for: it goes out once it holds FULL items (with whatever else was read in the same
// turn of the event loop: a folder's window of synchronous reads goes out whole), MAX_WAIT_MS after its first
// item (a slow trickle of downloads still moves on), or when the take ends. One emit runs at a time, so the
// queue keeps the order the files were taken in.
import type { EmitResult, NewItem, SourceContext } from '../contract.ts';

/** Items that make a batch worth a commit at once. */
const FULL = 64;
/**
 * The first batch of a queue goes out at this many items, and each next one at twice as many up to FULL: the
 * first files of a take reach the destination while the rest are read, instead of after FULL of them.
 */
const FIRST = 4;
/** The longest an item waits for its batch to fill. */
const MAX_WAIT_MS = 1000;

export class EmitQueue<T extends { item: NewItem }> {
  /** Back pressure refused a batch: takers stop, the files stay where they are. */
  refused = false;
  private readonly ctx: SourceContext;
  private readonly settle: (result: EmitResult, entries: T[]) => void;
  private batch: T[] = [];
  /** Items that make the next batch go out at once (FIRST, doubling up to FULL). */
  private full = FIRST;
  private timer?: NodeJS.Timeout;
  private soon?: NodeJS.Immediate;
  private chain: Promise<void> = Promise.resolve();
  private error: unknown;

  constructor(ctx: SourceContext, settle: (result: EmitResult, entries: T[]) => void) {
    this.ctx = ctx;
    this.settle = settle;
  }

  add(t: T): void {
    this.batch.push(t);
    if (this.batch.length >= this.full) this.soon ??= setImmediate(() => this.flush());
    else this.timer ??= setTimeout(() => this.flush(), MAX_WAIT_MS);
  }

  /** Sends what is waiting now (after the emits before it). */
  private flush(): void {
    clearTimeout(this.timer);
    if (this.soon) clearImmediate(this.soon);
    this.timer = undefined;
    this.soon = undefined;
    if (this.batch.length === 0) return;
    const entries = this.batch;
    this.batch = [];
    this.full = Math.min(FULL, this.full * 2);
    this.chain = this.chain.then(async () => {
      if (this.error !== undefined) return;
      try {
        const result = await this.ctx.emit(entries.map((e) => e.item));
        if (result.refused) this.refused = true;
        this.settle(result, entries);
      } catch (err) {
        this.error = err;
      }
    });
  }

  /** Sends what is waiting and waits until every batch has been emitted and settled; throws an emit's error. */
  async drain(): Promise<void> {
    this.flush();
    await this.chain;
    if (this.error !== undefined) throw this.error;
  }
}
