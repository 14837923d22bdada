// The tray's pure functions: state, tooltip and menu from an engine status report.
import { describe, expect, it } from 'vitest';
import type { FlowStatus, StatusReport } from '../../../main/engine/status.ts';
import { ago, flowTrayState, problemRoute, problemsFromStatus, TOOLTIP_MAX, trayMenuTemplate, trayState, trayTooltip, type TrayMenuEntry } from '../../../main/desktop/tray.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();

function flow(name: string, over: Partial<Omit<FlowStatus, 'counts'>> & { counts?: Partial<FlowStatus['counts']> } = {}): FlowStatus {
  const { counts, ...rest } = over;
  return {
    integration: 'i',
    flow: name,
    enabled: true,
    paused: false,
    trigger: 'on change',
    waitingBytes: 0,
    lastRunAt: null,
    nextRunAt: null,
    lastDeliveryAt: null,
    lastError: null,
    lastErrorAt: null,
    destination: { type: 'http', health: 'ok', unreachableSince: null },
    source: { type: 'folder', intakeBlocked: null, failingSince: null, problem: null },
    ...rest,
    counts: { queued: 0, inflight: 0, retrying: 0, delivered: 0, dead: 0, discarded: 0, ...counts },
  };
}

function report(flows: FlowStatus[], running = true): StatusReport {
  const totals = { queued: 0, inflight: 0, retrying: 0, delivered: 0, dead: 0, discarded: 0 };
  for (const f of flows) for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += f.counts[k];
  return { generatedAt: new Date(NOW).toISOString(), running, flows, totals };
}

const labels = (menu: TrayMenuEntry[]) => menu.map((m) => m.label ?? `(${m.type})`);

describe('trayState', () => {
  it('is ok when nothing waits and nothing failed', () => {
    expect(trayState(report([flow('a', { counts: { delivered: 40 } }), flow('b')]))).toBe('ok');
  });

  it('is syncing while items are queued or in flight', () => {
    expect(trayState(report([flow('a', { counts: { queued: 3 } }), flow('b')]))).toBe('syncing');
    expect(trayState(report([flow('a', { counts: { inflight: 1 } })]))).toBe('syncing');
  });

  it('needs attention when retries are pending, a destination is unreachable or intake is blocked', () => {
    expect(trayState(report([flow('a', { counts: { retrying: 1, queued: 5 } })]))).toBe('attention');
    expect(trayState(report([flow('a', { destination: { type: 'http', health: 'unreachable', unreachableSince: minutesAgo(1) } })]))).toBe('attention');
    expect(trayState(report([flow('a', { source: { type: 'folder', intakeBlocked: 'disk nearly full', failingSince: null, problem: null } })]))).toBe('attention');
  });

  it('needs attention while a scheduled source keeps failing, and says why', () => {
    const failing = flow('a', { source: { type: 'ftp', intakeBlocked: null, failingSince: minutesAgo(3), problem: 'cannot list ftp://x@h:21/out: host unreachable' } });
    expect(trayState(report([failing]))).toBe('attention');
    expect(problemsFromStatus(report([failing]))).toEqual([{ flow: 'a', message: 'ftp source failing: cannot list ftp://x@h:21/out: host unreachable' }]);
  });

  it('is an error when any flow has dead items, whatever else is going on', () => {
    const r = report([flow('a', { counts: { retrying: 2 } }), flow('b', { counts: { dead: 1 } }), flow('c', { paused: true })]);
    expect(trayState(r)).toBe('error');
  });

  it('is paused only when every enabled flow is paused', () => {
    expect(trayState(report([flow('a', { paused: true }), flow('b', { paused: true }), flow('off', { enabled: false })]))).toBe('paused');
    expect(trayState(report([flow('a', { paused: true }), flow('b', { counts: { queued: 1 } })]))).toBe('syncing');
  });

  it('ignores disabled flows and treats a stopped engine as an error', () => {
    expect(trayState(report([flow('a'), flow('off', { enabled: false, counts: { queued: 9 } })]))).toBe('ok');
    expect(trayState(report([flow('a')], false))).toBe('error');
  });

  it('rates a single flow', () => {
    expect(flowTrayState(flow('a', { counts: { dead: 1 }, paused: true }))).toBe('error');
    expect(flowTrayState(flow('a', { paused: true, counts: { retrying: 1 } }))).toBe('paused');
  });
});

