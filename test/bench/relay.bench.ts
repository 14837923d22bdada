// `ferry relay` intake: webhooks/s answered 202 (each only after its SQLite commit) and p99 answer time with
// 50 concurrent senders (autocannon) against a real `ferry relay` process, beside a baseline measured in the
// same run: a plain Node HTTP server that reads each body and answers 202 without storing it (the HTTP
// ceiling of this machine). CPU per webhook from /proc. Then the drain: an agent's polls emptying the queue.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { request } from 'undici';
import { startRelay } from '../helpers/relay.ts';
import { cpuMsOf, round, type BenchRow, type BenchSuite } from './harness.ts';

const TOKEN = 'bench-queue-token-0123456789';

function signedRequests(n: number) {
  const key = crypto.randomBytes(32);
  return Array.from({ length: n }, (_, i) => {
    const id = `msg_${i}`;
    const body = JSON.stringify({ type: 'order.created', data: { id: i, customer: `c-${i % 97}`, lines: Array.from({ length: 8 }, (_x, j) => ({ sku: `SKU-${j}`, qty: j + 1, price: 9.99 })) } });
    const t = String(Math.floor(Date.now() / 1000));
    const sig = crypto.createHmac('sha256', key).update(`${id}.${t}.${body}`).digest('base64');
    return { body, headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': t, 'webhook-signature': `v1,${sig}` } };
  });
}

async function load(url: string, prepared: ReturnType<typeof signedRequests>, seconds: number) {
  let n = 0;
  return autocannon({ url, connections: 50, duration: seconds, requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, ...prepared[n++ % prepared.length] }) }] });
}

export const relaySuite: BenchSuite = {
  name: 'relay',
  async run({ quick }) {
    const rows: BenchRow[] = [];
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-relay-'));
    const seconds = quick ? 3 : 10;
    const prepared = signedRequests(20_000);

    // baseline: the same requests to a server that stores nothing
    const baseline = spawn(process.execPath, ['-e', `require('node:http').createServer((req, res) => { const c = []; req.on('data', (d) => c.push(d)); req.on('end', () => {
        const b = '{"status":"stored"}'; res.writeHead(202, { 'content-type': 'application/json', 'content-length': String(b.length) }).end(b); }); })
      .listen(0, '127.0.0.1', function () { console.log(this.address().port); });`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const basePort = await new Promise<number>((resolve) => baseline.stdout!.once('data', (d) => resolve(Number(String(d).trim()))));
    const b0 = cpuMsOf(baseline.pid!);
    const base = await load(`http://127.0.0.1:${basePort}/hooks/bench`, prepared, seconds);
    const baseCpu = (cpuMsOf(baseline.pid!) - b0) / Math.max(base['2xx'], 1);
    baseline.kill();
    const baseRate = base['2xx'] / (base.duration || 1);
    rows.push({
      suite: 'relay',
      case: 'baseline: HTTP server answering 202, storing nothing',
      figures: { 'load avg': round(os.loadavg()[0], 1), 'webhooks/s': round(baseRate, 0), 'p50 ms': base.latency.p50, 'p99 ms': base.latency.p99, '2xx': base['2xx'], 'CPU ms/webhook': round(baseCpu, 3) },
    });

    const cfg = path.join(dir, 'relay.yaml');
    fs.writeFileSync(cfg, YAML.stringify({ dataDir: './data', listen: { address: '127.0.0.1', port: 0 }, queues: [{ name: 'bench', token: TOKEN, maxEvents: 100_000_000, maxBytes: 64 * 1024 ** 3 }] }));
    const relay = await startRelay(cfg);
    try {
      const c0 = cpuMsOf(relay.child.pid!);
      const result = await load(`${relay.url}/hooks/bench`, prepared, seconds);
      const ok = result['2xx'];
      const cpu = (cpuMsOf(relay.child.pid!) - c0) / Math.max(ok, 1);
      const db = new Database(path.join(dir, 'data', 'relay.db'), { readonly: true });
      const stored = (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
      db.close();
      const rate = ok / (result.duration || 1);
      rows.push({
        suite: 'relay',
        case: 'ferry relay: 50 senders, answered after commit',
        figures: { 'load avg': round(os.loadavg()[0], 1), 'webhooks/s': round(rate, 0), 'p50 ms': result.latency.p50, 'p99 ms': result.latency.p99, '2xx': ok, 'non-2xx': result.non2xx, errors: result.errors, stored, 'CPU ms/webhook': round(cpu, 3), '% of baseline': round((100 * rate) / baseRate, 0) },
        target: '≥ 2,000 webhooks/s stored, p99 ≤ 50 ms, every 2xx stored',
        met: rate >= 2000 && result.latency.p99 <= 50 && stored >= ok,
      });

      // the drain: one agent's long polls (pages of up to 500 events), each poll deleting what the last one passed
      const d0 = cpuMsOf(relay.child.pid!);
      const t0 = performance.now();
      let cursor: string | undefined;
      let drained = 0;
      for (;;) {
        const u = new URL(`${relay.url}/queues/bench`);
        u.searchParams.set('wait', '0');
        if (cursor) u.searchParams.set('cursor', cursor);
        const res = await request(u, { headers: { authorization: `Bearer ${TOKEN}` } });
        if (res.statusCode === 204) {
          await res.body.dump();
          break;
        }
        const page = (await res.body.json()) as { events: unknown[]; cursor: string };
        drained += page.events.length;
        cursor = page.cursor;
      }
      const secs = (performance.now() - t0) / 1000;
      rows.push({
        suite: 'relay',
        case: 'drain: one agent polling pages of 500',
        figures: { events: drained, 'events/s': round(drained / secs, 0), 'relay CPU ms/event': round((cpuMsOf(relay.child.pid!) - d0) / Math.max(drained, 1), 3) },
      });
    } finally {
      await relay.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
