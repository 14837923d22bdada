// An alert in the words and shapes each channel takes: an e-mail (subject and text), a Slack message (text
// and blocks), a Teams message (an Adaptive Card in a `message` attachment), or plain JSON.
import type { AlertMessage } from './incidents.ts';
import type { AlertChannel } from './schema.ts';

export interface RenderContext {
  /** This machine's name: alerts say which Ferry they come from. */
  host: string;
  /** The dashboard's address (no trailing slash), where one is reachable. */
  dashboardUrl?: string;
  /** True when dashboardUrl is this machine's own local address. */
  dashboardIsLocal?: boolean;
  version: string;
}

const TITLES: Record<AlertMessage['cause'], string> = {
  'flow-failing': 'flow failing',
  'item-dead': 'items failed',
  'source-failing': 'source failing',
  'disk-low': 'disk space low',
  'consent-needed': 'consent needed',
  'config-refused': 'configuration refused',
  test: 'test alert',
};

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function duration(ms: number): string {
  const min = Math.round(ms / 60_000);
  if (min < 1) return 'less than a minute';
  if (min < 120) return plural(min, 'minute');
  const h = Math.round(min / 60);
  return h < 48 ? plural(h, 'hour') : plural(Math.round(h / 24), 'day');
}

const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function title(m: AlertMessage): string {
  if (m.kind === 'test') return 'Test alert from Ferry';
  const what = `${TITLES[m.cause]}${m.flow ? ` in flow ${m.flow}` : ''}`;
  return m.kind === 'resolved' ? `Resolved: ${what}` : `Problem: ${what}`;
}

/** The link to the page of the dashboard that shows the cause. */
export function dashboardLink(m: AlertMessage, ctx: RenderContext): string | undefined {
  if (!ctx.dashboardUrl) return undefined;
  if (!m.flow) return `${ctx.dashboardUrl}/#/`;
  return `${ctx.dashboardUrl}/#/queue?flow=${encodeURIComponent(m.flow)}${m.cause === 'item-dead' ? '&state=dead' : ''}`;
}

/** The message's sentences, one per line. */
export function lines(m: AlertMessage, ctx: RenderContext): string[] {
  const out: string[] = [];
  if (m.kind === 'test') {
    out.push(`This is a test of the alert channel, sent by \`ferry alerts test\` on ${ctx.host}. Alerts will arrive like this one.`);
  } else if (m.kind === 'resolved') {
    out.push(`It cleared. It was: ${m.text}`);
    out.push(`It began ${utc(m.since)} and lasted ${duration(m.at - m.since)}.`);
    if (m.unreported > 0) out.push(`Since the last message it happened ${plural(m.unreported, 'more time')} and cleared each time (held back by throttleMinutes).`);
  } else {
    out.push(m.text.charAt(0).toUpperCase() + m.text.slice(1) + (m.text.endsWith('.') ? '' : '.'));
    out.push(`Since ${utc(m.since)} (${duration(m.at - m.since)}).`);
    if (m.repeat && m.unreported > 0) out.push(`${plural(m.unreported, 'more occurrence')} since the last message.`);
    else if (m.unreported > 0) out.push(`It also happened ${plural(m.unreported, 'more time')} since the last message (held back by throttleMinutes).`);
  }
  if (m.counts) {
    const c = m.counts;
    out.push(`Items now: ${c.queued} queued, ${c.inflight} in flight, ${c.retrying} retrying, ${c.dead} dead, ${c.delivered} delivered.`);
  }
  const link = dashboardLink(m, ctx);
  if (link) out.push(`Dashboard${ctx.dashboardIsLocal ? ` (on ${ctx.host})` : ''}: ${link}`);
  return out;
}

/** The alert as a JSON object (format: json, and the facts of the other formats). */
export function alertJson(m: AlertMessage, ctx: RenderContext): Record<string, unknown> {
  return {
    kind: m.kind,
    cause: m.cause,
    flow: m.flow,
    title: title(m),
    text: lines(m, ctx).join('\n'),
    detail: m.text,
    since: new Date(m.since).toISOString(),
    at: new Date(m.at).toISOString(),
    counts: m.counts ?? null,
    unreported: m.unreported,
    dashboardUrl: dashboardLink(m, ctx) ?? null,
    host: ctx.host,
    ferryVersion: ctx.version,
  };
}

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);
const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Slack incoming webhook: `text` (notifications, fallback) and `blocks` within Slack's size limits. */
export function slackPayload(m: AlertMessage, ctx: RenderContext): Record<string, unknown> {
  const head = `${m.kind === 'resolved' ? '✅' : m.kind === 'test' ? 'ℹ️' : '🔴'} ${title(m)}`;
  const body = lines(m, ctx).filter((l) => !l.startsWith('Dashboard'));
  const link = dashboardLink(m, ctx);
  const blocks: Array<Record<string, unknown>> = [
    { type: 'header', text: { type: 'plain_text', text: cut(head, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(body.map(slackEscape).join('\n'), 3000) } },
  ];
  if (link) blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open the dashboard' }, url: link }] });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: cut(slackEscape(`Ferry on ${ctx.host}${m.cause !== 'test' ? ` · ${m.cause}` : ''}${link && ctx.dashboardIsLocal ? ' · the dashboard opens on that machine' : ''}`), 3000) }] });
  return { text: cut(`[Ferry on ${ctx.host}] ${title(m)}: ${m.kind === 'test' ? 'test' : m.text}`, 3000), blocks };
}

/** Teams (Workflows "post to a channel when a webhook request is received", or an incoming webhook): an Adaptive Card. */
export function teamsPayload(m: AlertMessage, ctx: RenderContext): Record<string, unknown> {
  const body = lines(m, ctx).filter((l) => !l.startsWith('Dashboard'));
  const facts = [{ title: 'Ferry', value: ctx.host }, ...(m.flow ? [{ title: 'Flow', value: m.flow }] : []), ...(m.cause !== 'test' ? [{ title: 'Cause', value: m.cause }] : []), { title: 'Since', value: utc(m.since) }];
  const link = dashboardLink(m, ctx);
  const card: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body: [
      { type: 'TextBlock', size: 'Large', weight: 'Bolder', wrap: true, text: title(m), color: m.kind === 'resolved' ? 'Good' : m.kind === 'test' ? 'Default' : 'Attention' },
      ...body.map((text) => ({ type: 'TextBlock', wrap: true, text })),
      { type: 'FactSet', facts },
    ],
  };
  if (link) card.actions = [{ type: 'Action.OpenUrl', title: 'Open the dashboard', url: link }];
  return { type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] };
}

/** The queued body of an alert for a channel, its name, and (e-mail) its subject. */
export function renderFor(channel: AlertChannel, m: AlertMessage, ctx: RenderContext): { name: string; body: Buffer; subject?: string } {
  if (channel.type === 'email') {
    return { name: 'alert.txt', subject: `[Ferry ${ctx.host}] ${title(m)}`, body: Buffer.from(`${lines(m, ctx).join('\n\n')}\n\n-- \nFerry ${ctx.version} on ${ctx.host}\n`) };
  }
  const payload = channel.format === 'slack' ? slackPayload(m, ctx) : channel.format === 'teams' ? teamsPayload(m, ctx) : alertJson(m, ctx);
  return { name: 'alert.json', body: Buffer.from(JSON.stringify(payload)) };
}
