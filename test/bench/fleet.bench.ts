// Issue "Fleet" figures, against the real `ferry run` process:
// - GET /metrics with 50 flows and 100,000 queued items (target p99 ≤ 20 ms), sequential, next to
//   GET /api/openapi.json on the same server as a no-database baseline, and while 5 flows deliver;
// - the RSS the metrics add (target ≤ 5 MB): the process's RSS before its first scrape (prom-client is not
//   loaded until then) and after 1,000 scrapes, each the median of 5 readings once the process settled.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { percentile, round, type BenchRow, type BenchSuite } from './harness.ts';
import { seedPausedFlows, sequential, startFerry, tmp } from './admin.bench.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/** Median of five RSS readings 500 ms apart. */
async function settledRss(pid: number): Promise<number> {
  const r: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(500);
    r.push(rssMb(pid));
  }
  return r.sort((a, b) => a - b)[2];
}

function call(agent: http.Agent, port: number, token: string, method: string, p: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port, method, path: p, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode! < 300 ? resolve(performance.now() - t0) : reject(new Error(`${method} ${p}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function metricsCase(quick: boolean): Promise<BenchRow[]> {
  if (process.platform !== 'linux') return [{ suite: 'fleet', case: '/metrics', figures: { skipped: 'needs /proc (Linux)' } }];
  const dir = tmp();
  const FLOWS = 50;
  const ITEMS = quick ? 20_000 : 100_000;
  const { file, flows, db } = seedPausedFlows(dir, FLOWS, ITEMS);
  db.close();
  const ferry = await startFerry(file);
  try {
    const pid = ferry.child.pid!;
    const token = fs.readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
    const n = quick ? 200 : 1000;
    // steady state first: the same HTTP path and queue counting, without the metrics
    await sequential(ferry.port, token, '/api/status', 300);
    const before = await settledRss(pid);
    const metrics = await sequential(ferry.port, token, '/metrics', n);
    const after = await settledRss(pid);
    const openapi = await sequential(ferry.port, token, '/api/openapi.json', n);

    // busy: five flows deliver their items (to folders) while /metrics is scraped, so counts change all the time
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) await call(agent, ferry.port, token, 'POST', `/api/flows/${flows[i].name}/resume`);
    const busy: number[] = [];
    for (let i = 0; i < (quick ? 100 : 300); i++) {
      busy.push(await call(agent, ferry.port, token, 'GET', '/metrics'));
      await sleep(10);
    }
    agent.destroy();
    busy.sort((a, b) => a - b);
    const added = round(after - before, 1);
    return [
      { suite: 'fleet', case: `GET /metrics, ${FLOWS} flows, ${ITEMS} queued (sequential)`, figures: { 'p50 ms': metrics.p50, 'p99 ms': metrics.p99, requests: n }, target: 'p99 ≤ 20 ms', met: metrics.p99 <= 20 },
      { suite: 'fleet', case: 'GET /metrics while 5 flows deliver (every 10 ms)', figures: { 'p50 ms': round(percentile(busy, 50), 2), 'p99 ms': round(percentile(busy, 99), 2) } },
      { suite: 'fleet', case: 'baseline: GET /api/openapi.json, same server', figures: { 'p50 ms': openapi.p50, 'p99 ms': openapi.p99, 'metrics/baseline p99': round(metrics.p99 / openapi.p99, 1) } },
      { suite: 'fleet', case: `RSS added by the metrics (before first scrape → after ${n})`, figures: { 'RSS before MB': round(before, 1), 'RSS after MB': round(after, 1), 'added MB': added }, target: '≤ 5 MB', met: added <= 5 },
    ];
  } finally {
    await ferry.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const fleetSuite: BenchSuite = {
  name: 'fleet',
  async run({ quick }) {
    return [...(await metricsCase(quick))];
  },
};
