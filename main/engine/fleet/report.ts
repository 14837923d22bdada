// The fleet's shapes: the heartbeat an agent publishes (its GET /api/status plus who it is), and the
// report a viewer makes of the latest heartbeat per agent (`ferry fleet status`, the dashboard's Fleet page).
import type { FlowStatus, StatusReport } from '../status.ts';

/** One heartbeat: the agent's status report plus its identity. Never a secret (scrubbed before sending). */
export interface Heartbeat extends StatusReport {
  kind: 'ferry.status';
  agent: string;
  labels: Record<string, string>;
  version: string;
  configVersion: string;
  host: string;
  uptimeSec: number;
  /** Seconds between heartbeats: a viewer calls the agent silent after three missed ones. */
  intervalSec: number;
  sentAt: string;
}

export type AgentState = 'ok' | 'failing' | 'silent';

export interface FleetFlow {
  integration: string;
  flow: string;
  ok: boolean;
  /** Why the flow is failing (null when it is not). */
  reason: string | null;
  waiting: number;
  dead: number;
  lastDeliveryAt: string | null;
}

export interface FleetAgent {
  agent: string;
  state: AgentState;
  labels: Record<string, string>;
  version: string;
  configVersion: string;
  host: string;
  lastHeardAt: string;
  /** Set for a silent agent: three intervals after its last heartbeat. */
  silentSince: string | null;
  intervalSec: number;
  uptimeSec: number;
  flowsOk: number;
  flowsFailing: number;
  waiting: number;
  dead: number;
  lastDeliveryAt: string | null;
  flows: FleetFlow[];
}

export interface FleetReport {
  generatedAt: string;
  broker: string;
  exchange: string;
  agents: FleetAgent[];
  /** Set when the broker could not be read (the Fleet page shows it; the CLI exits 1). */
  error?: string;
}

/** Why a flow is failing, from its status; null when it is healthy. */
export function flowProblem(f: FlowStatus): string | null {
  if (!f.enabled) return null;
  const last = f.lastError ? `: ${f.lastError}` : '';
  if (f.destination.health === 'unreachable') return `destination ${f.destination.type} unreachable since ${f.destination.unreachableSince}${last}`;
  if (f.source.failingSince) return `source ${f.source.type} failing since ${f.source.failingSince}: ${f.source.problem}`;
  if (f.source.intakeBlocked) return `intake paused: ${f.source.intakeBlocked}`;
  if (f.lastError?.startsWith('failed to start')) return f.lastError;
  return null;
}

/** A key that changes when any flow's health changes (an agent publishes at once then). */
export function healthKey(report: StatusReport): string {
  return report.flows.map((f) => `${f.flow}:${flowProblem(f) === null ? 'ok' : 'failing'}`).join('|');
}

/** The report of the latest heartbeat per agent, judged at `now`. */
export function fleetReport(latest: Iterable<Heartbeat>, now: number, where: { broker: string; exchange: string }): FleetReport {
  const agents: FleetAgent[] = [];
  for (const hb of latest) {
    const heard = Date.parse(hb.sentAt);
    const silentAt = heard + 3 * hb.intervalSec * 1000;
    const flows: FleetFlow[] = hb.flows.map((f) => {
      const reason = flowProblem(f);
      return { integration: f.integration, flow: f.flow, ok: reason === null, reason, waiting: f.counts.queued + f.counts.retrying + f.counts.inflight, dead: f.counts.dead, lastDeliveryAt: f.lastDeliveryAt };
    });
    const failing = flows.filter((f) => !f.ok).length;
    const lastDelivery = flows.map((f) => f.lastDeliveryAt).filter((t): t is string => t !== null).sort().pop() ?? null;
    agents.push({
      agent: hb.agent,
      state: now >= silentAt ? 'silent' : failing > 0 ? 'failing' : 'ok',
      labels: hb.labels,
      version: hb.version,
      configVersion: hb.configVersion,
      host: hb.host,
      lastHeardAt: hb.sentAt,
      silentSince: now >= silentAt ? new Date(silentAt).toISOString() : null,
      intervalSec: hb.intervalSec,
      uptimeSec: hb.uptimeSec,
      flowsOk: flows.length - failing,
      flowsFailing: failing,
      waiting: flows.reduce((n, f) => n + f.waiting, 0),
      dead: flows.reduce((n, f) => n + f.dead, 0),
      lastDeliveryAt: lastDelivery,
      flows,
    });
  }
  agents.sort((a, b) => a.agent.localeCompare(b.agent));
  return { generatedAt: new Date(now).toISOString(), broker: where.broker, exchange: where.exchange, agents };
}

/** Whether a message body is a heartbeat this version can read. */
export function isHeartbeat(v: unknown): v is Heartbeat {
  const h = v as Heartbeat;
  return typeof h === 'object' && h !== null && h.kind === 'ferry.status' && typeof h.agent === 'string' && typeof h.sentAt === 'string' && Array.isArray(h.flows) && typeof h.intervalSec === 'number';
}
