// Issue "Fleet" figures, against the real `ferry run` process:
// - GET /metrics with 50 flows and 100,000 queued items (target p99 ≤ 20 ms), sequential, next to
//   GET /api/openapi.json on the same server as a no-database baseline, and while 5 flows deliver;
// - the RSS the metrics add (target ≤ 5 MB): the process's RSS before its first scrape (prom-client is not
//   loaded until then) and after 1,000 scrapes, each the median of 5 readings once the process settled; the
//   median of three processes;
// - heartbeat CPU (target ≤ 0.1% at one every 30 s): two idle `ferry run` with the same 20 flows side by side,
//   one publishing a heartbeat every second to a real RabbitMQ; the CPU difference per heartbeat;
// - `ferry fleet status` with 200 agents (target ≤ 2 s): 200 simulated publishers' heartbeats of the last
//   15 minutes (30 each, one every 30 s) in the stream while they keep publishing; the whole command, timed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { cpuSeconds, percentile, round, type BenchRow, type BenchSuite } from './harness.ts';
import { seedPausedFlows, sequential, startFerry, tmp } from './admin.bench.ts';
import { rabbitAvailable, startRabbit, type Rabbit } from '../helpers/rabbitmq.ts';
import { ferryBin, writeConfig } from '../helpers/cli.ts';
import type { Heartbeat } from '../../main/engine/fleet/report.ts';
import { openFleetChannel, routingKeyOf } from '../../main/engine/fleet/broker.ts';
import { readFleet } from '../../main/engine/fleet/viewer.ts';

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

/**
 * Steady state first: as many requests on the same HTTP path and queue counting, without the metrics, so the
 * heap has grown to what serving requests needs; then the RSS before and after n scrapes.
 */
async function scrapeAndWeigh(ferry: { port: number; child: { pid?: number } }, token: string, n: number) {
  await sequential(ferry.port, token, '/api/status', n);
  const before = await settledRss(ferry.child.pid!);
  const metrics = await sequential(ferry.port, token, '/metrics', n);
  const after = await settledRss(ferry.child.pid!);
  return { before, after, metrics };
}

