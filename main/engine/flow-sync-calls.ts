// The callers of a synchronous flow (a legacy system waiting on the local endpoint for the SaaS API's answer):
// who waits for which item, and the outcome a caller was told before its commit reached the database.
import type { CallOutcome } from '../../connectors/contract.ts';
import type { Queue, Settlement } from './store/queue.ts';

export class SyncCallers {
  /** Synchronous callers waiting for an item's final outcome, by item id. */
  private readonly waiters = new Map<number, Set<(o: CallOutcome) => void>>();
  /** Outcomes already answered to a caller whose commit is still in the group-commit window. */
  private readonly uncommitted = new Map<number, CallOutcome>();

  constructor(
    private readonly flow: string,
    private readonly queue: Queue,
    /** The source keeps every reply for later reads by ticket (not only while a caller waits). */
    private readonly keepsReplies: boolean,
  ) {}

  /** The outcome of the item named by ticket; waits up to waitMs while it is unfinished. */
  outcome(ticket: string, waitMs: number, justQueued = false): Promise<CallOutcome | undefined> {
    if (!/^\d{1,15}$/.test(ticket)) return Promise.resolve(undefined);
    const id = Number(ticket);
    if (!justQueued) {
      const now = this.settledOutcome(id);
      if (now === undefined || now.state !== 'pending' || waitMs <= 0) return Promise.resolve(now);
    }
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const done = (o: CallOutcome) => {
        clearTimeout(timer);
        set!.delete(done);
        if (set!.size === 0) this.waiters.delete(id);
        resolve(o);
      };
      const timer = setTimeout(() => done(this.settledOutcome(id) ?? { ticket, state: 'pending' }), waitMs);
      timer.unref(); // a waiting caller never keeps a stopping process alive
      set.add(done);
    });
  }

  /** Reads an item's outcome from the queue (pending while queued, in flight or retrying). */
  private settledOutcome(id: number): CallOutcome | undefined {
    const recent = this.uncommitted.get(id);
    if (recent) return recent;
    const row = this.queue.get(id);
    if (!row || row.flow !== this.flow) return undefined;
    const ticket = String(id);
    switch (row.state) {
      case 'delivered':
        return { ticket, state: 'delivered', reply: this.queue.reply(id) };
      case 'dead':
        return { ticket, state: 'dead', reason: row.last_error ?? 'dead', status: row.last_status ?? undefined, response: row.last_response ?? undefined };
      case 'discarded':
        return { ticket, state: 'discarded' };
      default:
        return { ticket, state: 'pending', reason: row.last_error ?? undefined };
    }
  }

  /** Resolves the synchronous callers waiting for this item with its final outcome. */
  answer(id: number, s: Settlement): void {
    const set = this.waiters.get(id);
    if ((!set || set.size === 0) && !this.keepsReplies) return;
    const ticket = String(id);
    let o: CallOutcome;
    if (s.kind === 'delivered') o = { ticket, state: 'delivered', reply: s.reply, detail: s.detail };
    else if (s.kind === 'dead') o = { ticket, state: 'dead', reason: s.reason, status: s.status, response: s.response };
    else return;
    // until the outcome commits, a GET by ticket reads it from here (the database still says in flight)
    if (this.keepsReplies) this.uncommitted.set(id, o);
    for (const w of [...(set ?? [])]) w(o);
  }

  /** The item's outcome is in the database now: reads by ticket go there. */
  committed(id: number): void {
    this.uncommitted.delete(id);
  }

  /** Ferry is stopping: callers still waiting get "pending" with their ticket (the item stays queued). */
  releaseAll(): void {
    for (const [id, set] of this.waiters) for (const w of [...set]) w({ ticket: String(id), state: 'pending', reason: 'Ferry is stopping' });
  }
}
