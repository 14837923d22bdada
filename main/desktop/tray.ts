// What the tray shows, computed from the engine's status report by pure functions (no electron import, so
// they are unit-tested in plain Node). main.ts turns the results into a Tray icon, tooltip and Menu.
import type { FlowStatus, StatusReport } from '../engine/index.ts';

export type TrayState = 'ok' | 'syncing' | 'attention' | 'error' | 'paused';

/** One flow's contribution to the tray state. */
export function flowTrayState(f: FlowStatus): TrayState {
  if (f.counts.dead > 0) return 'error';
  if (f.enabled && f.paused) return 'paused';
  if (f.waitingFor || f.counts.retrying > 0 || f.destination.health === 'unreachable' || f.source.intakeBlocked || f.source.failingSince) return 'attention';
  if (f.counts.queued > 0 || f.counts.inflight > 0) return 'syncing';
  return 'ok';
}

/**
 * The tray state for the whole agent, most urgent first: error (dead items: data needs a human), attention
 * (retries pending, a destination unreachable, intake blocked), paused (every enabled flow paused),
 * syncing (work waiting or in flight), ok. A stopped engine is an error: nothing moves.
 */
export function trayState(report: StatusReport): TrayState {
  if (!report.running) return 'error';
  const enabled = report.flows.filter((f) => f.enabled);
  const states = enabled.map(flowTrayState);
  if (states.includes('error')) return 'error';
  // an OAuth connection that needs consent or cannot renew its token needs a human even before a flow waits on it
  if (states.includes('attention') || report.connections?.some((c) => c.state !== 'connected')) return 'attention';
  if (enabled.length > 0 && enabled.every((f) => f.paused)) return 'paused';
  if (states.includes('syncing')) return 'syncing';
  return 'ok';
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "just now", "2 min ago", "3 h ago", "4 days ago". */
export function ago(iso: string, now: number): string {
  const ms = Math.max(0, now - Date.parse(iso));
  if (ms < 60_000) return 'just now';
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)} h ago`;
  return plural(Math.floor(ms / 86_400_000), 'day') + ' ago';
}

/** Windows truncates tray tooltips at 127 characters. */
export const TOOLTIP_MAX = 127;

/** "Ferry: 3 flows OK, 12 queued, last sync 2 min ago". */
export function trayTooltip(report: StatusReport, now = Date.now()): string {
  const enabled = report.flows.filter((f) => f.enabled);
  const parts: string[] = [];
  if (!report.running) parts.push('engine stopped');
  else if (enabled.length === 0) parts.push('no flows configured');
  else {
    const per = enabled.map(flowTrayState);
    const count = (s: TrayState) => per.filter((p) => p === s).length;
    const healthy = count('ok') + count('syncing');
    const state = trayState(report);
    if (state === 'paused') parts.push(enabled.length === 1 ? 'paused' : `all ${enabled.length} flows paused`);
    else if (healthy === enabled.length) parts.push(`${plural(enabled.length, 'flow')} OK`);
    else {
      parts.push(`${healthy} of ${plural(enabled.length, 'flow')} OK`);
      if (count('error')) parts.push(plural(report.flows.reduce((n, f) => n + f.counts.dead, 0), 'dead item'));
      if (count('attention')) parts.push(`${plural(count('attention'), 'flow')} retrying`);
      if (count('paused')) parts.push(`${count('paused')} paused`);
    }
  }
  const waiting = report.totals.queued + report.totals.inflight + report.totals.retrying;
  parts.push(`${waiting} queued`);
  const last = report.flows.map((f) => f.lastDeliveryAt).filter((t): t is string => !!t).sort().pop();
  parts.push(last ? `last sync ${ago(last, now)}` : 'nothing synced yet');
  const text = `Ferry: ${parts.join(', ')}`;
  return text.length > TOOLTIP_MAX ? `${text.slice(0, TOOLTIP_MAX - 1)}…` : text;
}

/** A recent problem the menu lists; clicking it opens the item (or the flow's dead items). */
export interface TrayProblem {
  flow: string;
  itemId?: number;
  /** File or record name, when the problem is one item. */
  name?: string;
  message: string;
}

/** What a menu entry does; main.ts maps each to Electron calls. */
export type TrayAction =
  | { kind: 'open'; route: string }
  | { kind: 'sync-now' }
  | { kind: 'pause-all' }
  | { kind: 'resume-all' }
  | { kind: 'open-logs' }
  | { kind: 'toggle-start-at-login' }
  | { kind: 'quit' };

export interface TrayMenuEntry {
  label?: string;
  type?: 'normal' | 'separator' | 'checkbox' | 'submenu';
  enabled?: boolean;
  checked?: boolean;
  action?: TrayAction;
  submenu?: TrayMenuEntry[];
}

export interface TrayMenuInput {
  report: StatusReport;
  problems: TrayProblem[];
  startAtLogin: boolean;
  /** How many problems to list (most recent first). */
  maxProblems?: number;
}

const shorten = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** Dashboard route (hash) of a problem: the item itself, or the flow's dead items. */
export function problemRoute(p: TrayProblem): string {
  return p.itemId !== undefined ? `#/queue/${p.itemId}` : `#/queue?flow=${encodeURIComponent(p.flow)}&state=dead`;
}

