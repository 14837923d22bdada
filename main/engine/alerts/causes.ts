// What is wrong right now, read from the same facts the status report (and so the dashboard, the tray and
// `ferry status`) shows: one condition per flow and cause, in plain words.
import type { FlowStatus, StatusReport } from '../status.ts';
import type { ItemState } from '../store/queue.ts';
import type { AlertCause } from './schema.ts';

export interface Condition {
  cause: AlertCause;
  /** The flow, or null for the whole of Ferry (disk-low, config-refused). */
  flow: string | null;
  /** The cause in plain words. */
  text: string;
  /** Since when, when the facts say (else: since it was first seen). */
  since?: number;
  /** The flow's items by state when it was seen. */
  counts?: Record<ItemState, number>;
  /** How many of it there are (dead items): a growing number is a new occurrence. */
  amount?: number;
}

/** Engine facts that are not in the status report. */
export interface EngineFacts {
  /** Why intake is paused for disk space, when it is. */
  diskProblem?: string;
  /** A changed config file that was refused (the previous one runs on). */
  configRefused?: { at: number; problems: string[] };
}

/**
 * Extra conditions from parts of the engine this module does not know (a hook for causes the status report
 * does not carry).
 */
export type ConditionSource = (report: StatusReport) => Condition[];

const when = (iso: string | null | undefined) => (iso ? Date.parse(iso) : undefined);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The conditions holding now. `activeSince(cause, flow)` says since when an incident is open: a failing flow
 * counts as recovered only once it delivered again (or has nothing left to send), not merely because a restart
 * reset its circuit breaker.
 */
export function currentConditions(report: StatusReport, facts: EngineFacts, activeSince: (cause: AlertCause, flow: string | null) => number | undefined, extra: ConditionSource[] = []): Condition[] {
  const out: Condition[] = [];
  for (const f of report.flows) {
    const base = { flow: f.flow, counts: f.counts };
    if (f.enabled) {
      const failing = flowFailing(f, activeSince('flow-failing', f.flow));
      if (failing) out.push({ ...base, cause: 'flow-failing', ...failing });
      if (f.source.failingSince) {
        out.push({ ...base, cause: 'source-failing', since: when(f.source.failingSince), text: `the ${f.source.type} source is failing: ${f.source.problem ?? 'see the activity log'}` });
      }
      // an OAuth connection the flow uses needs a new consent: its deliveries wait
      if (f.waitingFor) out.push({ ...base, cause: 'consent-needed', text: `deliveries wait: ${f.waitingFor}` });
    }
    if (f.counts.dead > 0) {
      out.push({
        ...base,
        cause: 'item-dead',
        amount: f.counts.dead,
        text: `${f.counts.dead === 1 ? '1 item failed and waits' : `${f.counts.dead} items failed and wait`} for a person (dead)${f.lastError ? `; the last error: ${f.lastError}` : ''}`,
      });
    }
  }
  if (facts.diskProblem) out.push({ cause: 'disk-low', flow: null, text: `intake is paused: ${facts.diskProblem}` });
  if (facts.configRefused) {
    const p = facts.configRefused.problems;
    out.push({
      cause: 'config-refused',
      flow: null,
      since: facts.configRefused.at,
      text: `the changed configuration was refused (${plural(p.length, 'problem')}: ${p.slice(0, 3).join('; ')}${p.length > 3 ? '; …' : ''}); Ferry runs on with the previous one`,
    });
  }
  out.push(...connectionConditions(report));
  for (const source of extra) out.push(...source(report));
  return out;
}

/** A consent that ends within this: the admin hears of it while there is still time to renew it. */
export const CONSENT_WARNING_MS = 3 * 24 * 3600_000;

/**
 * OAuth connections that need an admin, told per flow that uses them (so the rules' `flows` globs apply):
 * one that needs consent now, though no delivery waits on it yet (a source, or a destination with nothing
 * queued), and one whose consent ends within three days. A flow whose deliveries already wait is told above.
 */
function connectionConditions(report: StatusReport, now = Date.now()): Condition[] {
  const out: Condition[] = [];
  const flows = new Map(report.flows.map((f) => [f.flow, f]));
  const told = new Set<string>();
  for (const c of report.connections ?? []) {
    const ends = when(c.consentExpiresAt);
    const renew = `Connect in the dashboard (Connections)${c.inline ? '' : ` or ferry connect ${c.name}`}`;
    const text = c.state === 'consent_needed'
      ? `connection ${c.name} needs consent: ${c.reason ?? 'not connected'}; the flow's calls to ${c.provider} wait until then`
      : ends !== undefined && ends - now <= CONSENT_WARNING_MS
        ? `the consent of connection ${c.name} ends ${new Date(ends).toISOString()}: renew it before then (${renew})`
        : undefined;
    if (!text) continue;
    for (const name of c.usedBy) {
      const f = flows.get(name);
      if (!f?.enabled || f.waitingFor || told.has(name)) continue;
      told.add(name);
      out.push({ cause: 'consent-needed', flow: name, counts: f.counts, since: c.state === 'consent_needed' ? when(c.since) : undefined, text });
    }
  }
  return out;
}

function flowFailing(f: FlowStatus, openSince: number | undefined): { text: string; since?: number } | undefined {
  if (f.lastError?.startsWith('failed to start:')) return { text: `the flow is not running: it ${f.lastError}` };
  const lastError = f.lastError ? `; the last error: ${f.lastError}` : '';
  if (f.destination.health === 'unreachable') {
    return { since: when(f.destination.unreachableSince), text: `the ${f.destination.type} destination is unreachable${lastError}` };
  }
  if (openSince !== undefined) {
    // open: it ends with a delivery since it began, or when nothing waits any more
    const waiting = f.counts.queued + f.counts.retrying + f.counts.inflight;
    const delivered = when(f.lastDeliveryAt) ?? 0;
    if (waiting > 0 && delivered < openSince) return { text: `the ${f.destination.type} destination has not taken anything since it failed${lastError}` };
  }
  return undefined;
}
