// Alerts through the real engine: an e-mail to a real SMTP server (smtp-server), Slack / Teams / JSON
// webhooks to a sink, each cause from real facts (a dead item, an unreachable destination, a mail server that
// refuses connections, the disk floor, a refused config), throttling and "resolved", an alert that waits in
// the queue across a restart, and a failing channel that shows in the status while the data flows go on.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { startWithAdmin } from '../../main/engine/admin/server.ts';
import { Engine } from '../../main/engine/engine.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import { writeConfig } from '../helpers/cli.ts';
import { parseMime, startSmtp, type SmtpSink } from '../helpers/mail.ts';
import { freePort } from '../helpers/net.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { proxyAvailable, startTinyproxy, TINYPROXY } from '../helpers/proxies.ts';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!().catch(() => undefined);
});

async function sink(behaviour?: Parameters<typeof startSink>[0]): Promise<Sink> {
  const s = await startSink(behaviour);
  closers.push(() => s.close());
  return s;
}

async function smtp(): Promise<SmtpSink> {
  const s = await startSmtp({ user: 'alerts', pass: 'smtp-pass' });
  closers.push(() => s.close());
  return s;
}

/** A folder → http flow "orders" whose sink decides the outcome, plus the alert rules given. */
function config(dir: string, destinationUrl: string, alerts: object[], extra: Record<string, unknown> = {}) {
  fs.mkdirSync(path.join(dir, 'outbox'), { recursive: true });
  return writeConfig(dir, {
    dataDir: './data',
    admin: { port: 0 },
    minFreeDiskMb: 0,
    integrations: [{
      name: 'shop',
      flows: [{
        name: 'orders',
        source: { type: 'folder', path: './outbox', settleMs: 50 },
        destination: { type: 'http', url: destinationUrl },
        retry: { maxAttempts: 2, initialDelayMs: 50, maxDelayMs: 100 },
        circuitBreaker: { failureThreshold: 1, cooldownMs: 100 },
      }],
    }],
    alerts,
    ...extra,
  });
}

async function open(file: string): Promise<Engine> {
  const engine = Engine.open(loadConfig(file), { log: silentLogger, stopGraceMs: 2000, alerts: { checkMs: 100, startGraceMs: 0, retry: { initialDelayMs: 100, maxDelayMs: 300 } } });
  await startWithAdmin(engine); // the alerts link to its dashboard
  closers.push(() => engine.stop());
  return engine;
}

const json = (s: Sink, n: number) => JSON.parse(s.received[n].body.toString('utf8'));
const drop = (dir: string, name: string) => fs.writeFileSync(path.join(dir, 'outbox', name), `<order name="${name}"/>`);

