// The alert channels in the status report (read from the database, like the flows: `ferry status` in another
// process sees what the running engine sees): what waits, what failed and why.
import type { FerryConfig } from '../config/schema.ts';
import type { ItemState } from '../store/queue.ts';
import type { FlowStateRow } from '../store/state.ts';
import { describeChannel } from './channels.ts';
import type { AlertCause } from './schema.ts';
import { alertFlowName } from './names.ts';

export interface AlertChannelStatus {
  /** Index of the rule in `alerts:`. */
  rule: number;
  /** "email to it@site.example", "teams webhook …" */
  channel: string;
  on: AlertCause[];
  /** The internal flow carrying its messages (its items in `ferry queue list`). */
  flow: string;
  counts: Record<ItemState, number>;
  lastSentAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  /** failing: messages wait for retries or failed for good; ok: the last one went out. */
  health: 'ok' | 'failing' | 'unknown';
}

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

export function alertChannelStatus(config: FerryConfig, counts: (flow: string) => Record<ItemState, number>, state: (flow: string) => FlowStateRow | undefined): AlertChannelStatus[] {
  return config.alerts.map((rule, i) => {
    const flow = alertFlowName(i);
    const c = counts(flow);
    const s = state(flow);
    const waiting = c.queued + c.inflight + c.retrying;
    // a message waits after a failed attempt (it may be in flight again right now), or one failed for good
    const lastFailedAfterSent = !!s?.last_error_at && (s.last_delivery_at ?? 0) < s.last_error_at;
    const failing = c.retrying > 0 || c.dead > 0 || !!s?.unreachable_since || (waiting > 0 && lastFailedAfterSent);
    return {
      rule: i,
      channel: describeChannel(rule.to),
      on: rule.on,
      flow,
      counts: c,
      lastSentAt: iso(s?.last_delivery_at),
      lastError: failing ? (s?.last_error ?? null) : null,
      lastErrorAt: failing ? iso(s?.last_error_at) : null,
      health: failing ? 'failing' : s?.last_delivery_at ? 'ok' : 'unknown',
    };
  });
}
