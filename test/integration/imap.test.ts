// The imap source against Debian's Dovecot (started by the test on 127.0.0.1, a test user, Maildir in a temp
// folder): attachments of every common kind taken byte for byte with the message's facts, nested multiparts
// and RFC 2231 names, filters, take modes, IDLE and polling, after-delivery only once delivered, the
// UID checkpoint and the Message-ID keeping every message taken once, TLS with a pinned certificate, XOAUTH2.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imapConnector } from '../../connectors/imap/index.ts';
import { imapSourceSchema } from '../../connectors/imap/schema.ts';
import { dovecotAvailable, startDovecot, type DovecotHandle } from '../helpers/dovecot.ts';
import { composeMail, nestedMail } from '../helpers/mime.ts';
import { runEngine, type EngineRun } from '../helpers/remote-engine.ts';
import { startSink } from '../helpers/sink.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let server: DovecotHandle;
let noIdle: DovecotHandle;
beforeAll(async () => {
  if (!dovecotAvailable()) throw new Error('these tests need /usr/sbin/dovecot (Debian dovecot-imapd) and root, as in CI');
  [server, noIdle] = await Promise.all([startDovecot({ oauth: true }), startDovecot({ idle: false })]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), noIdle?.stop()]);
});

/** A fresh mailbox name per test, so tests never see each other's mail. */
const box = () => `T${crypto.randomBytes(4).toString('hex')}`;

function imap(s: DovecotHandle, extra: Record<string, unknown> = {}) {
  return { type: 'imap', host: '127.0.0.1', port: s.port, tls: 'starttls', tlsFingerprint: s.fingerprint, username: s.user, password: s.password, ...extra };
}

/** A source built on its own (check, the config's schema applied). */
function source(s: DovecotHandle, extra: Record<string, unknown> = {}) {
  const { type: _t, ...cfg } = { ...imap(s), ...extra };
  return imapConnector.createSource!(imapSourceSchema.parse(cfg), { configDir: '/', log });
}

function mailFlow(source: object, destination: object, extra: object = {}) {
  return {
    integrations: [
      {
        name: 'mail',
        flows: [{ name: 'm', source, destination, retry: { initialDelayMs: 100, maxDelayMs: 500, maxAttempts: 100 }, circuitBreaker: { failureThreshold: 1000, cooldownMs: 100 }, ...extra }],
      },
    ],
  };
}

async function withEngine<T>(dir: string, config: object, fn: (run: EngineRun) => Promise<T>): Promise<T> {
  const run = await runEngine(dir, config);
  try {
    return await fn(run);
  } finally {
    await run.stop();
  }
}

