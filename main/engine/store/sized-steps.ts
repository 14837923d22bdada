// Background work on the queue's database (pruning, merging the dedupe index) runs as a series of short
// transactions on the engine's one thread, between intake's and deliveries' own. Each step is sized from the
// last: about `stepMs` of time and `stepFrames` WAL frames (a slow disk or a busy machine: smaller steps). A step
// is not fsynced on its own (synchronous=NORMAL): losing one to a power cut means doing it again; the next
// fsynced commit, or the checkpointer's cycle, makes it durable.
import type { WalPosition } from './checkpointer.ts';
import type { Db } from './db.ts';

export interface SizedStepsOptions {
  /** Where writers are in the WAL (Checkpointer.walPosition): steps are sized by the frames they write too. */
  walPosition?: () => WalPosition;
  stepMs: number;
  stepFrames: number;
  /** The first step's size, and the bounds (rows, keys: what the caller counts). */
  start: number;
  min: number;
  max: number;
}

export class SizedSteps {
  /** What the next step should take on (rows, keys). */
  size: number;
  /** Steps run so far, and the longest (ms): what intake may have waited on. */
  steps = 0;
  longestStepMs = 0;
  /** The most WAL frames one step wrote (when walPosition was given). */
  mostFrames = 0;
  private readonly opts: SizedStepsOptions;
  private readonly syncNormal;
  private readonly syncFull;

  constructor(db: Db, opts: SizedStepsOptions) {
    this.opts = opts;
    this.size = opts.start;
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
  }

  /** Runs one step (`write` runs its own transaction), unsynced, then sizes the next. */
  run<T>(write: () => T): T {
    const t0 = performance.now();
    const before = this.opts.walPosition?.();
    let result: T;
    this.syncNormal.run();
    try {
      result = write();
    } finally {
      this.syncFull.run();
    }
    // a WAL that restarted as the step began counts from its beginning
    const ms = performance.now() - t0;
    const after = this.opts.walPosition?.();
    const frames = !before || !after ? 0 : after.generation === before.generation ? after.frames - before.frames : after.frames;
    this.steps++;
    this.longestStepMs = Math.max(this.longestStepMs, ms);
    this.mostFrames = Math.max(this.mostFrames, frames);
    const { stepMs, stepFrames, min, max } = this.opts;
    if (ms > stepMs * 2 || frames > stepFrames * 2) this.size = Math.max(min, Math.floor(this.size / 2));
    else if (ms < stepMs / 2 && frames < stepFrames / 2) this.size = Math.min(max, this.size * 2);
    return result;
  }
}

/** A pass of sized steps, with what its steps took (for logs and benches). */
export abstract class SizedPass {
  protected readonly sized: SizedSteps;

  constructor(sized: SizedSteps) {
    this.sized = sized;
  }

  /** Steps run so far, and the longest (ms): what intake may have waited on. */
  get steps(): number {
    return this.sized.steps;
  }

  get longestStepMs(): number {
    return this.sized.longestStepMs;
  }

  /** The most WAL frames one step wrote (when walPosition was given). */
  get mostFrames(): number {
    return this.sized.mostFrames;
  }
}
