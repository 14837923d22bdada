// The throttle and resolve rules of alerts, on a clock the test moves: one message per flow and cause per
// window, what happened meanwhile summed up in the next message, a "resolved" for every announced problem.
import { describe, expect, it } from 'vitest';
import type { Condition } from '../../main/engine/alerts/causes.ts';
import { currentConditions } from '../../main/engine/alerts/causes.ts';
import { advance, type AlertMessage, type Incident } from '../../main/engine/alerts/incidents.ts';
import { lines, slackPayload, teamsPayload } from '../../main/engine/alerts/render.ts';
import type { FlowStatus, StatusReport } from '../../main/engine/status.ts';
import type { ConnectionStatus } from '../../main/engine/oauth/state.ts';

const MIN = 60_000;
const opts = { throttleMs: 30 * MIN, canResolve: true };
const failing: Condition = { cause: 'flow-failing', flow: 'orders', text: 'the http destination is unreachable' };
const dead = (n: number): Condition => ({ cause: 'item-dead', flow: 'orders', text: `${n} items failed`, amount: n });

function run(steps: Array<[number, Condition[]]>, o = opts): AlertMessage[] {
  const incidents = new Map<string, Incident>();
  const out: AlertMessage[] = [];
  for (const [at, conditions] of steps) out.push(...advance(incidents, conditions, at * MIN, o).messages);
  return out;
}
const brief = (ms: AlertMessage[]) => ms.map((m) => `${m.at / MIN}:${m.kind}${m.repeat ? '+' : ''}:${m.unreported}`);

describe('alert incidents', () => {
  it('a cause is announced once, and its end once', () => {
    expect(brief(run([[0, [failing]], [1, [failing]], [5, [failing]], [6, []], [7, []]]))).toEqual(['0:problem:0', '6:resolved:0']);
  });

  it('flapping within the window: one problem, one resolved, then the held-back episodes summed up when the window is over', () => {
    const ms = run([[0, [failing]], [2, []], [3, [failing]], [4, []], [5, [failing]], [6, []], [20, []], [31, []], [40, []]]);
    // the window runs from the last message (the resolved at 2): the summary comes at 32 or later, checked at 40
    expect(brief(ms)).toEqual(['0:problem:0', '2:resolved:0', '40:resolved:2']);
  });

  it('a cause that comes back after the window is announced again, with the held-back count', () => {
    const ms = run([[0, [failing]], [1, []], [2, [failing]], [3, []], [40, [failing]]]);
    expect(brief(ms)).toEqual(['0:problem:0', '1:resolved:0', '40:problem:1']);
  });

  it('more dead items while it lasts: throttled, then one message with how many more', () => {
    const ms = run([[0, [dead(1)]], [1, [dead(3)]], [10, [dead(4)]], [31, [dead(4)]], [32, [dead(4)]], [50, []]]);
    expect(brief(ms)).toEqual(['0:problem:0', '31:problem+:3', '50:resolved:0']);
  });

  it('nothing is declared resolved while facts are being rebuilt after a start', () => {
    const incidents = new Map<string, Incident>();
    advance(incidents, [failing], 0, opts);
    expect(advance(incidents, [], MIN, { ...opts, canResolve: false }).messages).toEqual([]);
    expect(brief(advance(incidents, [], 2 * MIN, opts).messages)).toEqual(['2:resolved:0']);
  });

  it('throttleMinutes: 0 sends every change', () => {
    expect(brief(run([[0, [failing]], [1, []], [2, [failing]]], { ...opts, throttleMs: 0 }))).toEqual(['0:problem:0', '1:resolved:0', '2:problem:0']);
  });
});

