// Issue 18's figures. IMAP: messages/s a real `ferry run` takes from a 10,000-message mailbox (Debian's Dovecot,
// each message with a small CSV attachment), beside a plain imapflow client fetching the same attachments in the
// same run (the protocol's own pace); peak RSS while 50 MB attachments stream through (target ≤ 150 MB); the
// time from a message's arrival to its item under IDLE. SNS: verified notifications/s through `ferry run` (the
// signing certificate cached) beside the same receiver verifying Standard Webhooks HMACs, and the verifier alone.
// CPU time per message beside each.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { ImapFlow } from 'imapflow';
import { ferryBin, writeConfig } from '../helpers/cli.ts';
import { dovecotAvailable, startDovecot, type DovecotHandle } from '../helpers/dovecot.ts';
import { freePort } from '../helpers/net.ts';
import { startSnsHost, testCa } from '../helpers/sns.ts';
import { openStore } from '../../main/engine/engine.ts';
import { SnsReceiver } from '../../connectors/webhook/sns.ts';
import { Network, networkSchema } from '../../connectors/net/index.ts';
import { round, percentile, sampleRss, type BenchRow, type BenchSuite, cpuMsOf } from './harness.ts';

const MB = 1024 * 1024;


const b64 = (b: Buffer) => b.toString('base64').replace(/.{76}/g, '$&\r\n');

