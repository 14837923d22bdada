// The imap source through the real `ferry` CLI against Debian's Dovecot: `ferry check` names a wrong password
// plainly, and a kill -9 between the delivery and the move of the message loses nothing and repeats nothing.
import crypto from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startFerry, writeConfig } from '../helpers/cli.ts';
import { dovecotAvailable, startDovecot, type DovecotHandle } from '../helpers/dovecot.ts';
import { composeMail } from '../helpers/mime.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

let server: DovecotHandle;
let sink: Sink;
beforeAll(async () => {
  if (!dovecotAvailable()) throw new Error('these tests need /usr/sbin/dovecot (Debian dovecot-imapd) and root, as in CI');
  [server, sink] = await Promise.all([startDovecot(), startSink()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), sink?.close()]);
});

function config(dir: string, mailbox: string) {
  return writeConfig(dir, {
    dataDir: path.join(dir, 'data'),
    admin: { port: 0 },
    minFreeDiskMb: 0,
    integrations: [{
      name: 'mail',
      flows: [{
        name: 'orders-mail',
        source: { type: 'imap', host: '127.0.0.1', port: server.port, tls: 'starttls', tlsFingerprint: server.fingerprint, username: server.user, password: '${env:MAIL_PASSWORD}', mailbox, afterDelivery: { action: 'move', to: `${mailbox}/Processed` } },
        destination: { type: 'http', url: `${sink.url}/orders` },
        retry: { initialDelayMs: 200, maxDelayMs: 1000 },
      }],
    }],
  });
}

describe('imap through the CLI', () => {
  it('ferry check: a wrong password is named as such; the right one reads the mailbox', async () => {
    const dir = tempDir();
    const mailbox = `C${crypto.randomBytes(3).toString('hex')}`;
    await server.append(await composeMail({ from: 'a@supplier.example', subject: 'x' }), mailbox);
    const file = config(dir, mailbox);
    const wrong = await runCli(['check', '--config', file], { env: { MAIL_PASSWORD: 'not-the-password' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(new RegExp(`orders-mail source \\(imap\\): FAILED - authentication failed: 127\\.0\\.0\\.1:${server.port} refused user alice \\(AUTHENTICATIONFAILED: Authentication failed\\.\\) \\(check username and password\\)`));
    expect(wrong.stdout).not.toContain('not-the-password');
    const right = await runCli(['check', '--config', file], { env: { MAIL_PASSWORD: server.password } });
    expect(right.stdout).toContain(`orders-mail source (imap): OK - imap://alice@127.0.0.1:${server.port}/${mailbox}: 1 messages (1 unseen)`);
  });

  it('kill -9 after the delivery was recorded and before the message was moved: after the restart it is moved once, nothing is sent again', async () => {
    const dir = tempDir();
    const mailbox = `K${crypto.randomBytes(3).toString('hex')}`;
    await server.append(await composeMail({ from: 'a@supplier.example', subject: 'two files', messageId: 'kill-1@supplier.example', attachments: [{ filename: 'a.csv', content: 'a' }, { filename: 'b.csv', content: 'b' }] }), mailbox);
    const file = config(dir, mailbox);
    const env = { MAIL_PASSWORD: server.password };
    // the mail server stops answering Ferry as the first file arrives: the move after delivery cannot run
    let froze = 0;
    sink.behaviour = (req) => {
      if (req.url === '/orders' && froze === 0) froze = server.freezeSessions();
      return undefined;
    };
    const ferry = await startFerry(file, { env });
    let items: Array<{ state: string; after_pending: number; idem_key: string }> = [];
    try {
      await waitFor(async () => {
        const r = await runCli(['queue', 'list', '--config', file, '--json'], { env });
        items = JSON.parse(r.stdout);
        return items.length === 2 && items.every((i) => i.state === 'delivered');
      }, 'both files delivered and recorded');
      expect(froze).toBeGreaterThan(0);
      // the last file's after-delivery step (the move) is still to do; the first one only noted its delivery
      expect(items.map((i) => i.after_pending).sort()).toEqual([0, 1]);
    } finally {
      await ferry.kill9();
      server.thawSessions();
      sink.behaviour = () => undefined;
    }
    expect((await server.list(mailbox)).length).toBe(1);
    const restarted = await startFerry(file, { env });
    try {
      await waitFor(async () => (await server.list(`${mailbox}/Processed`)).length === 1, 'moved after the restart').catch((e) => { throw new Error(`${e.message}\n${restarted.output()}`); });
      expect(await server.list(mailbox)).toEqual([]);
      const after = JSON.parse((await runCli(['queue', 'list', '--config', file, '--json'], { env })).stdout) as typeof items;
      expect(after.map((i) => i.idem_key).sort()).toEqual(items.map((i) => i.idem_key).sort());
      const orders = sink.received.filter((r) => r.method === 'POST' && r.url === '/orders');
      expect(orders.length).toBe(2);
      expect(new Set(orders.map((r) => r.headers['idempotency-key'])).size).toBe(2);
    } finally {
      expect(await restarted.stop()).toBe(0);
    }
  });
});