async function metricsCase(quick: boolean): Promise<BenchRow[]> {
  if (process.platform !== 'linux') return [{ suite: 'fleet', case: '/metrics', figures: { skipped: 'needs /proc (Linux)' } }];
  const dir = tmp();
  const FLOWS = 50;
  const ITEMS = quick ? 20_000 : 100_000;
  const { file, flows, db } = seedPausedFlows(dir, FLOWS, ITEMS);
  db.close();
  const n = quick ? 200 : 1000;
  // two processes of their own measure the RSS first (before any flow resumes): RSS moves by megabytes with the
  // garbage collector's timing, so the figure is the median of three
  const addedRuns: number[] = [];
  const token = () => fs.readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
  for (let run = 0; run < 2; run++) {
    const extra = await startFerry(file);
    try {
      const weighed = await scrapeAndWeigh(extra, token(), n);
      addedRuns.push(weighed.after - weighed.before);
    } finally {
      await extra.stop();
    }
  }
  const ferry = await startFerry(file);
  try {
    const { before, after, metrics } = await scrapeAndWeigh(ferry, token(), n);
    addedRuns.push(after - before);
    const openapi = await sequential(ferry.port, token(), '/api/openapi.json', n);

    // busy: five flows deliver their items (to folders) while /metrics is scraped, so counts change all the time
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) await call(agent, ferry.port, token(), 'POST', `/api/flows/${flows[i].name}/resume`);
    const busy: number[] = [];
    for (let i = 0; i < (quick ? 100 : 300); i++) {
      busy.push(await call(agent, ferry.port, token(), 'GET', '/metrics'));
      await sleep(10);
    }
    agent.destroy();
    busy.sort((a, b) => a - b);
    const added = round(addedRuns.sort((a, b) => a - b)[1], 1);
    return [
      { suite: 'fleet', case: `GET /metrics, ${FLOWS} flows, ${ITEMS} queued (sequential)`, figures: { 'p50 ms': metrics.p50, 'p99 ms': metrics.p99, requests: n }, target: 'p99 ≤ 20 ms', met: metrics.p99 <= 20 },
      { suite: 'fleet', case: 'GET /metrics while 5 flows deliver (every 10 ms)', figures: { 'p50 ms': round(percentile(busy, 50), 2), 'p99 ms': round(percentile(busy, 99), 2) } },
      { suite: 'fleet', case: 'baseline: GET /api/openapi.json, same server', figures: { 'p50 ms': openapi.p50, 'p99 ms': openapi.p99, 'metrics/baseline p99': round(metrics.p99 / openapi.p99, 1) } },
      { suite: 'fleet', case: `RSS added by the metrics (before first scrape → after ${n})`, figures: { 'RSS before MB': round(before, 1), 'RSS after MB': round(after, 1), 'added MB (median of 3 processes)': added, runs: addedRuns.map((a) => round(a, 1)).join(' / ') }, target: '≤ 5 MB', met: added <= 5 },
    ];
  } finally {
    await ferry.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function heartbeatCase(rabbit: Rabbit, quick: boolean): Promise<BenchRow[]> {
  const seconds = quick ? 10 : 60;
  const run = async (fleet: boolean) => {
    const dir = tmp();
    const flows = Array.from({ length: 20 }, (_, i) => ({
      name: `watch-${i}`,
      source: { type: 'folder', path: `./watch/${i}`, afterDelivery: { action: 'delete' } },
      destination: { type: 'folder', path: `./out/${i}` },
    }));
    for (let i = 0; i < 20; i++) fs.mkdirSync(path.join(dir, 'watch', String(i)), { recursive: true });
    const cfg: Record<string, unknown> = { dataDir: './data', admin: { port: 0 }, integrations: [{ name: 'idle', flows }] };
    if (fleet) cfg.fleet = { agent: 'bench-agent', labels: { region: 'north' }, publish: { type: 'amqp', url: rabbit.url, intervalSec: 1 } };
    return { dir, ferry: await startFerry(writeConfig(dir, cfg)) };
  };
  const [withFleet, without] = await Promise.all([run(true), run(false)]);
  try {
    await sleep(quick ? 5000 : 20_000); // start-up work dies down first
    const a0 = cpuSeconds(withFleet.ferry.child.pid!);
    const b0 = cpuSeconds(without.ferry.child.pid!);
    const t0 = Date.now();
    await sleep(seconds * 1000);
    const elapsed = (Date.now() - t0) / 1000;
    const a = cpuSeconds(withFleet.ferry.child.pid!) - a0;
    const b = cpuSeconds(without.ferry.child.pid!) - b0;
    // one heartbeat a second: what each costs (the one-second health check included)
    const perHeartbeatMs = Math.max(0, ((a - b) / elapsed) * 1000);
    const at30 = (perHeartbeatMs / 30_000) * 100;
    return [
      { suite: 'fleet', case: `heartbeat every 1 s, 20 idle flows (${seconds} s, beside the same agent without)`, figures: { 'CPU % with': round((a / elapsed) * 100, 3), 'CPU % without': round((b / elapsed) * 100, 3), 'CPU ms per heartbeat': round(perHeartbeatMs, 2) } },
      { suite: 'fleet', case: 'heartbeat every 30 s (from the per-heartbeat CPU)', figures: { 'CPU %': round(at30, 4) }, target: '≤ 0.1 % CPU', met: at30 <= 0.1 },
    ];
  } finally {
    await Promise.all([withFleet.ferry.stop(), without.ferry.stop()]);
    fs.rmSync(withFleet.dir, { recursive: true, force: true });
    fs.rmSync(without.dir, { recursive: true, force: true });
  }
}

/** A heartbeat as an agent with five flows sends it. */
function simulatedHeartbeat(agent: string, i: number, now: number): Heartbeat {
  const counts = { queued: i % 7, inflight: 0, retrying: 0, delivered: 1200 + i, dead: i % 13 === 0 ? 1 : 0, discarded: 0 };
  const flows = ['invoices', 'orders', 'stock', 'payroll', 'returns'].map((flow) => ({
    integration: 'erp', flow, enabled: true, paused: false, trigger: 'on change', counts: { ...counts }, waitingBytes: 2048,
    lastRunAt: null, nextRunAt: null, lastDeliveryAt: new Date(now - 60_000).toISOString(), lastError: null, lastErrorAt: null,
    destination: { type: 'http', health: 'ok' as const, unreachableSince: null },
    source: { type: 'folder', intakeBlocked: null, failingSince: null, problem: null },
  }));
  return {
    kind: 'ferry.status', agent, labels: { region: i % 2 ? 'north' : 'south', site: `branch-${i}` }, version: '0.1.0', configVersion: '3f2a9c1d0b7e',
    host: `pc-${agent}`, uptimeSec: 86_400, intervalSec: 30, sentAt: new Date(now).toISOString(),
    generatedAt: new Date(now).toISOString(), running: true, flows, totals: { ...counts },
  };
}

async function fleetStatusCase(rabbit: Rabbit, quick: boolean): Promise<BenchRow[]> {
  const AGENTS = 200;
  const ROUNDS = quick ? 5 : 30; // 15 minutes of heartbeats every 30 s
  // an exchange of their own: the heartbeat case's agent (stopped, so silent) is not among them
  const EXCHANGE = 'bench.fleet';
  const channel = await openFleetChannel(rabbit.url, EXCHANGE);
  const agents = Array.from({ length: AGENTS }, (_, i) => `branch-${String(i).padStart(3, '0')}`);
  const publish = (agent: string, i: number) =>
    channel.ch.publish(EXCHANGE, routingKeyOf(agent), Buffer.from(JSON.stringify(simulatedHeartbeat(agent, i, Date.now()))), { contentType: 'application/json', type: 'ferry.status', expiration: '90000' });
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    agents.forEach((a, i) => publish(a, i));
    bytes = Buffer.byteLength(JSON.stringify(simulatedHeartbeat(agents[0], 0, Date.now())));
    await sleep(20);
  }
  // the agents keep publishing while the command reads (200 agents every 30 s: one every 150 ms)
  let next = 0;
  const live = setInterval(() => publish(agents[next % AGENTS], next++ % AGENTS), 150);
  try {
    await sleep(1000);
    /** Runs the ferry command; wall ms, CPU ms and stdout. */
    const timed = async (args: string[]) => {
      const t0 = performance.now();
      const child = spawn(process.execPath, [ferryBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let errText = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (errText += d));
      let cpu = 0;
      const sampler = setInterval(() => (cpu = Math.max(cpu, cpuSeconds(child.pid!))), 10);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      clearInterval(sampler);
      if (code !== 0) throw new Error(`ferry ${args.join(' ')} exited ${code}: ${errText}${out.slice(0, 2000)}`);
      return { ms: performance.now() - t0, cpuMs: cpu * 1000, out };
    };
    const status: number[] = [];
    const start: number[] = [];
    let listed = 0;
    let cpuMs = 0;
    // alternating with the baseline: the bare start of the same CLI (`ferry --version`)
    for (let i = 0; i < (quick ? 2 : 5); i++) {
      start.push((await timed(['--version'])).ms);
      const r = await timed(['fleet', 'status', '--amqp', rabbit.url, '--exchange', EXCHANGE, '--json']);
      status.push(r.ms);
      listed = JSON.parse(r.out).agents.length;
      cpuMs = Math.max(cpuMs, r.cpuMs);
    }
    // the reading alone, in this process
    const t0 = performance.now();
    const inProcess = await readFleet({ url: rabbit.url, exchange: EXCHANGE });
    const readMs = performance.now() - t0;
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const worst = Math.max(...status);
    return [
      { suite: 'fleet', case: `ferry fleet status, ${AGENTS} agents, ${AGENTS * ROUNDS} heartbeats in the window`, figures: { 'median s': round(median(status) / 1000, 2), 'worst s': round(worst / 1000, 2), 'agents listed': listed, 'heartbeat bytes': bytes, 'CPU ms (worst run)': round(cpuMs, 0) }, target: '≤ 2 s', met: worst <= 2000 && listed === AGENTS },
      { suite: 'fleet', case: 'baseline: ferry --version (the CLI start alone)', figures: { 'median s': round(median(start) / 1000, 2), 'status minus start, median s': round((median(status) - median(start)) / 1000, 2) } },
      { suite: 'fleet', case: 'readFleet in-process (connect, read the window, report)', figures: { 's': round(readMs / 1000, 2), 'agents': inProcess.agents.length } },
    ];
  } finally {
    clearInterval(live);
    await channel.close();
  }
}

export const fleetSuite: BenchSuite = {
  name: 'fleet',
  async run({ quick }) {
    // BENCH_FLEET_CASES: metrics | broker (heartbeats and fleet status) | status; all when unset
    const only = process.env.BENCH_FLEET_CASES;
    const rows = !only || only === 'metrics' ? [...(await metricsCase(quick))] : [];
    if (only === 'metrics') return rows;
    if (!rabbitAvailable()) return [...rows, { suite: 'fleet', case: 'heartbeats, fleet status', figures: { skipped: "Debian's rabbitmq-server is not installed" } }];
    const rabbit = await startRabbit();
    try {
      if (process.env.BENCH_FLEET_CASES !== 'status') rows.push(...(await heartbeatCase(rabbit, quick)));
      rows.push(...(await fleetStatusCase(rabbit, quick)));
    } finally {
      await rabbit.stop();
    }
    return rows;
  },
};