describe('trayTooltip', () => {
  it('summarises healthy flows, waiting items and the last sync', () => {
    const r = report([
      flow('a', { counts: { queued: 10 }, lastDeliveryAt: minutesAgo(5) }),
      flow('b', { counts: { inflight: 2 }, lastDeliveryAt: minutesAgo(2) }),
      flow('c'),
    ]);
    expect(trayTooltip(r, NOW)).toBe('Ferry: 3 flows OK, 12 queued, last sync 2 min ago');
  });

  it('names dead items and retrying flows', () => {
    const r = report([flow('a', { counts: { dead: 4 } }), flow('b', { counts: { retrying: 1 } }), flow('c', { lastDeliveryAt: minutesAgo(0.2) })]);
    expect(trayTooltip(r, NOW)).toBe('Ferry: 1 of 3 flows OK, 4 dead items, 1 flow retrying, 1 queued, last sync just now');
  });

  it('says when everything is paused, nothing synced yet or the engine stopped', () => {
    expect(trayTooltip(report([flow('a', { paused: true }), flow('b', { paused: true })]), NOW)).toBe('Ferry: all 2 flows paused, 0 queued, nothing synced yet');
    expect(trayTooltip(report([flow('a')], false), NOW)).toBe('Ferry: engine stopped, 0 queued, nothing synced yet');
    expect(trayTooltip(report([]), NOW)).toBe('Ferry: no flows configured, 0 queued, nothing synced yet');
  });

  it('stays within the Windows tooltip limit', () => {
    const many = Array.from({ length: 300 }, (_, i) => flow(`f${i}`, { counts: { dead: i % 2, retrying: i % 3 === 0 ? 1 : 0, queued: 123456 } }));
    const text = trayTooltip(report(many), NOW);
    expect(text.length).toBeLessThanOrEqual(TOOLTIP_MAX);
    expect(text.startsWith('Ferry: ')).toBe(true);
  });

  it('formats relative times', () => {
    expect(ago(minutesAgo(0.5), NOW)).toBe('just now');
    expect(ago(minutesAgo(59), NOW)).toBe('59 min ago');
    expect(ago(minutesAgo(180), NOW)).toBe('3 h ago');
    expect(ago(minutesAgo(60 * 24), NOW)).toBe('1 day ago');
    expect(ago(minutesAgo(60 * 24 * 3), NOW)).toBe('3 days ago');
  });
});

describe('trayMenuTemplate', () => {
  it('has the fixed entries in order and lists no problems when there are none', () => {
    const menu = trayMenuTemplate({ report: report([flow('a')]), problems: [], startAtLogin: false });
    expect(labels(menu)).toEqual(['Open Ferry', 'Sync now', 'Pause all', '(separator)', 'No problems', '(separator)', 'Open logs folder', 'Start at login', '(separator)', 'Quit Ferry']);
    expect(menu[0].action).toEqual({ kind: 'open', route: '#/' });
    expect(menu.find((m) => m.label === 'Start at login')).toMatchObject({ type: 'checkbox', checked: false });
    expect(menu.find((m) => m.label === 'No problems')?.enabled).toBe(false);
  });

  it('offers Resume when every flow is paused, and disables Sync now', () => {
    const menu = trayMenuTemplate({ report: report([flow('a', { paused: true })]), problems: [], startAtLogin: true });
    expect(labels(menu)).toContain('Resume');
    expect(labels(menu)).not.toContain('Pause all');
    expect(menu.find((m) => m.label === 'Resume')?.action).toEqual({ kind: 'resume-all' });
    expect(menu.find((m) => m.label === 'Sync now')?.enabled).toBe(false);
    expect(menu.find((m) => m.label === 'Start at login')?.checked).toBe(true);
  });

  it('disables the engine actions while the engine is stopped', () => {
    const menu = trayMenuTemplate({ report: report([flow('a')], false), problems: [], startAtLogin: false });
    expect(menu.find((m) => m.label === 'Sync now')?.enabled).toBe(false);
    expect(menu.find((m) => m.label === 'Pause all')?.enabled).toBe(false);
  });

  it('lists the last problems (at most maxProblems), each opening its item or flow', () => {
    const problems = [
      { flow: 'orders', itemId: 17, name: 'order-17.xml', message: 'HTTP 500 from https://api.example.com' },
      { flow: 'invoices', message: '3 dead items' },
      { flow: 'x', itemId: 1, message: 'one' },
      { flow: 'y', itemId: 2, message: 'a'.repeat(200) },
    ];
    const menu = trayMenuTemplate({ report: report([flow('orders', { counts: { dead: 1 } })]), problems, startAtLogin: false, maxProblems: 3 });
    const start = labels(menu).indexOf('Last problems');
    expect(start).toBeGreaterThan(0);
    const listed = menu.slice(start + 1, start + 4);
    expect(listed.map((m) => m.label)).toEqual(['orders / order-17.xml: HTTP 500 from https://api.example.com', 'invoices: 3 dead items', 'x: one']);
    expect(listed.map((m) => m.action)).toEqual([
      { kind: 'open', route: '#/queue/17' },
      { kind: 'open', route: '#/queue?flow=invoices&state=dead' },
      { kind: 'open', route: '#/queue/1' },
    ]);
    expect(labels(menu).some((l) => l.startsWith('y: '))).toBe(false);
    expect(menu[start + 4].type).toBe('separator');
  });

  it('shortens long problem labels', () => {
    const menu = trayMenuTemplate({ report: report([]), problems: [{ flow: 'y', itemId: 2, message: 'a'.repeat(200) }], startAtLogin: false });
    const entry = menu.find((m) => m.label?.startsWith('y: '))!;
    expect(entry.label!.length).toBe(80);
    expect(entry.label!.endsWith('…')).toBe(true);
  });

  it('derives one problem per troubled flow from the status', () => {
    const r = report([
      flow('a', { counts: { dead: 2 }, lastError: 'HTTP 422' }),
      flow('b', { destination: { type: 'http', health: 'unreachable', unreachableSince: minutesAgo(9) }, lastError: 'ECONNREFUSED' }),
      flow('c'),
    ]);
    expect(problemsFromStatus(r)).toEqual([
      { flow: 'a', message: '2 dead items (HTTP 422)' },
      { flow: 'b', message: 'http destination unreachable: ECONNREFUSED' },
    ]);
    expect(problemRoute({ flow: 'a b', message: '' })).toBe('#/queue?flow=a%20b&state=dead');
  });
});
