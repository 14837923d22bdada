// The desktop's part of OAuth connections: a notice when a connection needs new consent (once per episode),
// and the tray asking for attention while one does or while a flow's deliveries wait for it.
import { describe, expect, it } from 'vitest';
import type { FlowStatus, StatusReport } from '../../../main/engine/status.ts';
import type { ConnectionStatus } from '../../../main/engine/oauth/state.ts';
import { NotificationLimiter } from '../../../main/desktop/notifications.ts';
import { trayState } from '../../../main/desktop/tray.ts';

const T0 = Date.parse('2026-11-29T12:00:00Z');

const flow = (waitingFor: string | null = null): FlowStatus => ({
  integration: 'i', flow: 'orders', enabled: true, paused: false, trigger: 'on change', waitingBytes: 0,
  lastRunAt: null, nextRunAt: null, lastDeliveryAt: null, lastError: null, lastErrorAt: null,
  destination: { type: 'http', health: 'ok', unreachableSince: null },
  source: { type: 'folder', intakeBlocked: null, failingSince: null, problem: null },
  counts: { queued: waitingFor ? 3 : 0, inflight: 0, retrying: 0, delivered: 0, dead: 0, discarded: 0 },
  waitingFor,
});

const connection = (state: ConnectionStatus['state'], reason: string | null = null): ConnectionStatus => ({
  name: 'crm', inline: false, provider: 'Salesforce', grant: 'authorization_code', state, reason, since: null,
  connectedAt: null, refreshedAt: null, accessExpiresAt: null, consentExpiresAt: null, refreshes: 0, scopes: [], details: {}, usedBy: ['orders'],
});

const report = (c: ConnectionStatus, f = flow()): StatusReport => ({
  generatedAt: '', running: true, flows: [f], connections: [c],
  totals: { queued: f.counts.queued, inflight: 0, retrying: 0, delivered: 0, dead: 0, discarded: 0 },
});

describe('OAuth connections on the desktop', () => {
  it('notifies once when a connection needs consent, and again only after it was connected meanwhile', () => {
    const n = new NotificationLimiter({ perFlowMs: 0 });
    expect(n.observe(report(connection('connected')), T0)).toEqual([]);
    const reason = 'Salesforce refused the refresh token (invalid_grant: expired access/refresh token): give consent again';
    expect(n.observe(report(connection('consent_needed', reason), flow('connection crm needs consent')), T0 + 1000)).toEqual([
      { key: 'consent:crm', title: 'Ferry: crm needs new consent', body: `Deliveries of orders wait (nothing is lost). Open Connections and click Connect. ${reason}`, route: '#/connections' },
    ]);
    expect(n.observe(report(connection('consent_needed', reason)), T0 + 2000)).toEqual([]);
    expect(n.observe(report(connection('connected')), T0 + 3000)).toEqual([]);
    expect(n.observe(report(connection('consent_needed', reason)), T0 + 4000)).toHaveLength(1);
  });

  it('the tray asks for attention while a connection needs consent or cannot renew its token', () => {
    expect(trayState(report(connection('connected')))).toBe('ok');
    expect(trayState(report(connection('consent_needed', 'not connected yet')))).toBe('attention');
    expect(trayState(report(connection('refresh_failing', 'token endpoint answered HTTP 503')))).toBe('attention');
    expect(trayState(report(connection('connected'), flow('connection crm needs consent')))).toBe('attention');
  });
});