/** Open Ferry, Sync now, Pause all / Resume, the last problems, Open logs folder, Start at login, Quit. */
export function trayMenuTemplate(input: TrayMenuInput): TrayMenuEntry[] {
  const { report } = input;
  const enabled = report.flows.filter((f) => f.enabled);
  const allPaused = enabled.length > 0 && enabled.every((f) => f.paused);
  const menu: TrayMenuEntry[] = [
    { label: 'Open Ferry', action: { kind: 'open', route: '#/' } },
    { label: 'Sync now', enabled: report.running && enabled.some((f) => !f.paused), action: { kind: 'sync-now' } },
    allPaused
      ? { label: 'Resume', enabled: report.running, action: { kind: 'resume-all' } }
      : { label: 'Pause all', enabled: report.running && enabled.length > 0, action: { kind: 'pause-all' } },
    { type: 'separator' },
  ];
  const problems = input.problems.slice(0, input.maxProblems ?? 5);
  if (problems.length === 0) menu.push({ label: 'No problems', enabled: false });
  else {
    menu.push({ label: 'Last problems', enabled: false });
    for (const p of problems) {
      const what = p.name ? `${p.flow} / ${p.name}` : p.flow;
      menu.push({ label: shorten(`${what}: ${p.message}`, 80), action: { kind: 'open', route: problemRoute(p) } });
    }
  }
  menu.push(
    { type: 'separator' },
    { label: 'Open logs folder', action: { kind: 'open-logs' } },
    { label: 'Start at login', type: 'checkbox', checked: input.startAtLogin, action: { kind: 'toggle-start-at-login' } },
    { type: 'separator' },
    { label: 'Quit Ferry', action: { kind: 'quit' } },
  );
  return menu;
}

/** Problems derived from the status alone (when the queue cannot be read): one per troubled flow. */
export function problemsFromStatus(report: StatusReport): TrayProblem[] {
  const out: TrayProblem[] = [];
  for (const f of report.flows) {
    if (f.counts.dead > 0) out.push({ flow: f.flow, message: `${plural(f.counts.dead, 'dead item')}${f.lastError ? ` (${f.lastError})` : ''}` });
    else if (f.destination.health === 'unreachable') out.push({ flow: f.flow, message: `${f.destination.type} destination unreachable${f.lastError ? `: ${f.lastError}` : ''}` });
    else if (f.source.intakeBlocked) out.push({ flow: f.flow, message: f.source.intakeBlocked });
    else if (f.source.failingSince) out.push({ flow: f.flow, message: `${f.source.type} source failing: ${f.source.problem ?? 'see the activity log'}` });
  }
  return out;
}
