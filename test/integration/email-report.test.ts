// Scheduled file export: a nightly run polls the API, turns the open orders into a CSV and a PDF table
// report and e-mails them through a real SMTP server (STARTTLS and implicit TLS, with login). Also the
// email destination's reply handling: 4xx retries, 5xx and a refused login go dead with the reply.
import fs from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { startApi, type FakeApi } from '../helpers/api.ts';
import { attachmentsOf, leaves, parseMime, startSmtp, type SmtpSink } from '../helpers/mail.ts';
import { readPdf } from '../helpers/pdf.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { writeConfig } from '../helpers/cli.ts';

let engine: Engine | undefined;
let api: FakeApi | undefined;
const smtps: SmtpSink[] = [];
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await api?.close();
  api = undefined;
  for (const s of smtps.splice(0)) await s.close();
});

const NIGHTLY = { schedule: '0 2 * * *', timezone: 'Europe/Berlin', catchUp: false };
const today = () => {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

function emailTo(smtp: SmtpSink, extra: Record<string, unknown> = {}) {
  return {
    type: 'email', host: '127.0.0.1', port: smtp.port, security: 'starttls', tls: { rejectUnauthorized: false },
    auth: { user: 'reports', pass: 's3cret' }, from: 'Ferry <ferry@example.com>', to: ['erp@example.com'], ...extra,
  };
}

describe('nightly report by e-mail', () => {
  it('polls the API, builds a CSV and a PDF of the open orders and mails them as attachments', async () => {
    const dir = tempDir();
    api = await startApi();
    const starttls = await startSmtp({ user: 'reports', pass: 's3cret' });
    const implicit = await startSmtp({ secure: true, user: 'reports', pass: 's3cret' });
    smtps.push(starttls, implicit);
    const poll = { type: 'http-poll', url: `${api.url}/page/orders`, recordPath: 'data', pagination: { type: 'page', size: 10, sizeParam: 'per_page' }, emit: 'run' };
    const openOrders = [
      { parse: { format: 'ndjson' } },
      { filter: 'status = "OPEN"' },
      { map: '{ "Order": id, "Customer": customer, "Amount": amount }' },
    ];
    const cfg = {
      dataDir: path.join(dir, 'data'),
      integrations: [{
        name: 'reports',
        flows: [
          {
            name: 'nightly-csv', source: poll, trigger: NIGHTLY,
            process: [...openOrders, { format: { format: 'csv', delimiter: ';', decimalComma: true, encoding: 'windows-1252', fileName: 'orders-{date:yyyy-MM-dd}.csv' } }],
            destination: emailTo(starttls, { cc: 'controller@example.com', subject: 'Open orders {date:yyyy-MM-dd} ({attr.records} lines)', body: 'Good morning, the open orders are attached: {name}.' }),
          },
          {
            name: 'nightly-pdf', source: poll, trigger: NIGHTLY,
            process: [...openOrders, { format: { format: 'pdf', title: 'Open orders {date:yyyy-MM-dd}', fileName: 'orders-{date:yyyy-MM-dd}.pdf', columns: [{ field: 'Order', header: 'Order no.' }, { field: 'Customer', width: 3 }, { field: 'Amount', align: 'right' }] } }],
            destination: emailTo(implicit, { security: 'tls', subject: 'Open orders report' }),
          },
        ],
      }],
    };
    engine = Engine.open(loadConfig(writeConfig(dir, cfg)));
    await engine.start();
    await Promise.all([engine.flow('nightly-csv').runScan('nightly tick'), engine.flow('nightly-pdf').runScan('nightly tick')]);
    await waitFor(() => starttls.mails.length === 1 && implicit.mails.length === 1, 'both reports mailed', 20_000);

    const open = api.orders.filter((o) => o.status === 'OPEN');
    expect(open).toHaveLength(16);

    const csvMail = starttls.mails[0];
    expect(csvMail.user).toBe('reports');
    expect(csvMail.to.sort()).toEqual(['controller@example.com', 'erp@example.com']);
    const csvMime = parseMime(csvMail.raw);
    expect(csvMime.headers.subject).toBe(`Open orders ${today()} (25 lines)`);
    expect(csvMime.headers['message-id']).toMatch(/^<[0-9a-f]{40}@ferry\.local>$/);
    expect(leaves(csvMime).find((l) => l.headers['content-type'].startsWith('text/plain'))!.body.toString()).toContain(`the open orders are attached: orders-${today()}.csv`);
    const [csv] = attachmentsOf(csvMime);
    expect(csv.filename).toBe(`orders-${today()}.csv`);
    expect(csv.contentType).toBe('text/csv');
    const lines = iconv.decode(csv.content, 'windows-1252').trim().split('\r\n');
    expect(lines[0]).toBe('Order;Customer;Amount');
    expect(lines.slice(1)).toEqual(open.map((o) => `${o.id};${o.customer};${String(o.amount).replace('.', ',')}`));

    const pdfMime = parseMime(implicit.mails[0].raw);
    expect(pdfMime.headers.subject).toBe('Open orders report');
    const [pdf] = attachmentsOf(pdfMime);
    expect(pdf.filename).toBe(`orders-${today()}.pdf`);
    expect(pdf.contentType).toBe('application/pdf');
    const doc = readPdf(pdf.content);
    const text = doc.pageTexts.join('\n');
    expect(text).toContain(`Open orders ${today()}`);
    expect(text).toMatch(/Generated at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/);
    expect(text).toContain('Order no. Customer Amount');
    for (const o of open) expect(text).toContain(`${o.id} ${o.customer} ${o.amount}`);
    for (const o of api.orders.filter((x) => x.status === 'CLOSED')) expect(text).not.toContain(o.customer + ' ');
    expect(text).toContain('16 records');
  });

  it('a long report pages: headers repeat on every page, pages are numbered', async () => {
    const dir = tempDir();
    api = await startApi();
    for (let i = 26; i <= 140; i++) api.orders.push({ id: i, customer: `c${i}@example.com`, amount: i, status: 'OPEN', updated_at: new Date(Date.UTC(2024, 1, 1) + i * 1000).toISOString() });
    const smtp = await startSmtp({ user: 'reports', pass: 's3cret' });
    smtps.push(smtp);
    const cfg = {
      dataDir: path.join(dir, 'data'),
      integrations: [{ name: 'r', flows: [{
        name: 'long', trigger: NIGHTLY,
        source: { type: 'http-poll', url: `${api.url}/offset/orders`, recordPath: 'items', pagination: { type: 'offset', limit: 50 }, emit: 'run' },
        process: [{ parse: { format: 'ndjson' } }, { map: '{ "id": id, "customer": customer }' }, { format: { format: 'pdf', title: 'All orders' } }],
        destination: emailTo(smtp),
      }] }],
    };
    engine = Engine.open(loadConfig(writeConfig(dir, cfg)));
    await engine.start();
    await engine.flow('long').runScan('tick');
    await waitFor(() => smtp.mails.length === 1, 'the report mail', 20_000);
    const doc = readPdf(attachmentsOf(parseMime(smtp.mails[0].raw))[0].content);
    expect(doc.pages).toBeGreaterThanOrEqual(3);
    expect(doc.pageTexts).toHaveLength(doc.pages);
    doc.pageTexts.forEach((t, i) => {
      expect(t).toContain('id customer');
      expect(t).toContain(`Page ${i + 1}`);
    });
    expect(doc.pageTexts.join(' ')).toContain('140 c140@example.com');
  });
});

describe('email destination: SMTP replies', () => {
  async function fileFlow(dir: string, destination: Record<string, unknown>): Promise<Engine> {
    fs.mkdirSync(path.join(dir, 'in'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'in', 'note.txt'), 'Lieferung 4711 ist verschickt.\n');
    const e = Engine.open(loadConfig(writeConfig(dir, {
      dataDir: path.join(dir, 'data'),
      integrations: [{ name: 'm', flows: [{ name: 'mail', source: { type: 'folder', path: './in', settleMs: 50 }, destination, retry: { maxAttempts: 5, initialDelayMs: 50, maxDelayMs: 100 } }] }],
    })));
    await e.start();
    return e;
  }

  it('4xx retries (same Message-ID), then the item goes out as the mail body', async () => {
    const dir = tempDir();
    const smtp = await startSmtp({ user: 'reports', pass: 's3cret' });
    smtps.push(smtp);
    smtp.onRcpt = (_a, n) => (n === 0 ? { code: 451, message: 'Greylisted, try again later' } : undefined);
    engine = await fileFlow(dir, emailTo(smtp, { as: 'body', subject: 'Notice: {stem}' }));
    await waitFor(() => smtp.mails.length === 1, 'the mail after a retry', 20_000);
    const item = engine.queue.list({ flow: 'mail' })[0];
    await waitFor(() => engine!.queue.list({ flow: 'mail' })[0].state === 'delivered', 'delivered', 5000);
    const attempts = engine.queue.attemptsOf(item.id);
    expect(attempts[0]).toMatchObject({ outcome: 'retry', status: 451 });
    expect(attempts[0].error).toMatch(/451 Greylisted, try again later/);
    const mime = parseMime(smtp.mails[0].raw);
    expect(mime.headers.subject).toBe('Notice: note');
    expect(mime.body.toString('utf8').trim()).toBe('Lieferung 4711 ist verschickt.');
    expect(mime.headers['message-id']).toBe(`<${engine.queue.get(item.id)!.idem_key}@ferry.local>`);
  });

  it('5xx goes dead with the reply; a refused login goes dead naming the credentials', async () => {
    const dir = tempDir();
    const smtp = await startSmtp({ user: 'reports', pass: 's3cret' });
    smtps.push(smtp);
    smtp.onRcpt = () => ({ code: 550, message: 'Mailbox unavailable' });
    engine = await fileFlow(dir, emailTo(smtp));
    const dead = await waitFor(() => engine!.queue.list({ flow: 'mail', state: 'dead' })[0], 'dead item', 20_000);
    expect(dead.last_error).toMatch(/550 Mailbox unavailable/);
    expect(dead.last_status).toBe(550);
    expect(dead.attempts).toBe(1);
    await engine.stop();
    engine = undefined;

    const dir2 = tempDir();
    const smtp2 = await startSmtp({ user: 'reports', pass: 's3cret' });
    smtps.push(smtp2);
    engine = await fileFlow(dir2, emailTo(smtp2, { auth: { user: 'reports', pass: 'wrong' } }));
    const dead2 = await waitFor(() => engine!.queue.list({ flow: 'mail', state: 'dead' })[0], 'dead item', 20_000);
    expect(dead2.last_error).toMatch(/SMTP login to 127\.0\.0\.1:\d+ refused: 535 Invalid username or password \(check auth\.user\/auth\.pass\)/);
    expect(smtp2.logins).toEqual([{ user: 'reports', ok: false }]);
    expect(smtp2.mails).toHaveLength(0);
  });
});
