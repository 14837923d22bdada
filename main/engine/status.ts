// Status per flow, read from the database alone, so `ferry status` in another process sees what the
// running engine sees.
import type { FerryConfig } from './config/schema.ts';
import { flowWarnings, formatPath } from './config/load.ts';
import { ITEM_STATES, type ItemState, type Queue } from './store/queue.ts';
import type { FlowStates } from './store/state.ts';
import { alertChannelStatus, type AlertChannelStatus } from './alerts/status.ts';
import { isAlertFlow } from './alerts/names.ts';
import { waitingFor, type ConnectionStatus } from './oauth/state.ts';
import type { ConfigSourceStatus } from './config-source/store.ts';

export interface FlowStatus {
  integration: string;
  flow: string;
  enabled: boolean;
  paused: boolean;
  trigger: string;
  counts: Record<ItemState, number>;
  waitingBytes: number;
  lastRunAt: string | null;
  nextRunAt: string | null;
  lastDeliveryAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  destination: { type: string; health: 'ok' | 'unreachable' | 'unknown'; unreachableSince: string | null };
  /** failingSince/problem: the scheduled scans report a problem (cleared by a clean scan). */
  source: { type: string; intakeBlocked: string | null; failingSince: string | null; problem: string | null };
  /** Deliveries wait for an OAuth connection that needs consent (items stay queued), e.g. "connection crm needs consent". */
  waitingFor?: string | null;
  /** Risks the flow's config accepts on purpose (`source.allowInsecure: …`); absent when there are none. */
  warnings?: string[];
  /** What the running engine did for this flow since it started; absent when no engine runs. */
  counters?: FlowCounterSnapshot;
}

/** A running flow's counts since the engine started: what a client waits on to know the engine looked and decided. */
export interface FlowCounterSnapshot {
  /** Scans finished (schedule ticks, catch-up, "run now"). */
  scans: number;
  /** A scan is running now. */
  scanning: boolean;
  /** Items queued. */
  taken: number;
  /** Items offered again and recognised (not queued twice). */
  duplicates: number;
  delivered: number;
  retries: number;
  dead: number;
  /** File sources: passes over the source ended (scans, second looks, sweeps, reconciles). */
  sourcePasses?: number;
}

export interface StatusReport {
  generatedAt: string;
  running: boolean;
  flows: FlowStatus[];
  totals: Record<ItemState, number>;
  /** The alert channels of `alerts:` (their messages are not counted in totals: they are not data). */
  alerts?: AlertChannelStatus[];
  /** OAuth connections and their health: connected, refresh_failing (with the provider's error), consent_needed. */
  connections?: ConnectionStatus[];
  /** With `configSource`: the applied central version, when, and the last refused version with its reason. */
  configSource?: ConfigSourceStatus;
}

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

export function readStatus(config: FerryConfig, queue: Queue, flowStates: FlowStates, running: boolean, connections: ConnectionStatus[] = []): StatusReport {
  const zero = () => Object.fromEntries(ITEM_STATES.map((s) => [s, 0])) as Record<ItemState, number>;
  const counts = new Map<string, { counts: Record<ItemState, number>; waitingBytes: number }>();
  const totals = zero();
  for (const c of queue.counts()) {
    const entry = counts.get(c.flow) ?? { counts: zero(), waitingBytes: 0 };
    entry.counts[c.state] = c.n;
    if (c.state === 'queued' || c.state === 'retrying' || c.state === 'inflight') entry.waitingBytes += c.bytes;
    counts.set(c.flow, entry);
    if (!isAlertFlow(c.flow)) totals[c.state] += c.n;
  }
  const states = new Map(flowStates.all().map((s) => [s.flow, s]));
  const flows: FlowStatus[] = [];
  for (const integration of config.integrations) {
    for (const flow of integration.flows) {
      const s = states.get(flow.name);
      const c = counts.get(flow.name) ?? { counts: zero(), waitingBytes: 0 };
      // A running engine writes its facts every second. One that was killed may have delivered items after its
      // last write: with none running, the newest delivered item says when the last delivery was.
      const lastDeliveryAt = running ? s?.last_delivery_at : Math.max(s?.last_delivery_at ?? 0, c.counts.delivered > 0 ? (queue.lastDeliveredAt(flow.name) ?? 0) : 0) || null;
      const health = !s ? 'unknown' : s.unreachable_since ? 'unreachable' : lastDeliveryAt ? 'ok' : 'unknown';
      const warnings = flowWarnings(flow).map((w) => `${formatPath(w.path)}: ${w.message}`);
      flows.push({
        integration: integration.name,
        flow: flow.name,
        enabled: flow.enabled,
        paused: s?.paused === 1,
        trigger: 'on' in flow.trigger ? 'on change' : `schedule "${flow.trigger.schedule}"${flow.trigger.timezone ? ` (${flow.trigger.timezone})` : ''}`,
        counts: c.counts,
        waitingBytes: c.waitingBytes,
        lastRunAt: iso(s?.last_run_at),
        nextRunAt: iso(s?.next_run_at),
        lastDeliveryAt: iso(lastDeliveryAt),
        lastError: s?.last_error ?? null,
        lastErrorAt: iso(s?.last_error_at),
        destination: { type: flow.destination.type, health, unreachableSince: iso(s?.unreachable_since) },
        source: { type: flow.source.type, intakeBlocked: s?.intake_blocked ?? null, failingSince: iso(s?.source_failing_since), problem: s?.source_problem ?? null },
        waitingFor: waitingFor(flow, connections),
        ...(warnings.length ? { warnings } : {}),
      });
    }
  }
  const alerts = alertChannelStatus(config, (flow) => counts.get(flow)?.counts ?? zero(), (flow) => states.get(flow));
  return { generatedAt: new Date().toISOString(), running, flows, totals, alerts, connections };
}