describe('alert causes and words', () => {
  const flow = (over: Partial<FlowStatus>): FlowStatus => ({
    integration: 'i',
    flow: 'orders',
    enabled: true,
    paused: false,
    trigger: 'on change',
    counts: { queued: 2, inflight: 0, retrying: 1, delivered: 10, dead: 0, discarded: 0 },
    waitingBytes: 0,
    lastRunAt: null,
    nextRunAt: null,
    lastDeliveryAt: '2026-12-07T10:00:00.000Z',
    lastError: 'order-7.xml: HTTP 503 from crm.example',
    lastErrorAt: null,
    destination: { type: 'http', health: 'ok', unreachableSince: null },
    source: { type: 'folder', intakeBlocked: null, failingSince: null, problem: null },
    ...over,
  });
  const report = (f: FlowStatus): StatusReport => ({ generatedAt: '', running: true, flows: [f], totals: f.counts });

  it('a failing flow stays failing after its breaker closed (a restart) until it delivers again or nothing waits', () => {
    const unreachable = flow({ destination: { type: 'http', health: 'unreachable', unreachableSince: '2026-12-07T10:05:00.000Z' } });
    expect(currentConditions(report(unreachable), {}, () => undefined)).toEqual([
      expect.objectContaining({ cause: 'flow-failing', since: Date.parse('2026-12-07T10:05:00.000Z'), text: 'the http destination is unreachable; the last error: order-7.xml: HTTP 503 from crm.example' }),
    ]);
    const open = Date.parse('2026-12-07T10:05:00.000Z');
    expect(currentConditions(report(flow({})), {}, () => open).map((c) => c.cause)).toEqual(['flow-failing']);
    expect(currentConditions(report(flow({ lastDeliveryAt: '2026-12-07T10:06:00.000Z' })), {}, () => open)).toEqual([]);
    expect(currentConditions(report(flow({ counts: { queued: 0, inflight: 0, retrying: 0, delivered: 10, dead: 0, discarded: 0 } })), {}, () => open)).toEqual([]);
  });

  it('the OAuth connections\' per-flow fact, when the status carries it, is consent-needed', () => {
    const waiting = { ...flow({}), waitingFor: 'connection crm needs consent' } as FlowStatus;
    expect(currentConditions(report(waiting), {}, () => undefined)).toEqual([expect.objectContaining({ cause: 'consent-needed', text: 'deliveries wait: connection crm needs consent' })]);
  });

  it('a connection that needs consent, or whose consent ends within three days, is consent-needed for each enabled flow using it', () => {
    const connection = (over: Partial<ConnectionStatus>): ConnectionStatus => ({
      name: 'crm', inline: false, provider: 'login.crm.example', grant: 'authorization_code', state: 'connected', reason: null, since: '2026-12-07T09:00:00.000Z',
      connectedAt: null, refreshedAt: null, accessExpiresAt: null, consentExpiresAt: null, refreshes: 0, scopes: [], details: {}, usedBy: ['orders', 'off'], ...over,
    });
    const idle = flow({ counts: { queued: 0, inflight: 0, retrying: 0, delivered: 10, dead: 0, discarded: 0 } });
    const withConnections = (c: ConnectionStatus, f = idle): StatusReport => ({ ...report(f), flows: [f, { ...f, flow: 'off', enabled: false }], connections: [c] });
    // nothing waits on it yet: still told, once, for the enabled flow only
    expect(currentConditions(withConnections(connection({ state: 'consent_needed', reason: 'the provider refused the refresh token (invalid_grant)' })), {}, () => undefined)).toEqual([
      { cause: 'consent-needed', flow: 'orders', counts: idle.counts, since: Date.parse('2026-12-07T09:00:00.000Z'), text: "connection crm needs consent: the provider refused the refresh token (invalid_grant); the flow's calls to login.crm.example wait until then" },
    ]);
    // a flow whose deliveries already wait is told by that fact alone
    const waiting = { ...idle, waitingFor: 'connection crm needs consent' } as FlowStatus;
    expect(currentConditions(withConnections(connection({ state: 'consent_needed' }), waiting), {}, () => undefined).map((c) => c.text)).toEqual(['deliveries wait: connection crm needs consent']);
    // a consent ending soon is told ahead; one ending in a month is not; a connected one is not
    const soon = new Date(Date.now() + 2 * 24 * 3600_000).toISOString();
    expect(currentConditions(withConnections(connection({ consentExpiresAt: soon })), {}, () => undefined).map((c) => c.text)).toEqual([
      `the consent of connection crm ends ${soon}: renew it before then (Connect in the dashboard (Connections) or ferry connect crm)`,
    ]);
    expect(currentConditions(withConnections(connection({ consentExpiresAt: new Date(Date.now() + 30 * 24 * 3600_000).toISOString() })), {}, () => undefined)).toEqual([]);
    expect(currentConditions(withConnections(connection({})), {}, () => undefined)).toEqual([]);
  });

  it('Slack gets text and blocks, Teams an Adaptive Card in a message attachment, with the dashboard link', () => {
    const m: AlertMessage = { kind: 'problem', cause: 'item-dead', flow: 'orders', text: '2 items failed and wait for a person (dead)', since: 0, at: 5 * MIN, unreported: 0, counts: flow({}).counts };
    const ctx = { host: 'srv-01', dashboardUrl: 'http://127.0.0.1:7399', dashboardIsLocal: true, version: '0.1.0' };
    expect(lines(m, ctx)).toContain('Dashboard (on srv-01): http://127.0.0.1:7399/#/queue?flow=orders&state=dead');
    const slack = slackPayload(m, ctx) as { text: string; blocks: Array<{ type: string; elements?: Array<{ url?: string }> }> };
    expect(slack.text).toBe('[Ferry on srv-01] Problem: items failed in flow orders: 2 items failed and wait for a person (dead)');
    expect(slack.blocks.map((b) => b.type)).toEqual(['header', 'section', 'actions', 'context']);
    expect(slack.blocks[2].elements![0].url).toBe('http://127.0.0.1:7399/#/queue?flow=orders&state=dead');
    const teams = teamsPayload(m, ctx) as { type: string; attachments: Array<{ contentType: string; content: { type: string; body: Array<{ type: string; text?: string }>; actions: Array<{ type: string; url: string }> } }> };
    expect(teams.type).toBe('message');
    expect(teams.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(teams.attachments[0].content.type).toBe('AdaptiveCard');
    expect(teams.attachments[0].content.body[0]).toMatchObject({ type: 'TextBlock', text: 'Problem: items failed in flow orders' });
    expect(teams.attachments[0].content.actions[0]).toEqual({ type: 'Action.OpenUrl', title: 'Open the dashboard', url: 'http://127.0.0.1:7399/#/queue?flow=orders&state=dead' });
  });
});
