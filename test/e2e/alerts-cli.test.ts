// Alerts through the real `ferry` CLI: `ferry alerts test` sends a test alert to every channel and says what
// each did; `ferry validate` names a bad alerts block's keys; `ferry status` lists the channels.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startFerry, writeConfig } from '../helpers/cli.ts';
import { parseMime, startSmtp, type SmtpSink } from '../helpers/mail.ts';
import { freePort } from '../helpers/net.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir } from '../helpers/tmp.ts';
import { proxyAvailable, startTinyproxy, TINYPROXY } from '../helpers/proxies.ts';

let smtp: SmtpSink;
let slack: Sink;
beforeAll(async () => {
  [smtp, slack] = await Promise.all([startSmtp({ user: 'alerts', pass: 'smtp-pass' }), startSink()]);
});
afterAll(async () => {
  await Promise.all([smtp?.close(), slack?.close()]);
});

function config(dir: string, alerts: unknown) {
  return writeConfig(dir, {
    dataDir: path.join(dir, 'data'),
    integrations: [{ name: 'i', flows: [{ name: 'orders', source: { type: 'folder', path: './outbox' }, destination: { type: 'folder', path: './inbox' } }] }],
    alerts,
  });
}

describe('alerts through the CLI', () => {
  it('ferry alerts test: a test alert on every channel, one line each, exit 1 when one failed', async () => {
    const dir = tempDir();
    const closed = await freePort();
    const file = config(dir, [
      { on: ['item-dead', 'flow-failing'], to: { type: 'email', to: ['it@site.example'], smtp: { host: '127.0.0.1', port: smtp.port, username: 'alerts', password: '${env:SMTP_PASSWORD}', tls: { rejectUnauthorized: false } } } },
      { on: ['flow-failing'], to: { type: 'webhook', url: `${slack.url}/services/T/B/x`, format: 'slack' } },
      { on: ['flow-failing'], to: { type: 'webhook', url: `http://127.0.0.1:${closed}/teams`, format: 'teams' } },
    ]);
    const r = await runCli(['alerts', 'test', '--config', file], { env: { SMTP_PASSWORD: 'smtp-pass' } });
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^alerts\[0\] email to it@site\.example: OK - sent \(SMTP 250 /),
      expect.stringMatching(/^alerts\[1\] slack webhook 127\.0\.0\.1:\d+: OK - sent/),
      expect.stringMatching(new RegExp(`^alerts\\[2\\] teams webhook 127\\.0\\.0\\.1:${closed}: FAILED - .*(refused|ECONNREFUSED)`)),
    ]);
    expect(r.code).toBe(1);
    expect(smtp.mails).toHaveLength(1);
    const mail = parseMime(smtp.mails[0].raw);
    expect(mail.headers.subject).toMatch(/^\[Ferry [^\]]+\] Test alert from Ferry$/);
    expect(mail.body.toString('utf8')).toContain('This is a test of the alert channel');
    const body = JSON.parse(slack.received[0].body.toString('utf8'));
    expect(body.blocks[0].text.text).toBe('ℹ️ Test alert from Ferry');
    expect(r.stdout).not.toContain('smtp-pass');
  });

  it('ferry validate names the keys of a bad alerts block; ferry status lists the channels', async () => {
    const dir = tempDir();
    const bad = config(dir, [{ on: ['item-died'], to: { type: 'pager', number: '1' }, throttleMinutes: -1 }, { on: ['disk-low'], to: { type: 'webhook', url: 'ftp://x', format: 'discord' } }]);
    const v = await runCli(['validate', '--config', bad]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('alerts[0].on[0]: expected one of "flow-failing" | "item-dead" | "source-failing" | "disk-low" | "consent-needed" | "config-refused", got "item-died"');
    expect(v.stderr).toContain('alerts[0].to.type: expected { type: email, to, smtp } or { type: webhook, url, format }, got "pager"');
    expect(v.stderr).toContain('alerts[0].throttleMinutes: expected at least 0');
    expect(v.stderr).toContain('alerts[1].to.url: expected an http(s) URL, got "ftp://x"');
    expect(v.stderr).toContain('alerts[1].to.format: expected one of "slack" | "teams" | "json", got "discord"');

    const good = config(dir, [{ on: ['flow-failing'], to: { type: 'webhook', url: slack.url, format: 'json' } }]);
    await runCli(['validate', '--config', good]);
    const ferry = await startFerry(good, { env: { FERRY_ADMIN: 'off' } }); // creates the queue
    expect(await ferry.stop()).toBe(0);
    const status = await runCli(['status', '--config', good]);
    expect(status.stdout).toMatch(/alerts\[0\] json webhook 127\.0\.0\.1:\d+ \(flow-failing\): nothing sent yet/);
  });

  it.skipIf(!proxyAvailable(TINYPROXY))('ferry alerts test sends through the config\'s network setting (network.proxy)', async () => {
    const proxy = await startTinyproxy();
    try {
      const dir = tempDir();
      const file = writeConfig(dir, {
        dataDir: path.join(dir, 'data'),
        network: { proxy: { url: proxy.url, noProxy: ['<-loopback>'] } }, // loopback would go direct without "<-loopback>"
        integrations: [],
        alerts: [{ on: ['flow-failing'], to: { type: 'webhook', url: `${slack.url}/via-proxy`, format: 'slack' } }],
      });
      const before = slack.received.length;
      const r = await runCli(['alerts', 'test', '--config', file]);
      expect(r.stdout).toMatch(/^alerts\[0\] slack webhook 127\.0\.0\.1:\d+: OK - sent/);
      expect(slack.received.length).toBe(before + 1);
      expect(proxy.log()).toContain(`127.0.0.1:${new URL(slack.url).port}`);
    } finally {
      await proxy.stop();
    }
  });
});
