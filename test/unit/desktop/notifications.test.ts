// Native notification decisions: dead items, a destination unreachable > 5 min, rate limits.
import { describe, expect, it } from 'vitest';
import type { FlowStatus, StatusReport } from '../../../main/engine/status.ts';
import { NotificationLimiter } from '../../../main/desktop/notifications.ts';

const T0 = Date.parse('2026-11-29T12:00:00Z');
const MIN = 60_000;

function flow(name: string, dead = 0, unreachableSince: number | null = null, lastError: string | null = null): FlowStatus {
  return {
    integration: 'i', flow: name, enabled: true, paused: false, trigger: 'on change', waitingBytes: 0,
    lastRunAt: null, nextRunAt: null, lastDeliveryAt: null, lastError, lastErrorAt: null,
    destination: { type: 'http', health: unreachableSince ? 'unreachable' : 'ok', unreachableSince: unreachableSince ? new Date(unreachableSince).toISOString() : null },
    source: { type: 'folder', intakeBlocked: null, failingSince: null, problem: null },
    counts: { queued: 0, inflight: 0, retrying: 0, delivered: 0, dead, discarded: 0 },
  };
}
const report = (flows: FlowStatus[]): StatusReport => ({
  generatedAt: '', running: true, flows,
  totals: { queued: 0, inflight: 0, retrying: 0, delivered: 0, dead: flows.reduce((n, f) => n + f.counts.dead, 0), discarded: 0 },
});

describe('NotificationLimiter', () => {
  it('stays quiet about items that were already dead at start-up, then announces new ones', () => {
    const n = new NotificationLimiter();
    expect(n.observe(report([flow('orders', 5)]), T0)).toEqual([]);
    const shown = n.observe(report([flow('orders', 7, null, 'HTTP 422: invalid customer')]), T0 + 1000);
    expect(shown).toEqual([{ key: 'dead:orders', flow: 'orders', title: 'orders: 2 items could not be delivered', body: 'Last error: HTTP 422: invalid customer', route: '#/queue?flow=orders&state=dead' }]);
    expect(n.observe(report([flow('orders', 7)]), T0 + 2000)).toEqual([]);
  });

  it('announces an unreachable destination only after 5 minutes, once per episode', () => {
    const n = new NotificationLimiter();
    const since = T0;
    expect(n.observe(report([flow('a', 0, since)]), T0 + 4 * MIN)).toEqual([]);
    const shown = n.observe(report([flow('a', 0, since, 'ECONNREFUSED 127.0.0.1:9')]), T0 + 5 * MIN + 1);
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ key: 'unreachable:a', title: 'a: destination unreachable for 5 min', body: 'ECONNREFUSED 127.0.0.1:9', route: '#/flows/a' });
    expect(n.observe(report([flow('a', 0, since)]), T0 + 30 * MIN)).toEqual([]);
    // recovers, then fails again: a new episode, announced again after 5 min (and after the per-key gap)
    expect(n.observe(report([flow('a')]), T0 + 31 * MIN)).toEqual([]);
    const again = T0 + 40 * MIN;
    expect(n.observe(report([flow('a', 0, again)]), again + 6 * MIN).map((x) => x.key)).toEqual(['unreachable:a']);
  });

  it('shows at most one notice per flow every 10 minutes, whatever the failure', () => {
    const n = new NotificationLimiter();
    n.observe(report([flow('a', 0), flow('b', 0)]), T0);
    expect(n.observe(report([flow('a', 1), flow('b', 0)]), T0 + MIN).map((x) => x.key)).toEqual(['dead:a']);
    expect(n.observe(report([flow('a', 2), flow('b', 0)]), T0 + 2 * MIN)).toEqual([]);
    // the same flow's destination down for 5 minutes: still within its 10 minutes
    expect(n.observe(report([flow('a', 2, T0 + 2 * MIN), flow('b', 0)]), T0 + 8 * MIN)).toEqual([]);
    // another flow is not held back by it
    expect(n.observe(report([flow('a', 2, T0 + 2 * MIN), flow('b', 1)]), T0 + 9 * MIN).map((x) => x.key)).toEqual(['dead:b']);
    expect(n.observe(report([flow('a', 3, T0 + 2 * MIN), flow('b', 1)]), T0 + MIN + 10 * MIN - 1).map((x) => x.key)).toEqual([]);
    expect(n.observe(report([flow('a', 4, T0 + 2 * MIN), flow('b', 1)]), T0 + 11 * MIN).map((x) => x.key)).toEqual(['dead:a']);
    // what the per-flow gap held back is not summed up later: the user already knows about that flow
    expect(n.observe(report([flow('a', 4, T0 + 2 * MIN), flow('b', 1)]), T0 + 12 * MIN)).toEqual([]);
  });

  it('caps notices per window and later summarises what it held back', () => {
    const n = new NotificationLimiter({ maxPerWindow: 2, windowMs: 10 * MIN });
    const names = ['a', 'b', 'c', 'd'];
    n.observe(report(names.map((x) => flow(x, 0))), T0);
    const burst = n.observe(report(names.map((x) => flow(x, 1))), T0 + 1000);
    expect(burst.map((x) => x.key)).toEqual(['dead:a', 'dead:b']);
    expect(n.observe(report(names.map((x) => flow(x, 1))), T0 + 5 * MIN)).toEqual([]);
    const later = n.observe(report(names.map((x) => flow(x, 1))), T0 + 11 * MIN);
    expect(later).toEqual([{ key: 'summary', title: 'Ferry: more problems', body: '2 more notices were held back; open Ferry to see them.', route: '#/' }]);
    expect(n.observe(report(names.map((x) => flow(x, 1))), T0 + 12 * MIN)).toEqual([]);
  });
});
