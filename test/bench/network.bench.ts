// The network setting's cost: folder → HTTPS with 2,000 small files through the real `ferry run`, direct and
// through a forward proxy (Debian's tinyproxy, CONNECT tunnels), alternating in one run. Reports files/s
// (through the proxy against direct), Ferry's and the proxy's CPU per file, and connections opened per 1,000
// deliveries: the target is reuse (a tunnel per pooled connection), not one per request.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ferryBin, writeConfig } from '../helpers/cli.ts';
import { issue, makeCa, removeSharedDirs, type CertFiles } from '../helpers/certs.ts';
import { startTinyproxy, stopAllProxies, TINYPROXY, type RunningProxy } from '../helpers/proxies.ts';
import { startHttpsSink, type Sink } from '../helpers/sink.ts';
import { dropFiles, startProcess, waitAll } from './engine.bench.ts';
import { round, type BenchRow, type BenchSuite } from './harness.ts';

const TICKS_PER_SEC = 100; // Linux USER_HZ

/** CPU time (user + system) of a process so far, in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SEC;
}

interface Figures {
  filesPerSec: number;
  ferryCpuMsPerFile: number;
  proxyCpuMsPerFile?: number;
  connectionsPer1000: number;
  tunnelsPer1000?: number;
}

async function run(kind: 'direct' | 'proxy', n: number, sink: Sink, ca: CertFiles, proxy: RunningProxy, round_: number): Promise<Figures> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-net-'));
  fs.mkdirSync(path.join(dir, 'outbox'));
  const network = kind === 'direct'
    ? { proxy: 'none', tls: { ca: [ca.cert] } }
    : { proxy: { url: proxy.url, noProxy: ['<-loopback>'] }, tls: { ca: [ca.cert] } }; // the sink is on 127.0.0.1
  const config = writeConfig(dir, {
    dataDir: './data',
    logLevel: 'warn',
    minFreeDiskMb: 64,
    network,
    integrations: [{ name: 'bench', flows: [{
      name: 'bench',
      source: { type: 'folder', path: './outbox', settleMs: 100, afterDelivery: { action: 'delete' } },
      destination: { type: 'http', url: `${sink.url}/in`, concurrency: 4 },
    }] }],
  });
  const proc = await startProcess([ferryBin, 'run', '--config', config, '--log-level', 'warn']);
  const tag = `${kind}-${round_}-${n}`;
  const connectionsBefore = sink.connections;
  const tunnelsBefore = proxy.tunnels();
  const cpu0 = cpuMs(proc.child.pid!);
  const proxyCpu0 = cpuMs(proxy.pid);
  const start = Date.now();
  await dropFiles(path.join(dir, 'outbox'), n, tag);
  const arrived = await waitAll(sink, tag, n, 300_000);
  const last = Math.max(...arrived.values());
  const cpu = cpuMs(proc.child.pid!) - cpu0;
  const proxyCpu = cpuMs(proxy.pid) - proxyCpu0;
  const connections = sink.connections - connectionsBefore;
  const tunnels = proxy.tunnels() - tunnelsBefore;
  await proc.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    filesPerSec: round(n / ((last - start) / 1000)),
    ferryCpuMsPerFile: round(cpu / n, 3),
    connectionsPer1000: round((connections * 1000) / n, 2),
    ...(kind === 'proxy' ? { proxyCpuMsPerFile: round(proxyCpu / n, 3), tunnelsPer1000: round((tunnels * 1000) / n, 2) } : {}),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export const networkSuite: BenchSuite = {
  name: 'network',
  async run({ quick }) {
    if (!fs.existsSync(TINYPROXY)) return [{ suite: 'network', case: 'skipped', figures: { reason: 'tinyproxy is not installed (apt-get install tinyproxy)' } } satisfies BenchRow];
    const n = quick ? 300 : 2000;
    const rounds = quick ? 1 : 3;
    const ca = makeCa('Ferry Bench CA');
    const cert = issue(ca, '127.0.0.1');
    const sink = await startHttpsSink({ cert: cert.certPem, key: cert.keyPem });
    const proxy = await startTinyproxy();
    const results: Record<'direct' | 'proxy', Figures[]> = { direct: [], proxy: [] };
    try {
      // alternating rounds: this shared machine's speed drifts over minutes; each proxy run is judged
      // against the direct run just before it, and the median of those ratios is the figure
      const ratios: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const d = await run('direct', n, sink, ca, proxy, r);
        const p = await run('proxy', n, sink, ca, proxy, r);
        results.direct.push(d);
        results.proxy.push(p);
        ratios.push(round((p.filesPerSec / d.filesPerSec) * 100));
      }
      const pick = (kind: 'direct' | 'proxy', k: keyof Figures) => median(results[kind].map((f) => f[k] as number));
      const ratio = median(ratios);
      const tunnels = pick('proxy', 'tunnelsPer1000');
      const rows: BenchRow[] = [
        {
          suite: 'network',
          case: `folder→HTTPS ${n} files: direct`,
          figures: { 'files/s': pick('direct', 'filesPerSec'), 'Ferry CPU ms/file': pick('direct', 'ferryCpuMsPerFile'), 'connections/1000': pick('direct', 'connectionsPer1000') },
        },
        {
          suite: 'network',
          case: `folder→HTTPS ${n} files: via proxy (tinyproxy)`,
          figures: {
            'files/s': pick('proxy', 'filesPerSec'),
            '% of direct': ratio,
            'rounds %': ratios.join('/'),
            'Ferry CPU ms/file': pick('proxy', 'ferryCpuMsPerFile'),
            'proxy CPU ms/file': pick('proxy', 'proxyCpuMsPerFile'),
            'connections/1000': pick('proxy', 'connectionsPer1000'),
            'tunnels/1000': tunnels,
          },
          target: '≥ 80% of direct files/s; tunnels reused (≤ concurrency 4 per run, not one per request)',
          met: ratio >= 80 && tunnels * (n / 1000) <= 4,
        },
      ];
      return rows;
    } finally {
      await sink.close();
      await stopAllProxies();
      removeSharedDirs();
    }
  },
};