describe('imap source', () => {
  it('takes CSV, PDF and XML attachments, non-ASCII (RFC 2231) names and parts of nested multiparts, byte for byte, with the message facts; then moves the message', async () => {
    const mailbox = box();
    const csv = Buffer.from('id;name\n1;M\xfcller\n', 'latin1'); // not UTF-8: must arrive unconverted
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), crypto.randomBytes(40_000)]);
    const xml = Buffer.from('<?xml version="1.0"?><statement><line amount="12.50"/></statement>');
    const big = crypto.randomBytes(700 * 1024); // above the in-memory limit: streamed
    const deep = crypto.randomBytes(3000);
    await server.append(await composeMail({
      from: 'Supplier Orders <orders@supplier.example>',
      subject: 'Orders 2026-12-01',
      messageId: 'orders-1@supplier.example',
      attachments: [
        { filename: 'orders.csv', content: csv, contentType: 'text/csv; charset=iso-8859-1' },
        { filename: 'invoice.pdf', content: pdf, contentType: 'application/pdf' },
        { filename: 'statement.xml', content: xml, contentType: 'application/xml' },
        { filename: 'Übersicht März.csv', content: 'a,b\n', contentType: 'text/csv' },
        { filename: 'archive.bin', content: big, contentType: 'application/octet-stream' },
      ],
    }), mailbox);
    await server.append(nestedMail('nested-1@supplier.example', deep), mailbox);
    await server.append(await composeMail({ from: 'spam@elsewhere.example', subject: 'Orders?', attachments: [{ filename: 'x.csv', content: 'no' }] }), mailbox);

    const dir = tempDir();
    const dest = path.join(dir, 'out');
    await withEngine(dir, mailFlow(imap(server, { mailbox, from: ['*@supplier.example'], afterDelivery: { action: 'move', to: `${mailbox}-done` } }), { type: 'folder', path: dest }), async (run) => {
      await waitFor(() => run.count('m', 'delivered') === 7, '7 attachments delivered', 30_000);
      expect(listFiles(dest).sort()).toEqual(['archive.bin', 'forwarded.eml', 'invoice.pdf', 'orders.csv', 'statement.xml', 'Übersicht März.csv', '€-Abrechnung Änderungen.dat'].sort());
      expect(fs.readFileSync(path.join(dest, 'orders.csv')).equals(csv)).toBe(true);
      expect(fs.readFileSync(path.join(dest, 'invoice.pdf')).equals(pdf)).toBe(true);
      expect(fs.readFileSync(path.join(dest, 'statement.xml')).equals(xml)).toBe(true);
      expect(fs.readFileSync(path.join(dest, 'archive.bin')).equals(big)).toBe(true);
      expect(fs.readFileSync(path.join(dest, '€-Abrechnung Änderungen.dat')).equals(deep)).toBe(true);
      expect(fs.readFileSync(path.join(dest, 'forwarded.eml'), 'utf8')).toContain('the forwarded text');
      const items = run.engine.queue.list({ flow: 'm' }).map((i) => ({ name: i.name, attrs: JSON.parse(i.attrs) }));
      const invoice = items.find((i) => i.name === 'invoice.pdf')!.attrs;
      expect(invoice).toMatchObject({ from: 'orders@supplier.example', fromName: 'Supplier Orders', subject: 'Orders 2026-12-01', date: '2026-12-01T08:30:00.000Z', messageId: '<orders-1@supplier.example>', contentType: 'application/pdf', mailbox });
      expect(items.find((i) => i.name === 'forwarded.eml')!.attrs).toMatchObject({ subject: 'Bestellung für März', contentType: 'message/rfc822' });
      // every item of a message delivered: the message moves (the filtered one stays)
      await waitFor(async () => (await server.list(`${mailbox}-done`)).length === 2, 'both messages moved');
      expect((await server.list(mailbox)).map((m) => m.subject)).toEqual(['Orders?']);
    });
  });

  it('moves a message only once every item taken from it is delivered; a failing destination leaves it in the mailbox', async () => {
    const mailbox = box();
    let failing = true;
    const sink = await startSink(() => (failing ? { status: 503 } : undefined));
    try {
      await server.append(await composeMail({ from: 'a@supplier.example', subject: 'two files', attachments: [{ filename: 'a.csv', content: 'a' }, { filename: 'b.csv', content: 'b' }] }), mailbox);
      const dir = tempDir();
      await withEngine(dir, mailFlow(imap(server, { mailbox, afterDelivery: { action: 'move', to: `${mailbox}-done` } }), { type: 'http', url: sink.url }), async (run) => {
        await waitFor(() => sink.received.length >= 4, 'attempts that fail');
        expect(run.count('m', 'delivered')).toBe(0);
        expect((await server.list(mailbox)).length).toBe(1);
        failing = false;
        await waitFor(() => run.count('m', 'delivered') === 2, 'both delivered');
        await waitFor(async () => (await server.list(`${mailbox}-done`)).length === 1, 'moved after both were delivered');
        expect(await server.list(mailbox)).toEqual([]);
        expect(sink.accepted.size).toBe(2);
      });
    } finally {
      await sink.close();
    }
  });

  it('a connection dropped in the middle of a large attachment: it is taken again after reconnecting, once, and so is everything after it', async () => {
    const mailbox = box();
    const big = crypto.randomBytes(3 * 1024 * 1024);
    await server.append(await composeMail({ from: 'd@supplier.example', subject: 'before', attachments: [{ filename: 'before.csv', content: 'b' }] }), mailbox);
    await server.append(await composeMail({ from: 'd@supplier.example', subject: 'big', attachments: [{ filename: 'big.bin', content: big }] }), mailbox);
    await server.append(await composeMail({ from: 'd@supplier.example', subject: 'after', attachments: [{ filename: 'after.csv', content: 'a' }] }), mailbox);
    const proxy = await startTcpProxy(server.port);
    const dir = tempDir();
    const dest = path.join(dir, 'out');
    try {
      const dropped = (async () => {
        await waitFor(() => proxy.bytes > 1024 * 1024, 'a part of the big attachment on the wire');
        proxy.dropAll();
      })();
      await withEngine(dir, mailFlow(imap(server, { mailbox, port: proxy.port, afterDelivery: { action: 'keep' } }), { type: 'folder', path: dest }), async (run) => {
        await dropped;
        await waitFor(() => run.count('m', 'delivered') === 3, 'all three delivered after the reconnect');
        expect(proxy.accepted).toBeGreaterThan(1);
        expect(listFiles(dest).sort()).toEqual(['after.csv', 'before.csv', 'big.bin']);
        expect(fs.readFileSync(path.join(dest, 'big.bin')).equals(big)).toBe(true);
      });
    } finally {
      await proxy.close();
    }
  });

  it('IDLE: a message arriving while Ferry waits is taken without any polling', async () => {
    const mailbox = box();
    await server.append(await composeMail({ from: 'x@supplier.example', subject: 'first', attachments: [{ filename: 'one.csv', content: '1' }] }), mailbox);
    const dir = tempDir();
    const dest = path.join(dir, 'out');
    // polling once an hour: only IDLE can bring the second message in
    await withEngine(dir, mailFlow(imap(server, { mailbox, pollSeconds: 3600, afterDelivery: { action: 'delete' } }), { type: 'folder', path: dest }), async () => {
      await waitFor(() => listFiles(dest).includes('one.csv'), 'the message there at start-up (reconciled)');
      await waitFor(async () => (await server.list(mailbox)).length === 0, `deleted after delivery `);
      await server.append(await composeMail({ from: 'x@supplier.example', subject: 'second', attachments: [{ filename: 'two.csv', content: '2' }] }), mailbox);
      await waitFor(() => listFiles(dest).includes('two.csv'), 'the message that arrived during IDLE');
    });
  });

  it('IDLE: a message arriving while a take runs is taken right after it, not at the next reconcile', async () => {
    const mailbox = box();
    const big = crypto.randomBytes(3 * 1024 * 1024);
    await server.append(await composeMail({ from: 'x@supplier.example', subject: 'big', attachments: [{ filename: 'big.bin', content: big }] }), mailbox);
    const proxy = await startTcpProxy(server.port, 1024 * 1024); // the take of the big attachment lasts seconds
    const dir = tempDir();
    const dest = path.join(dir, 'out');
    try {
      // polling once an hour: only the server's news during the take can bring the second message in
      await withEngine(dir, mailFlow(imap(server, { mailbox, port: proxy.port, pollSeconds: 3600, afterDelivery: { action: 'keep' } }), { type: 'folder', path: dest }), async () => {
        await waitFor(() => proxy.bytes > 512 * 1024, 'the big attachment on its way');
        await server.append(await composeMail({ from: 'x@supplier.example', subject: 'during', attachments: [{ filename: 'during.csv', content: 'd' }] }), mailbox);
        await waitFor(() => listFiles(dest).includes('big.bin'), 'the big attachment');
        await waitFor(() => listFiles(dest).includes('during.csv'), 'the message that arrived during the take');
      });
    } finally {
      await proxy.close();
    }
  });

  it('a server without IDLE is polled every pollSeconds', async () => {
    const mailbox = box();
    const dir = tempDir();
    const dest = path.join(dir, 'out');
    await withEngine(dir, mailFlow(imap(noIdle, { mailbox, pollSeconds: 5, afterDelivery: { action: 'delete' } }), { type: 'folder', path: dest }), async () => {
      await noIdle.append(await composeMail({ from: 'x@supplier.example', subject: 'polled', attachments: [{ filename: 'polled.csv', content: 'p' }] }), mailbox);
      await waitFor(() => listFiles(dest).includes('polled.csv'), 'the polled message');
    });
    const check = await source(noIdle, { mailbox }).check();
    expect(check).toMatchObject({ ok: true, message: expect.stringContaining('no IDLE: with trigger on change the mailbox is looked at every 60 s') });
  });

  it('on a schedule, the first scan runs at start-up (reconcile), not at the first tick', async () => {
    const mailbox = box();
    await server.append(await composeMail({ from: 'x@supplier.example', subject: 's', attachments: [{ filename: 'sched.csv', content: 's' }] }), mailbox);
    const dir = tempDir();
    const dest = path.join(dir, 'out');
    // the next tick is up to a year away: only the start-up scan can take it
    await withEngine(dir, mailFlow(imap(server, { mailbox, afterDelivery: { action: 'delete' } }), { type: 'folder', path: dest }, { trigger: { schedule: '0 0 1 1 *', catchUp: false } }), async () => {
      await waitFor(() => listFiles(dest).includes('sched.csv'), 'taken at start-up');
    });
  });

  it('take: message (raw and text) and both; subject and attachment-name filters', async () => {
    const mailbox = box();
    await server.append(await composeMail({ from: 'r@supplier.example', subject: 'Report 7', text: 'Totals: 42', html: '<p>Totals: <b>42</b></p>', messageId: 'rep-7@x', attachments: [{ filename: 'r.csv', content: 'r' }, { filename: 'r.png', content: 'png' }] }), mailbox);
    await server.append(await composeMail({ from: 'r@supplier.example', subject: 'Newsletter', messageId: 'news@x', attachments: [{ filename: 'n.csv', content: 'n' }] }), mailbox);
    await server.append(await composeMail({ from: 'r@supplier.example', subject: 'Report 8 (html only)', text: undefined, html: '<h1>Hello</h1><p>Totals: 43</p>', messageId: 'rep-8@x' }), mailbox);

    const run1 = tempDir();
    await withEngine(run1, mailFlow(imap(server, { mailbox, subject: '/^Report \\d+/', take: 'both', include: ['*.csv'], afterDelivery: { action: 'keep' } }), { type: 'folder', path: path.join(run1, 'out') }), async (run) => {
      await waitFor(() => run.count('m', 'delivered') === 2, 'r.csv and the raw message');
      expect(listFiles(path.join(run1, 'out')).sort()).toEqual(['Report 7.eml', 'r.csv']);
      const eml = fs.readFileSync(path.join(run1, 'out', 'Report 7.eml'), 'utf8');
      expect(eml).toMatch(/^Content-Type: multipart\/mixed/m);
      expect(eml).toContain('Message-ID: <rep-7@x>');
    });
    const run2 = tempDir();
    await withEngine(run2, mailFlow(imap(server, { mailbox, subject: 'Report *', take: 'message', messageAs: 'text', afterDelivery: { action: 'keep' } }), { type: 'folder', path: path.join(run2, 'out') }), async (run) => {
      await waitFor(() => run.count('m', 'delivered') === 2, 'two text bodies');
      expect(fs.readFileSync(path.join(run2, 'out', 'Report 7.txt'), 'utf8')).toBe('Totals: 42');
      expect(fs.readFileSync(path.join(run2, 'out', 'Report 8 (html only).txt'), 'utf8')).toMatch(/HELLO\s+Totals: 43/);
    });
  });

  it('flag: marks the message \\Seen with the keyword; it is never taken again, not after a restart, not when the checkpoint is lost', async () => {
    const mailbox = box();
    await server.append(await composeMail({ from: 'f@supplier.example', subject: 'flag me', messageId: 'flag-1@x', attachments: [{ filename: 'f.csv', content: 'f' }] }), mailbox);
    const dir = tempDir();
    const cfg = mailFlow(imap(server, { mailbox, afterDelivery: { action: 'flag', keyword: '$Taken' } }), { type: 'folder', path: path.join(dir, 'out') });
    await withEngine(dir, cfg, async () => {
      await waitFor(async () => (await server.list(mailbox))[0]?.flags.includes('$Taken'), 'flagged');
      expect((await server.list(mailbox))[0].flags).toContain('\\Seen');
    });
    await withEngine(dir, cfg, async (run) => {
      run.engine.db.prepare("DELETE FROM source_state WHERE flow = 'm' AND key LIKE 'uid:%'").run();
      await run.engine.flow('m').runScan('test');
      await waitFor(() => run.engine.flow('m').isIdle, 'idle');
      expect(run.count('m')).toBe(1);
      expect(listFiles(path.join(dir, 'out'))).toEqual(['f.csv']);
    });
  });

  it('a renumbered mailbox (new UIDVALIDITY) does not bring its messages in twice: the Message-ID is in the idempotency key', async () => {
    const mailbox = box();
    const mails = await Promise.all([1, 2].map((n) => composeMail({ from: 'u@supplier.example', subject: `m${n}`, messageId: `renumber-${n}@x`, attachments: [{ filename: `u${n}.csv`, content: `u${n}` }] })));
    for (const m of mails) await server.append(m, mailbox);
    const dir = tempDir();
    const dest = path.join(dir, 'out');
    const cfg = mailFlow(imap(server, { mailbox, afterDelivery: { action: 'keep' } }), { type: 'folder', path: dest });
    const checkpoint = (run: EngineRun) => JSON.parse((run.engine.db.prepare("SELECT value FROM source_state WHERE flow = 'm' AND key = ?").get(`uid:${mailbox}`) as { value: string }).value);
    let before: { uidValidity: string };
    await withEngine(dir, cfg, async (run) => {
      await waitFor(() => run.count('m', 'delivered') === 2, 'both taken');
      before = checkpoint(run);
    });
    // meanwhile the mailbox is made again (a restore, a move to another server): the same messages, new UIDs
    const c = await server.client();
    await c.mailboxDelete(mailbox);
    await c.mailboxCreate(mailbox);
    for (const m of mails) await c.append(mailbox, m);
    await c.append(mailbox, await composeMail({ from: 'u@supplier.example', subject: 'm3', messageId: 'renumber-3@x', attachments: [{ filename: 'u3.csv', content: 'u3' }] }));
    await c.logout();
    await withEngine(dir, cfg, async (run) => {
      await waitFor(() => run.count('m', 'delivered') === 3, 'only the new one taken');
      await waitFor(() => run.engine.flow('m').counters.duplicates === 2, 'the two known ones recognised');
      expect(listFiles(dest).sort()).toEqual(['u1.csv', 'u2.csv', 'u3.csv']);
      expect(checkpoint(run).uidValidity).not.toBe(before!.uidValidity);
    });
  });

  it('TLS: implicit TLS and STARTTLS with a pinned certificate; a wrong pin or an unpinned self-signed certificate is refused before the login', async () => {
    const check = (extra: Record<string, unknown>) => source(server, extra).check();
    expect(await check({ tls: 'implicit', port: server.tlsPort })).toMatchObject({ ok: true });
    expect(await check({ tls: 'starttls' })).toMatchObject({ ok: true, message: expect.stringContaining('IDLE: new mail is taken as it arrives') });
    const wrong = `SHA256:${'AB:'.repeat(31)}AB`;
    const logins = () => fs.readFileSync(path.join(server.maildir, '..', '..', '..', 'dovecot.log'), 'utf8').split('\n').filter((l) => /Login: user=<alice>/.test(l)).length;
    const before = logins();
    expect(await check({ tls: 'implicit', port: server.tlsPort, tlsFingerprint: wrong })).toEqual({ ok: false, message: expect.stringMatching(/^TLS certificate not trusted: 127\.0\.0\.1:\d+ presented SHA256:[0-9A-F:]+, tlsFingerprint pins SHA256:AB:AB/) });
    expect(await check({ tls: 'starttls', tlsFingerprint: wrong })).toMatchObject({ ok: false, message: expect.stringContaining('TLS certificate not trusted') });
    expect(await check({ tls: 'implicit', port: server.tlsPort, tlsFingerprint: undefined })).toEqual({ ok: false, message: expect.stringMatching(/TLS certificate not trusted \(\w+\) for 127\.0\.0\.1:\d+; a self-signed server needs tlsFingerprint/) });
    expect(logins()).toBe(before); // no password was sent to the wrong server
    expect(await check({ tls: 'implicit', port: server.port })).toMatchObject({ ok: false, message: expect.stringMatching(/TLS handshake|greeting/) });
  });

  it('XOAUTH2: logs in with an access token instead of a password; a refused token says so', async () => {
    const mailbox = box();
    await server.append(await composeMail({ from: 'o@supplier.example', subject: 'oauth', attachments: [{ filename: 'o.csv', content: 'o' }] }), mailbox);
    const { password: _none, ...noPassword } = imap(server, { mailbox, afterDelivery: { action: 'keep' } });
    const dir = tempDir();
    await withEngine(dir, mailFlow({ ...noPassword, oauth2: { accessToken: server.accessToken } }, { type: 'folder', path: path.join(dir, 'out') }), async (run) => {
      await waitFor(() => run.count('m', 'delivered') === 1, 'taken with XOAUTH2');
    });
    expect(server.introspected).toContain(server.accessToken);
    const bad = source(server, { password: undefined, oauth2: { accessToken: 'expired-token' } });
    expect(await bad.check()).toEqual({ ok: false, message: expect.stringMatching(/^authentication failed: 127\.0\.0\.1:\d+ refused the XOAUTH2 access token for alice/) });
  });

  it('dry run: lists the attachments the filters would take, without taking or flagging anything', async () => {
    const mailbox = box();
    await server.append(await composeMail({ from: 'd@supplier.example', subject: 'dry', attachments: [{ filename: 'one.csv', content: 'x'.repeat(4000) }, { filename: 'skip.png', content: 'p' }] }), mailbox);
    await server.append(await composeMail({ from: 'other@elsewhere.example', subject: 'dry', attachments: [{ filename: 'two.csv', content: 'y' }] }), mailbox);
    const r = await source(server, { mailbox, from: '*@supplier.example', include: ['*.csv'] }).dryRun!();
    expect(r).toMatchObject({ ok: true, truncated: false, files: [{ relativePath: expect.stringMatching(/^\d+\/one\.csv$/), state: 'complete', size: expect.any(Number) }] });
    expect((await server.list(mailbox)).every((m) => !m.flags.includes('\\Seen') && !m.flags.includes('$Ferry'))).toBe(true);
    expect(await source(server, { mailbox: 'NoSuchBox' }).dryRun!()).toEqual({ ok: false, message: expect.stringMatching(/^mailbox "NoSuchBox" does not exist on 127\.0\.0\.1:\d+/) });
  });

  it('a refused login makes the source failing with the reason, and is not tried again at once (servers lock accounts)', async () => {
    const dir = tempDir();
    const authFailures = () => (server.log().match(/auth failed/g) ?? []).length;
    const before = authFailures();
    await withEngine(dir, mailFlow(imap(server, { password: 'wrong' }), { type: 'folder', path: path.join(dir, 'out') }), async (run) => {
      const flow = run.engine.flow('m');
      await waitFor(() => flow.facts.sourceFailingSince !== undefined, 'the source failing');
      expect(flow.facts.sourceProblem).toMatch(/^cannot read imap:\/\/alice@127\.0\.0\.1:\d+\/INBOX: authentication failed: 127\.0\.0\.1:\d+ refused user alice/);
      await waitFor(() => authFailures() > before, 'the failed login in the server\'s log');
      // other failures are tried again after 1, 2, 4 s: a refused login waits minutes
      const runs = run.engine.maintenanceRuns;
      await waitFor(() => run.engine.maintenanceRuns >= runs + 4, 'four seconds of maintenance passes');
      expect(authFailures() - before).toBe(1);
    });
  });

  it('config: a password or oauth2 is required; clear text only to this machine; bad patterns are named', () => {
    const problems = (v: object) => imapSourceSchema.safeParse(v).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];
    expect(problems({ host: 'mail.example', username: 'u' })).toEqual(['password: required (or oauth2)']);
    expect(problems({ host: 'mail.example', username: 'u', password: 'p', tls: 'none' })).toEqual(['tls: "none" would send the login in clear text to mail.example; use implicit or starttls (none is only for a server on this machine)']);
    expect(problems({ host: 'mail.example', username: 'u', password: 'p', subject: '/[unclosed/' })[0]).toMatch(/^subject: not a valid regular expression/);
    expect(problems({ host: 'mail.example', username: 'u', password: 'p', afterDelivery: { action: 'move', to: 'INBOX' } })).toEqual(['afterDelivery.to: expected another mailbox than the one taken from (INBOX)']);
  });
});
