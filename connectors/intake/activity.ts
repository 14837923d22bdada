// What the intake core looked at and decided, for whoever wants to see it happen: tests wait on a decision or
// a finished pass instead of sleeping, and a diagnostic view can follow a file. Costs nothing without listeners.

/** What the core decided about one file on one look. */
export type IntakeDecision =
  /** Noticed (an event, a listing), or seen in this size and time for less than settleMs. */
  | 'settling'
  /** Complete only once its ready marker exists. */
  | 'waiting-for-marker'
  /** Queued. */
  | 'taken'
  /** Taken before in this version (or an existing file left alone with existingFiles: skip). */
  | 'remembered'
  /** keep: touched, but its content is what was queued last. */
  | 'unchanged'
  /** Failed before; its next try is later. */
  | 'backing-off'
  /** Could not be taken now (`reason` says why); tried again after a wait. */
  | 'failed'
  /** Gone since it was seen (a watch reports folders too). */
  | 'vanished'
  /** Complete, but intake is paused by back pressure: it stays and is offered again. */
  | 'deferred';

export type IntakeEvent =
  | { type: 'decision'; rel: string; decision: IntakeDecision; reason?: string }
  /** A pass ended: a scan, its second look, a sweep of watched files, or a reconcile listing. */
  | { type: 'pass'; pass: 'scan' | 'second-look' | 'sweep' | 'reconcile'; ok: boolean; problem?: string }
  /** A folder's listing was unchanged since all its files were found taken: its entries were not read. */
  | { type: 'unchanged-listing'; relDir: string };

export class IntakeActivity {
  /** Passes ended so far. */
  passes = 0;
  private readonly listeners = new Set<(e: IntakeEvent) => void>();

  /** Calls `fn` with every event from now on; returns the way to stop. */
  on(fn: (e: IntakeEvent) => void): () => void {
    this.listeners.add(fn);
    return () => void this.listeners.delete(fn);
  }

  decided(rel: string, decision: IntakeDecision, reason?: string): void {
    if (this.listeners.size === 0) return;
    const e: IntakeEvent = reason === undefined ? { type: 'decision', rel, decision } : { type: 'decision', rel, decision, reason };
    for (const fn of this.listeners) fn(e);
  }

  unchangedListing(relDir: string): void {
    if (this.listeners.size === 0) return;
    const e: IntakeEvent = { type: 'unchanged-listing', relDir };
    for (const fn of this.listeners) fn(e);
  }

  passEnded(pass: 'scan' | 'second-look' | 'sweep' | 'reconcile', ok: boolean, problem?: string): void {
    this.passes++;
    if (this.listeners.size === 0) return;
    const e: IntakeEvent = problem === undefined ? { type: 'pass', pass, ok } : { type: 'pass', pass, ok, problem };
    for (const fn of this.listeners) fn(e);
  }
}
