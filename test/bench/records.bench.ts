// Records benchmark: a large CSV → map (JSONata) → batches of 1,000 JSON records → a local HTTP
// sink, through a real `ferry run` (folder source, durable queue, HTTP destination), against a bare
// baseline in the same run (csv-parse → JSON.stringify → POST). Figures: rows/s, peak RSS of each
// process, the ratio; then Ferry alone on a 10× larger file to see that RSS does not grow with file size.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';
import { cpuMsOf, round, sampleRss, type BenchRow, type BenchSuite } from './harness.ts';

const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/** BENCH_PROFILE=<dir>: the measured processes write V8 CPU profiles there; BENCH_NODE_ARGS: extra node flags. */
function nodeArgs(): string[] {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  return [...profile, ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
}

/** Writes an n-row CSV (about 100 bytes a row); returns its size. */
export async function writeCsv(file: string, n: number): Promise<number> {
  const out = fs.createWriteStream(file);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write('id,customer,email,amount,date,status,note\n');
  let chunk = '';
  for (let i = 1; i <= n; i++) {
    chunk += `${i},Customer ${i % 9973},user${i}@example.com,${(i % 100000) / 100},2024-05-${String((i % 28) + 1).padStart(2, '0')},${i % 5 === 0 ? 'CLOSED' : 'OPEN'},"note ${i}, some text"\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  await new Promise<void>((r) => out.end(() => r()));
  return fs.statSync(file).size;
}

/** A counting sink: drains bodies, counts rows ("id": occurrences) per distinct idempotency key. */
export async function countingSink() {
  const keys = new Set<string>();
  const state = { rows: 0, requests: 0, lastAt: 0 };
  const server = http.createServer((req, res) => {
    let rows = 0;
    let carry = '';
    req.setEncoding('utf8');
    req.on('data', (s: string) => {
      const text = carry + s;
      let i = -1;
      while ((i = text.indexOf('"id":', i + 1)) !== -1) rows++;
      carry = text.slice(-4);
    });
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      if (!keys.has(key)) {
        keys.add(key);
        state.rows += rows;
      }
      state.requests++;
      state.lastAt = Date.now();
      res.writeHead(200);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, reset: () => (keys.clear(), (state.rows = 0), (state.requests = 0)), close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `ferry run` on a folder holding the CSV; returns rows/s (from the file's take to the last row at the sink) and peak RSS. */
export async function runFerry(dir: string, csv: string, rows: number, sink: Awaited<ReturnType<typeof countingSink>>): Promise<{ rowsPerSec: number; peakMb: number; ms: number; cpuUsPerRow: number }> {
  const inDir = path.join(dir, 'in');
  fs.mkdirSync(inDir, { recursive: true });
  const config = path.join(dir, 'ferry.yaml');
  fs.writeFileSync(config, YAML.stringify({
    dataDir: path.join(dir, 'data'),
    minFreeDiskMb: 64,
    integrations: [{
      name: 'bench',
      flows: [{
        name: 'records',
        source: { type: 'folder', path: inDir, settleMs: 0 },
        trigger: { on: 'change' },
        destination: { type: 'http', url: `${sink.url}/records`, concurrency: 4 },
        process: [
          { parse: { format: 'csv' } },
          { map: '{ "id": $number(id), "customer": { "name": customer, "email": email }, "amount": $number(amount), "date": date, "open": status = "OPEN" }' },
          { batch: { size: 1000 } },
          { format: { format: 'json' } },
        ],
      }],
    }],
  }));
  sink.reset();
  const child = spawn(process.execPath, [...nodeArgs(), path.join(repo, 'bin/ferry.js'), 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const rss = sampleRss(child.pid!, 100);
  try {
    await waitUntil(() => /Ferry is running/.test(out), 60_000, `ferry to start:\n${out}`);
    const started = Date.now();
    const cpu0 = cpuMsOf(child.pid!);
    fs.renameSync(csv, path.join(inDir, path.basename(csv)));
    await waitUntil(() => sink.state.rows >= rows || child.exitCode !== null || child.signalCode !== null, 60 * 60_000, 'all rows at the sink');
    if (sink.state.rows < rows) throw new Error(`ferry exited early (exit code ${child.exitCode}, signal ${child.signalCode}):\n${out}`);
    const ms = sink.state.lastAt - started;
    const cpuUsPerRow = round(((cpuMsOf(child.pid!) - cpu0) * 1000) / rows, 2);
    return { rowsPerSec: Math.round((rows / ms) * 1000), peakMb: rss.stop(), ms, cpuUsPerRow };
  } finally {
    rss.stop();
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

export async function runBaseline(csv: string, rows: number, sink: Awaited<ReturnType<typeof countingSink>>): Promise<{ rowsPerSec: number; peakMb: number }> {
  sink.reset();
  const child = spawn(process.execPath, [...nodeArgs(), path.join(repo, 'bin/run-ts.js'), path.join(repo, 'test/bench/records-baseline.ts'), csv, `${sink.url}/baseline`, '1000', '4'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const rss = sampleRss(child.pid!, 100);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const peakMb = rss.stop();
  if (code !== 0) throw new Error(`baseline failed (${code}): ${out}`);
  const result = JSON.parse(out.trim().split('\n').pop()!) as { rows: number; ms: number };
  if (result.rows !== rows || sink.state.rows !== rows) throw new Error(`baseline sent ${result.rows} rows, the sink counted ${sink.state.rows}, expected ${rows}`);
  return { rowsPerSec: Math.round((rows / result.ms) * 1000), peakMb };
}

export const recordsSuite: BenchSuite = {
  name: 'records',
  async run({ quick }) {
    const rows = quick ? 100_000 : 1_000_000;
    const bigRows = rows * 10;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-records-'));
    const sink = await countingSink();
    const out: BenchRow[] = [];
    try {
      const csv = path.join(dir, 'orders.csv');
      const bytes = await writeCsv(csv, rows);
      // Two rounds, baseline and Ferry alternating, best of each: the machine is shared and noisy.
      let baseline = await runBaseline(csv, rows, sink);
      const keep = path.join(dir, 'orders-copy.csv');
      fs.copyFileSync(csv, keep);
      let ferry = await runFerry(path.join(dir, 'ferry-1x'), csv, rows, sink);
      fs.rmSync(path.join(dir, 'ferry-1x'), { recursive: true, force: true });
      const b2 = await runBaseline(keep, rows, sink);
      const f2 = await runFerry(path.join(dir, 'ferry-1x'), keep, rows, sink);
      if (b2.rowsPerSec > baseline.rowsPerSec) baseline = { rowsPerSec: b2.rowsPerSec, peakMb: Math.max(b2.peakMb, baseline.peakMb) };
      if (f2.rowsPerSec > ferry.rowsPerSec) ferry = { ...f2, peakMb: Math.max(f2.peakMb, ferry.peakMb) };
      else ferry = { ...ferry, peakMb: Math.max(f2.peakMb, ferry.peakMb) };
      const ratio = ferry.rowsPerSec / baseline.rowsPerSec;
      out.push({ suite: 'records', case: `baseline: csv-parse → JSON.stringify → POST (${rows} rows, ${round(bytes / 1048576)} MB)`, figures: { 'rows/s': baseline.rowsPerSec, 'peak RSS MB': baseline.peakMb, runs: 2 } });
      out.push({
        suite: 'records',
        case: `ferry: folder → parse → map → batch 1000 → json → http (${rows} rows)`,
        figures: { 'rows/s': ferry.rowsPerSec, 'peak RSS MB': ferry.peakMb, 'vs baseline': `${Math.round(ratio * 100)}%`, 'CPU µs/row': ferry.cpuUsPerRow, seconds: round(ferry.ms / 1000), runs: 2 },
        target: '≥ 70% of baseline rows/s, peak RSS ≤ 200 MB',
        met: ratio >= 0.7 && ferry.peakMb <= 200,
      });
      fs.rmSync(path.join(dir, 'ferry-1x'), { recursive: true, force: true });
      if (process.env.BENCH_RECORDS_10X === '0') return out; // the 10× file alone takes over a minute
      const big = path.join(dir, 'orders-10x.csv');
      const bigBytes = await writeCsv(big, bigRows);
      const ferryBig = await runFerry(path.join(dir, 'ferry-10x'), big, bigRows, sink);
      out.push({
        suite: 'records',
        case: `ferry, 10× file (${bigRows} rows, ${round(bigBytes / 1048576)} MB)`,
        figures: { 'rows/s': ferryBig.rowsPerSec, 'peak RSS MB': ferryBig.peakMb, 'RSS vs 1×': `${round(ferryBig.peakMb / ferry.peakMb, 2)}×`, seconds: round(ferryBig.ms / 1000) },
        target: 'peak RSS ≤ 200 MB and not growing with file size (≤ 1.25× the 1× run)',
        met: ferryBig.peakMb <= 200 && ferryBig.peakMb <= ferry.peakMb * 1.25,
      });
    } finally {
      await sink.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return out;
  },
};

export default recordsSuite;

// Run alone: node bin/run-ts.js test/bench/records.bench.ts [--quick]
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const quick = process.argv.includes('--quick') || process.env.BENCH_QUICK === '1';
  const rows = await recordsSuite.run({ quick });
  for (const r of rows) console.log(`${r.case}\n  ${JSON.stringify(r.figures)}${r.target ? `\n  target: ${r.target}: ${r.met ? 'met' : 'NOT met'}` : ''}`);
  console.log(JSON.stringify(rows));
}