/** A message as mail programs write it: text body and one attachment. */
function message(i: number, attachment: Buffer, name: string): Buffer {
  const boundary = `b${i}`;
  return Buffer.from(
    [
      'From: Supplier <orders@supplier.example>',
      'To: alice@ferry.test',
      `Subject: Orders ${i}`,
      `Message-ID: <bench-${i}-${crypto.randomBytes(4).toString('hex')}@supplier.example>`,
      'Date: Mon, 07 Dec 2026 09:00:00 +0000',
      'MIME-Version: 1.0',
      `Content-Type: multipart/mixed; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Orders of batch ${i} attached.`,
      `--${boundary}`,
      `Content-Type: text/csv; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      b64(attachment),
      `--${boundary}--`,
      '',
    ].join('\r\n'),
  );
}

async function waitUntil(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (child && child.exitCode !== null) throw new Error(`${what}: ferry exited (${child.exitCode})`);
    if (Date.now() > end) throw new Error(`${what}: not done within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function spawnFerry(config: string, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; running: () => boolean; stderr: () => string } {
  const child = spawn(process.execPath, [ferryBin, 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FERRY_ADMIN: 'off', ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  return { child, running: () => out.includes('Ferry is running'), stderr: () => err.slice(-2000) };
}

async function stopFerry(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** The protocol's own pace: a plain imapflow client takes every message's attachment (search, metadata, one FETCH each). */
async function baseline(server: DovecotHandle, mailbox: string): Promise<{ secs: number; cpuMs: number; n: number }> {
  const c = new ImapFlow({ host: '127.0.0.1', port: server.port, secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false }, auth: { user: server.user, pass: server.password }, logger: false, disableAutoIdle: true });
  await c.connect();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  const lock = await c.getMailboxLock(mailbox);
  try {
    const uids = ((await c.search({ all: true }, { uid: true })) || []).sort((a, b) => a - b);
    for (let i = 0; i < uids.length; i += 200) {
      const metas = await c.fetchAll(uids.slice(i, i + 200).join(','), { uid: true, envelope: true, bodyStructure: true }, { uid: true });
      for (const m of metas) {
        const got = await c.downloadMany(String(m.uid), ['2'], { uid: true });
        if ((got as Record<string, { content?: Buffer }>)['2']?.content) n++;
      }
    }
  } finally {
    lock.release();
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await c.logout();
  return { secs, cpuMs: (cpu.user + cpu.system) / 1000, n };
}

function imapSource(server: DovecotHandle, mailbox: string) {
  return { type: 'imap', host: '127.0.0.1', port: server.port, tls: 'starttls', tlsFingerprint: server.fingerprint, username: server.user, password: server.password, mailbox, afterDelivery: { action: 'keep' } };
}

async function imapRows(quick: boolean): Promise<BenchRow[]> {
  if (!dovecotAvailable()) return [{ suite: 'mail', case: 'imap', figures: { skipped: 'needs /usr/sbin/dovecot and root' } }];
  const server = await startDovecot();
  const rows: BenchRow[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-mail-'));
  try {
    // BENCH_MAIL_CASES=big: only the 50 MB attachments (for profiling their memory)
    if (process.env.BENCH_MAIL_CASES !== 'big') {
      // ---- 10,000 messages
      const n = quick ? 1000 : 10_000;
      server.writeMaildir(Array.from({ length: n }, (_, i) => message(i, crypto.randomBytes(1500), `orders-${i}.csv`)));
      const warm = new ImapFlow({ host: '127.0.0.1', port: server.port, secure: false, doSTARTTLS: false, auth: { user: server.user, pass: server.password }, logger: false });
      await warm.connect();
      await warm.mailboxOpen('INBOX'); // Dovecot indexes the new Maildir once, before either side is timed
      await warm.logout();
      const base = await baseline(server, 'INBOX');

      const downPort = await freePort(); // nothing listens: deliveries wait, intake is measured alone
      const config = writeConfig(dir, {
        dataDir: './data',
        logLevel: 'warn',
        minFreeDiskMb: 64,
        integrations: [{ name: 'bench', flows: [{ name: 'mail', source: imapSource(server, 'INBOX'), destination: { type: 'http', url: `http://127.0.0.1:${downPort}/` }, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } }] }],
      });
      const t0 = Date.now();
      const ferry = spawnFerry(config);
      const rss = sampleRss(ferry.child.pid!, 50);
      let store: ReturnType<typeof openStore> | undefined;
      let cpuAtFirst = NaN;
      try {
        await waitUntil('the start', ferry.running, 60_000, ferry.child);
        store = openStore(path.join(dir, 'data'), { create: false });
        await waitUntil('the first message', () => {
          const c = store!.queue.count({ flow: 'mail' });
          if (c > 0 && Number.isNaN(cpuAtFirst)) cpuAtFirst = cpuMsOf(ferry.child.pid!);
          return c > 0;
        }, 60_000, ferry.child);
        await waitUntil(`${n} messages`, () => store!.queue.count({ flow: 'mail' }) >= n, 600_000, ferry.child);
        const cpu = cpuMsOf(ferry.child.pid!) - cpuAtFirst;
        const times = store.db.prepare("SELECT MIN(created_at) AS first, MAX(created_at) AS last FROM items WHERE flow = 'mail'").get() as { first: number; last: number };
        const intakeSecs = (times.last - times.first) / 1000;
        const rate = n / Math.max(intakeSecs, 0.001);
        const baseRate = base.n / base.secs;
        rows.push({
          suite: 'mail',
          case: `imap: ${n} messages (1.5 KB CSV each) taken, STARTTLS`,
          figures: {
            'load avg': round(os.loadavg()[0], 1),
            'msgs/s': round(rate, 0),
            'whole run s': round((Date.now() - t0) / 1000, 1),
            'Ferry CPU ms/msg': round(cpu / n, 3),
            'imapflow alone msgs/s': round(baseRate, 0),
            'imapflow alone CPU ms/msg': round(base.cpuMs / Math.max(base.n, 1), 3),
            '% of imapflow alone': round((rate / baseRate) * 100, 1),
            'peak RSS MB': rss.stop(),
          },
        });
      } finally {
        store?.close();
        rss.stop();
        await stopFerry(ferry.child);
      }
    }

    // ---- 50 MB attachments, streamed
    const big = Array.from({ length: quick ? 1 : 3 }, () => crypto.randomBytes(50 * MB));
    const bigDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-mail-big-'));
    try {
      for (const [i, b] of big.entries()) await server.append(message(100_000 + i, b, `big-${i}.bin`), 'Big');
      const out = path.join(bigDir, 'out');
      const bigConfig = writeConfig(bigDir, {
        dataDir: './data',
        logLevel: 'warn',
        minFreeDiskMb: 64,
        integrations: [{ name: 'bench', flows: [{ name: 'big', source: imapSource(server, 'Big'), destination: { type: 'folder', path: './out' } }] }],
      });
      const t1 = Date.now();
      const ferry = spawnFerry(bigConfig);
      const rss = sampleRss(ferry.child.pid!, 25);
      const done = () => big.every((_, i) => fs.existsSync(path.join(out, `big-${i}.bin`)));
      try {
        await waitUntil('the 50 MB attachments delivered', done, 600_000, ferry.child);
        const cpu = cpuMsOf(ferry.child.pid!);
        const peak = rss.stop();
        const same = big.every((b, i) => crypto.createHash('sha256').update(fs.readFileSync(path.join(out, `big-${i}.bin`))).digest('hex') === crypto.createHash('sha256').update(b).digest('hex'));
        rows.push({
          suite: 'mail',
          case: `imap: ${big.length} × 50 MB attachment (base64) → folder`,
          figures: { 'load avg': round(os.loadavg()[0], 1), 'whole run s': round((Date.now() - t1) / 1000, 1), 'MB/s': round((big.length * 50) / ((Date.now() - t1) / 1000), 1), 'Ferry CPU ms/MB': round(cpu / (big.length * 50), 1), 'peak RSS MB': peak, 'byte for byte': same ? 'yes' : 'NO' },
          target: 'peak RSS ≤ 150 MB (streamed, not held in memory)',
          met: peak <= 150 && same,
        });
      } finally {
        rss.stop();
        await stopFerry(ferry.child);
      }
    } finally {
      fs.rmSync(bigDir, { recursive: true, force: true });
    }

    // ---- IDLE: arrival → queued
    const idleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-mail-idle-'));
    try {
      const idleConfig = writeConfig(idleDir, {
        dataDir: './data',
        logLevel: 'warn',
        minFreeDiskMb: 64,
        integrations: [{ name: 'bench', flows: [{ name: 'idle', source: { ...imapSource(server, 'Idle'), pollSeconds: 3600 }, destination: { type: 'http', url: `http://127.0.0.1:${await freePort()}/` }, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } }] }],
      });
      await server.append(message(200_000, Buffer.from('a,b\n'), 'first.csv'), 'Idle');
      const ferry = spawnFerry(idleConfig);
      let store: ReturnType<typeof openStore> | undefined;
      try {
        await waitUntil('the start', ferry.running, 60_000, ferry.child);
        store = openStore(path.join(idleDir, 'data'), { create: false });
        await waitUntil('the first message', () => store!.queue.count({ flow: 'idle' }) === 1, 60_000, ferry.child);
        await new Promise((r) => setTimeout(r, 2000)); // let Ferry settle into IDLE
        const samples: number[] = [];
        for (let i = 0; i < (quick ? 5 : 20); i++) {
          const t = performance.now();
          await server.append(message(200_001 + i, Buffer.from('a,b\n'), `idle-${i}.csv`), 'Idle');
          await waitUntil('the IDLE message', () => store!.queue.count({ flow: 'idle' }) === i + 2, 60_000, ferry.child);
          samples.push(performance.now() - t);
        }
        samples.sort((a, b) => a - b);
        rows.push({
          suite: 'mail',
          case: `imap IDLE: arrival (APPEND) → queued, ${samples.length} messages`,
          figures: { 'load avg': round(os.loadavg()[0], 1), 'p50 ms': round(percentile(samples, 50), 0), 'p99 ms': round(percentile(samples, 99), 0), 'max ms': round(samples.at(-1)!, 0) },
          target: 'within seconds',
          met: samples.at(-1)! < 5000,
        });
      } finally {
        store?.close();
        await stopFerry(ferry.child);
      }
    } finally {
      fs.rmSync(idleDir, { recursive: true, force: true });
    }
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

async function snsRows(quick: boolean): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const ca = testCa();
  const host = await startSnsHost(ca);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-sns-'));
  const topic = 'arn:aws:sns:eu-central-1:123456789012:orders';
  const count = quick ? 2000 : 20_000;
  const payload = (i: number) => JSON.stringify({ orderId: `A-${i}`, total: i * 1.5, customer: `c-${i % 97}` });
  try {
    // signed up front (RSA signing is the sender's cost, not Ferry's)
    const messages = Array.from({ length: count }, (_, i) => JSON.stringify(host.message('Notification', { TopicArn: topic, Message: payload(i) })));

    // ---- the verifier alone, certificate cached
    const receiver = new SnsReceiver({ topics: [topic], hostPattern: host.hostPattern }, new Network(networkSchema.parse({ tls: { ca: [host.caFile] } })));
    await receiver.handle({}, Buffer.from(messages[0]));
    const sample = messages.slice(0, quick ? 1000 : 5000).map((m) => Buffer.from(m));
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (const m of sample) {
      const r = await receiver.handle({}, m);
      if (r.kind !== 'event') throw new Error(`not verified: ${JSON.stringify(r)}`);
    }
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await receiver.close();
    rows.push({
      suite: 'mail',
      case: `sns: verifier alone, ${sample.length} notifications (SHA256withRSA, certificate cached)`,
      figures: { 'verified/s': round(sample.length / secs, 0), 'CPU µs/notification': round(((cpu.user + cpu.system) / sample.length), 1) },
    });

    // ---- through `ferry run`: SNS against Standard Webhooks on the same receiver
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.ca);
    const port = await freePort();
    const downPort = await freePort();
    const secretKey = crypto.randomBytes(32);
    const destination = { type: 'http', url: `http://127.0.0.1:${downPort}/` };
    const config = writeConfig(dir, {
      dataDir: './data',
      logLevel: 'warn',
      minFreeDiskMb: 64,
      network: { tls: { ca: ['./ca.pem'] } }, // the engine trusts the test CA the way a site trusts a private one
      integrations: [{
        name: 'bench',
        flows: [
          { name: 'sns', source: { type: 'webhook', port, verify: { scheme: 'sns', topics: [topic], hostPattern: host.hostPattern } }, destination, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } },
          { name: 'hmac', source: { type: 'webhook', port, verify: { scheme: 'standard-webhooks', secret: `whsec_${secretKey.toString('base64')}` } }, destination, circuitBreaker: { failureThreshold: 1, cooldownMs: 600_000 } },
        ],
      }],
    });
    const ferry = spawnFerry(config);
    try {
      await waitUntil('the listener', async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${port}/hooks/sns`, { method: 'POST', body: messages[0], headers: { 'content-type': 'text/plain' } });
          return r.status === 202 || r.status === 200;
        } catch {
          return false;
        }
      }, 60_000, ferry.child);
      const duration = quick ? 3 : 8;
      const hmac = Array.from({ length: count }, (_, i) => {
        const id = `evt-${i}`;
        const body = payload(i);
        const t = String(Math.floor(Date.now() / 1000));
        const sig = crypto.createHmac('sha256', secretKey).update(`${id}.${t}.${body}`).digest('base64');
        return { body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': t, 'webhook-signature': `v1,${sig}` } };
      });
      const load = async (flow: string, prepared: Array<{ body: string; headers: Record<string, string> }>) => {
        let i = 0;
        const cpuStart = cpuMsOf(ferry.child.pid!);
        const r = await autocannon({
          url: `http://127.0.0.1:${port}/hooks/${flow}`,
          connections: 50,
          duration,
          // past the prepared ones, ids repeat: answered 200 as duplicates, after the same verification
          requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, ...prepared[i++ % prepared.length] }) }],
        });
        return { r, cpu: (cpuMsOf(ferry.child.pid!) - cpuStart) / Math.max(r['2xx'], 1) };
      };
      const hmacRun = await load('hmac', hmac);
      const snsRun = await load('sns', messages.map((body) => ({ body, headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' } })));
      const rate = (x: typeof snsRun) => x.r['2xx'] / (x.r.duration || 1);
      rows.push({
        suite: 'mail',
        case: 'sns: notifications through ferry run (50 senders, verified, answered after commit)',
        figures: {
          'load avg': round(os.loadavg()[0], 1),
          'verified/s': round(rate(snsRun), 0),
          'p99 ms': snsRun.r.latency.p99,
          'Ferry CPU ms/notification': round(snsRun.cpu, 3),
          'non-2xx': snsRun.r.non2xx,
          'Standard Webhooks/s': round(rate(hmacRun), 0),
          'Standard Webhooks CPU ms/request': round(hmacRun.cpu, 3),
          '% of Standard Webhooks': round((rate(snsRun) / rate(hmacRun)) * 100, 1),
          'certificate fetches': host.certFetches,
        },
      });
    } finally {
      await stopFerry(ferry.child);
    }
  } finally {
    await host.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export const mailSuite: BenchSuite = {
  name: 'mail',
  async run({ quick }) {
    return [...(await imapRows(quick)), ...(process.env.BENCH_MAIL_CASES === 'big' ? [] : await snsRows(quick))];
  },
};

export default mailSuite;