describe('alerts', () => {
  it('e-mail: a dead item is announced through a real SMTP server, and "resolved" follows once it is replayed and delivered', async () => {
    const mail = await smtp();
    let refuse = true;
    const api = await sink(() => (refuse ? { status: 422, body: 'order total missing' } : undefined));
    const dir = tempDir();
    const engine = await open(config(dir, api.url, [
      { on: ['item-dead'], flows: ['ord*'], to: { type: 'email', to: ['it@site.example'], from: 'ferry@site.example', smtp: { host: '127.0.0.1', port: mail.port, username: 'alerts', password: 'smtp-pass', tls: { rejectUnauthorized: false } } } },
    ]));
    drop(dir, 'order-1.xml');
    await waitFor(() => mail.mails.length === 1, 'the alert mail').catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(engine.status().alerts)}`);
    });
    const problem = parseMime(mail.mails[0].raw);
    expect(mail.mails[0].to).toEqual(['it@site.example']);
    expect(mail.logins).toEqual([{ user: 'alerts', ok: true }]);
    expect(problem.headers.subject).toMatch(/^\[Ferry [^\]]+\] Problem: items failed in flow orders$/);
    const text = problem.body.toString('utf8');
    expect(text).toContain('1 item failed and waits for a person (dead); the last error: order-1.xml: HTTP 422');
    expect(text).toMatch(/Items now: 0 queued, 0 in flight, 0 retrying, 1 dead, 0 delivered\./);
    expect(text).toContain(`Dashboard (on `);
    expect(text).toContain(`${engine.dashboardUrl}/#/queue?flow=orders&state=dead`);

    refuse = false;
    engine.retry({ flow: 'orders', state: 'dead' });
    await waitFor(() => mail.mails.length === 2, 'the resolved mail');
    expect(parseMime(mail.mails[1].raw).headers.subject).toMatch(/Resolved: items failed in flow orders$/);
    expect(parseMime(mail.mails[1].raw).body.toString('utf8')).toContain('It cleared. It was: 1 item failed');
    // the SMTP server has the mail before Ferry has recorded its delivery
    await waitFor(() => engine.status().alerts![0].counts.delivered === 2, 'the resolved mail recorded as delivered');
    expect(engine.status().alerts![0]).toMatchObject({ channel: 'email to it@site.example', health: 'ok', counts: expect.objectContaining({ delivered: 2 }) });
  });

  it('Slack (text and blocks), Teams (Adaptive Card in a message attachment) and JSON webhooks; one message per flow and cause per window', async () => {
    const [slack, teams, plain] = [await sink(), await sink(), await sink()];
    const api = await sink(() => ({ status: 400 }));
    const dir = tempDir();
    const engine = await open(config(dir, api.url, [
      { on: ['item-dead'], to: { type: 'webhook', url: `${slack.url}/services/T0/B0/secret`, format: 'slack' } },
      { on: ['item-dead'], to: { type: 'webhook', url: `${teams.url}/workflows/x`, format: 'teams' } },
      { on: ['item-dead'], to: { type: 'webhook', url: plain.url, format: 'json', headers: { 'X-Api-Key': 'k' } } },
    ]));
    drop(dir, 'a.xml');
    await waitFor(() => slack.received.length === 1 && teams.received.length === 1 && plain.received.length === 1, 'one message on each channel');
    const s = json(slack, 0);
    expect(typeof s.text).toBe('string');
    expect(s.text).toMatch(/^\[Ferry on .+\] Problem: items failed in flow orders: 1 item failed/);
    expect(s.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: '🔴 Problem: items failed in flow orders', emoji: true } });
    expect(s.blocks[1].type).toBe('section');
    expect(slack.received[0].headers['content-type']).toBe('application/json; charset=utf-8');
    const t = json(teams, 0);
    expect(t.type).toBe('message');
    expect(t.attachments).toHaveLength(1);
    expect(t.attachments[0].contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(t.attachments[0].content).toMatchObject({ type: 'AdaptiveCard', version: '1.4', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(t.attachments[0].content.body[0]).toMatchObject({ type: 'TextBlock', text: 'Problem: items failed in flow orders' });
    expect(t.attachments[0].content.body.at(-1).type).toBe('FactSet');
    const j = json(plain, 0);
    expect(j).toMatchObject({ kind: 'problem', cause: 'item-dead', flow: 'orders', counts: { dead: 1 }, unreported: 0 });
    expect(plain.received[0].headers['x-api-key']).toBe('k');

    // more dead items within the window: held back (throttleMinutes 30)
    const evaluations = engine.alerts.evaluations;
    drop(dir, 'b.xml');
    drop(dir, 'c.xml');
    await waitFor(() => engine.queue.count({ flow: 'orders', state: 'dead' }) === 3, 'three dead');
    await waitFor(() => engine.alerts.evaluations > evaluations + 5, 'the alerts looked again a few times');
    expect([slack, teams, plain].map((x) => x.received.length)).toEqual([1, 1, 1]);

    // replayed away (discarded): resolved, with the two held back
    await engine.discard({ flow: 'orders', state: 'dead' });
    await waitFor(() => plain.received.length === 2, 'resolved');
    expect(json(plain, 1)).toMatchObject({ kind: 'resolved', cause: 'item-dead', unreported: 2 });
    expect(json(plain, 1).text).toContain('Since the last message it happened 2 more times');
  });

  it.skipIf(!proxyAvailable(TINYPROXY))('webhook channels follow the network setting: through network.proxy like every HTTP client', async () => {
    const proxy = await startTinyproxy();
    closers.push(() => proxy.stop());
    const [chat, api] = [await sink(), await sink(() => ({ status: 400 }))];
    const dir = tempDir();
    // loopback goes direct unless "<-loopback>" says otherwise: the sinks listen on 127.0.0.1
    await open(config(dir, api.url, [{ on: ['item-dead'], to: { type: 'webhook', url: `${chat.url}/hook`, format: 'json' } }], { network: { proxy: { url: proxy.url, noProxy: ['<-loopback>'] } } }));
    drop(dir, 'a.xml');
    await waitFor(() => chat.received.length === 1, 'the alert');
    expect(json(chat, 0)).toMatchObject({ kind: 'problem', cause: 'item-dead', flow: 'orders' });
    expect(proxy.log()).toContain(`127.0.0.1:${new URL(chat.url).port}`);
  });

  it('source-failing (a mail server that refuses connections) and disk-low (sent although intake is paused for it)', async () => {
    const plain = await sink();
    const dir = tempDir();
    const closed = await freePort(); // nothing listens there
    const file = writeConfig(dir, {
      dataDir: './data',
      admin: { port: 0 },
      minFreeDiskMb: 1024 * 1024 * 1024, // a petabyte: the disk is "low"
      integrations: [{ name: 'x', flows: [{ name: 'mail-in', source: { type: 'imap', host: '127.0.0.1', port: closed, tls: 'none', username: 'u', password: 'p' }, destination: { type: 'folder', path: './in' } }] }],
      alerts: [{ on: ['source-failing', 'disk-low'], to: { type: 'webhook', url: plain.url } }],
    });
    await open(file);
    const all = () => plain.received.map((r) => JSON.parse(r.body.toString('utf8')));
    await waitFor(() => all().some((a) => a.cause === 'source-failing') && all().some((a) => a.cause === 'disk-low'), 'source-failing and disk-low');
    expect(all().find((a) => a.cause === 'source-failing')).toMatchObject({ flow: 'mail-in', detail: expect.stringMatching(/^the imap source is failing: cannot read imap:\/\/u@127\.0\.0\.1:\d+\/INBOX: host unreachable: connection refused/) });
    expect(all().find((a) => a.cause === 'disk-low')).toMatchObject({ flow: null, detail: expect.stringMatching(/^intake is paused: disk nearly full/) });
  });

  it('flow-failing: an unreachable destination is announced; resolved once it delivers again', async () => {
    const plain = await sink();
    const port = await freePort();
    const dir = tempDir();
    const engine = await open(config(dir, `http://127.0.0.1:${port}/api`, [{ on: ['flow-failing'], to: { type: 'webhook', url: plain.url } }]));
    drop(dir, 'o.xml');
    await waitFor(() => plain.received.length === 1, 'flow-failing');
    expect(json(plain, 0)).toMatchObject({ kind: 'problem', cause: 'flow-failing', flow: 'orders', detail: expect.stringMatching(/^the http destination is unreachable; the last error: o\.xml: .*refused/) });
    // the alert can arrive while the item's last attempt is still being recorded: replay it once it is dead
    await waitFor(() => engine.queue.count({ flow: 'orders', state: 'dead' }) === 1, 'the item dead');
    const api = await startSink(undefined, port);
    closers.push(() => api.close());
    engine.retry({ flow: 'orders', state: 'dead' });
    await waitFor(() => plain.received.length === 2, 'resolved');
    expect(json(plain, 1)).toMatchObject({ kind: 'resolved', cause: 'flow-failing', flow: 'orders' });
  });

  it('config-refused: a changed config file with problems is announced (the old one runs on); a good one resolves it', async () => {
    const plain = await sink();
    const dir = tempDir();
    const file = config(dir, `${plain.url}/api`, [{ on: ['config-refused'], to: { type: 'webhook', url: plain.url } }]);
    const good = fs.readFileSync(file, 'utf8');
    const engine = await open(file);
    fs.writeFileSync(file, good.replace('settleMs: 50', 'settleMs: soon'));
    await expect(engine.reload()).rejects.toThrow(/problem/);
    await waitFor(() => plain.received.some((r) => r.url === '/'), 'config-refused');
    expect(json(plain, 0)).toMatchObject({ cause: 'config-refused', flow: null, detail: expect.stringContaining('integrations[0].flows[0].source.settleMs: expected number') });
    fs.writeFileSync(file, good);
    await engine.reload();
    await waitFor(() => plain.received.filter((r) => r.url === '/').length === 2, 'resolved');
    expect(json(plain, 1)).toMatchObject({ kind: 'resolved', cause: 'config-refused' });
  });

  it('an alert the channel cannot take waits in the queue, across a restart, and goes out once the channel is back; the data flows never notice', async () => {
    let down = true;
    const hook = await sink(() => (down ? { status: 503 } : undefined));
    const api = await sink((req) => (req.headers['x-ferry-filename'] === 'dead.xml' ? { status: 400 } : undefined));
    const dir = tempDir();
    const file = config(dir, api.url, [{ on: ['item-dead'], to: { type: 'webhook', url: hook.url, format: 'json' } }]);
    let engine = await open(file);
    drop(dir, 'dead.xml');
    await waitFor(() => engine.status().alerts![0].lastError?.includes('HTTP 503'), 'the channel failing, in the status');
    // the data flow goes on while its alert channel fails
    drop(dir, 'fine.xml');
    await waitFor(() => engine.queue.count({ flow: 'orders', state: 'delivered' }) === 1, 'the other file delivered');
    const status = engine.status();
    expect(status.alerts![0]).toMatchObject({ health: 'failing', counts: expect.objectContaining({ delivered: 0 }) });
    expect(status.totals).toMatchObject({ delivered: 1, dead: 1, retrying: 0, queued: 0 }); // alerts are not data
    await engine.stop();
    closers.pop();

    down = false;
    const before = hook.received.length;
    engine = await open(file);
    await waitFor(() => engine.status().alerts![0].health === 'ok', 'delivered after the restart');
    const accepted = [...hook.accepted.values()].flat();
    expect(accepted).toHaveLength(1);
    expect(JSON.parse(accepted[0].body.toString())).toMatchObject({ kind: 'problem', cause: 'item-dead', flow: 'orders' });
    expect(hook.received.length).toBeGreaterThan(before);
    // the incident was kept: no second announcement of the same dead item after the restart
    const evaluations = engine.alerts.evaluations;
    await waitFor(() => engine.alerts.evaluations > evaluations + 5, 'the alerts looked again');
    expect([...hook.accepted.values()].flat()).toHaveLength(1);
  });

  it('an OAuth connection a source uses that needs consent is told before its first scheduled call', async () => {
    const plain = await sink();
    const api = await sink();
    const dir = tempDir();
    const file = writeConfig(dir, {
      dataDir: './data',
      minFreeDiskMb: 0,
      connections: { crm: { type: 'oauth2', preset: 'salesforce', clientId: 'ferry-test', scopes: ['api'] } },
      integrations: [{ name: 'shop', flows: [{
        name: 'orders',
        source: { type: 'http-poll', url: `${api.url}/records`, auth: { type: 'oauth2', connection: 'crm' } },
        trigger: { schedule: '0 0 1 1 *', catchUp: false },
        destination: { type: 'folder', path: './inbox' },
      }] }],
      alerts: [{ on: ['consent-needed'], flows: ['orders'], to: { type: 'webhook', url: plain.url } }],
    });
    const engine = Engine.open(loadConfig(file), { log: silentLogger, alerts: { checkMs: 100, startGraceMs: 0 } });
    await engine.start();
    closers.push(() => engine.stop());
    // no delivery waits on it (the destination is a folder) and the source has not run: the connection says it
    await waitFor(() => plain.received.length === 1, 'consent-needed');
    expect(engine.status().flows[0].waitingFor).toBeNull();
    expect(json(plain, 0)).toMatchObject({ kind: 'problem', cause: 'consent-needed', flow: 'orders' });
    expect(json(plain, 0).detail).toContain("connection crm needs consent: not connected yet: give consent in the dashboard (Connections, Connect) or with: ferry connect crm; the flow's calls to");
    expect(api.received).toHaveLength(0);
  });
});
