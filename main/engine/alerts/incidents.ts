// One rule's incidents (per flow and cause) and the messages they produce: a message when a cause begins, at
// most one per flow and cause per throttle window (what happened meanwhile is counted and summed up in the
// next message), and a "resolved" message when an announced cause clears. Pure: the caller keeps the state.
import type { ItemState } from '../store/queue.ts';
import type { Condition } from './causes.ts';
import type { AlertCause } from './schema.ts';

export interface Incident {
  cause: AlertCause;
  flow: string | null;
  /** The cause holds now. */
  active: boolean;
  /** When the current (or the last) episode began. */
  since: number;
  clearedAt?: number;
  text: string;
  counts?: Record<ItemState, number>;
  amount?: number;
  /** The last message about it (of any kind): the throttle window runs from here. */
  lastSentAt?: number;
  /** The current episode was announced (so its end is announced too). */
  announced: boolean;
  /** Occurrences not told yet (episodes while throttled, new dead items). */
  pending: number;
}

export interface AlertMessage {
  kind: 'problem' | 'resolved' | 'test';
  cause: AlertCause | 'test';
  flow: string | null;
  text: string;
  since: number;
  at: number;
  counts?: Record<ItemState, number>;
  /** problem: an episode already announced, with `unreported` new occurrences (more dead items). */
  repeat?: boolean;
  /** Occurrences held back by the throttle since the previous message. */
  unreported: number;
}

export const incidentKey = (cause: AlertCause | 'test', flow: string | null) => `${cause}|${flow ?? ''}`;

const TEXT_MAX = 2000;

export interface AdvanceOptions {
  throttleMs: number;
  /** False just after start-up: facts are still being rebuilt, so nothing is declared resolved yet. */
  canResolve: boolean;
}

/** Moves the incidents to the conditions seen now; returns the messages to send and the keys that changed. */
export function advance(incidents: Map<string, Incident>, conditions: Condition[], now: number, opts: AdvanceOptions): { messages: AlertMessage[]; changed: Set<string> } {
  const messages: AlertMessage[] = [];
  const changed = new Set<string>();
  const seen = new Map(conditions.map((c) => [incidentKey(c.cause, c.flow), c]));
  const keys = new Set([...incidents.keys(), ...seen.keys()]);
  const throttled = (inc: Incident | undefined) => inc?.lastSentAt !== undefined && now - inc.lastSentAt < opts.throttleMs;
  const message = (kind: AlertMessage['kind'], inc: Incident, extra: Partial<AlertMessage> = {}): void => {
    messages.push({ kind, cause: inc.cause, flow: inc.flow, text: inc.text, since: inc.since, at: now, counts: inc.counts, unreported: 0, ...extra });
    inc.lastSentAt = now;
  };

  for (const key of keys) {
    const c = seen.get(key);
    const inc = incidents.get(key);
    if (c && (!inc || !inc.active)) {
      // a new episode
      const next: Incident = {
        cause: c.cause,
        flow: c.flow,
        active: true,
        since: c.since ?? now,
        text: c.text.slice(0, TEXT_MAX),
        counts: c.counts,
        amount: c.amount,
        lastSentAt: inc?.lastSentAt,
        announced: false,
        pending: (inc?.pending ?? 0) + 1,
      };
      if (!throttled(next)) {
        message('problem', next, { unreported: next.pending - 1 });
        next.announced = true;
        next.pending = 0;
      }
      incidents.set(key, next);
      changed.add(key);
    } else if (c && inc) {
      // goes on: more of it (dead items) counts as new occurrences
      if (c.amount !== undefined && inc.amount !== undefined && c.amount > inc.amount) inc.pending += c.amount - inc.amount;
      if (c.amount !== inc.amount) changed.add(key);
      inc.amount = c.amount;
      inc.text = c.text.slice(0, TEXT_MAX);
      inc.counts = c.counts;
      if (!throttled(inc) && (!inc.announced || inc.pending > 0)) {
        message('problem', inc, inc.announced ? { repeat: true, unreported: inc.pending } : { unreported: inc.pending - 1 });
        inc.announced = true;
        inc.pending = 0;
        changed.add(key);
      }
    } else if (inc && inc.active) {
      if (!opts.canResolve) continue;
      inc.active = false;
      inc.clearedAt = now;
      if (inc.announced) {
        message('resolved', inc, { unreported: inc.pending });
        inc.pending = 0;
      }
      inc.announced = false;
      changed.add(key);
    } else if (inc) {
      // cleared: episodes held back by the throttle are summed up once the window is over
      if (inc.pending > 0 && !throttled(inc)) {
        message('resolved', inc, { unreported: inc.pending });
        inc.pending = 0;
        changed.add(key);
      } else if (inc.pending === 0 && !throttled(inc)) {
        incidents.delete(key);
        changed.add(key);
      }
    }
  }
  return { messages, changed };
}
