// The `scale` suite's big remote folders: one SFTP folder (Debian's OpenSSH) and one FTP folder (Debian's vsftpd)
// holding 100,000 small files (BENCH_QUICK=1: 10,000), picked up by a real `ferry run` on a schedule with
// `afterDelivery: keep`. Measured: the first scan, which takes every file; then scans at rest, where every file
// is already taken and a scan can only list and compare (its time, and the CPU it costs); peak RSS throughout.
// BENCH_SCALE_REMOTE_FILES=<n> sizes the folders (e.g. 30000 while developing); BENCH_SCALE_REMOTE=ftp or sftp
// runs only that protocol.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeConfig } from '../helpers/cli.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { sshdAvailable, startSshd } from '../helpers/sshd.ts';
import { startVsftpd, vsftpdAvailable } from '../helpers/vsftpd.ts';
import { startFerry, tmp } from './admin.bench.ts';
import { cpuSeconds, round, sampleRss, type BenchRow } from './harness.ts';

/** Scans at rest measured after the first one. */
const AT_REST_SCANS = 3;
/** A scan every this many seconds (a scan still running when the next tick comes is not started twice). */
const EVERY_S = 5;

interface Counters {
  scans: number;
  scanning: boolean;
  taken: number;
  delivered: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function counters(port: number, token: string): Promise<Counters> {
  const res = await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { flows: Array<{ flow: string; counters?: Counters }> };
  return body.flows.find((f) => f.flow.split('/').pop() === 'listing')!.counters!;
}

/** Writes `n` small files into `dir`. */
function writeFiles(dir: string, n: number): void {
  fs.mkdirSync(dir, { recursive: true });
  const body = Buffer.from('0123456789abcdef');
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `inv-${String(i).padStart(7, '0')}.xml`), body);
}

/**
 * Runs `ferry run` on one remote folder until its first scan took everything and `AT_REST_SCANS` more scans
 * ended; the scans' times come from the engine's own counters (polled), their CPU from /proc.
 */
async function listingCase(kind: 'SFTP' | 'FTP', n: number, source: object, sink: Sink, tag: string): Promise<BenchRow[]> {
  const dir = tmp();
  const config = writeConfig(dir, {
    dataDir: './data',
    logLevel: 'warn',
    minFreeDiskMb: 64,
    admin: { port: 0 },
    integrations: [
      {
        name: 'scale',
        flows: [
          {
            name: 'listing',
            trigger: { schedule: `*/${EVERY_S} * * * * *` },
            source: { ...source, settleMs: 0, afterDelivery: { action: 'keep' } },
            destination: { type: 'http', url: `${sink.url}/${tag}`, concurrency: 8 },
          },
        ],
      },
    ],
  });
  const ferry = await startFerry(config);
  const pid = ferry.child.pid!;
  const rss = sampleRss(pid, 50);
  try {
    const token = fs.readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
    const scans: Array<{ secs: number; cpuMs: number; taken: number }> = [];
    let open: { at: number; cpu: number; taken: number } | undefined;
    let firstScanStart: number | undefined;
    let allDeliveredAt: number | undefined;
    let restPeak = 0;
    const end = Date.now() + 1_800_000;
    while (scans.length < 1 + AT_REST_SCANS || allDeliveredAt === undefined) {
      if (Date.now() > end || ferry.child.exitCode !== null) throw new Error(`${kind} listing case: not done (${JSON.stringify(scans)})`);
      const c = await counters(ferry.port, token);
      if (c.scanning && !open) {
        open = { at: Date.now(), cpu: cpuSeconds(pid), taken: c.taken };
        firstScanStart ??= open.at;
      } else if (!c.scanning && open) {
        const scan = { secs: (Date.now() - open.at) / 1000, cpuMs: (cpuSeconds(pid) - open.cpu) * 1000, taken: c.taken - open.taken };
        open = undefined;
        // the scans at rest count only once everything was taken and delivered (nothing else runs then)
        if (scans.length === 0 || (allDeliveredAt !== undefined && scan.taken === 0)) scans.push(scan);
      }
      if (allDeliveredAt === undefined && c.delivered >= n) allDeliveredAt = Date.now();
      if (allDeliveredAt !== undefined && scans.length > 1) restPeak = Math.max(restPeak, currentRssMb(pid));
      await new Promise((r) => setTimeout(r, 25));
    }
    const peak = rss.stop();
    const [first, ...rest] = scans;
    const intakeSecs = (allDeliveredAt! - firstScanStart!) / 1000;
    return [
      {
        suite: 'scale',
        case: `remote listing ${kind} ${n}: first scan (takes all)`,
        figures: { 'files': n, 'first scan s': round(first.secs, 2), 'taken by it': first.taken, 'all delivered s': round(intakeSecs, 2), 'files/s': round(n / intakeSecs), 'CPU ms/file (first scan)': round(first.cpuMs / Math.max(1, first.taken), 3) },
      },
      {
        suite: 'scale',
        case: `remote listing ${kind} ${n}: scan at rest`,
        figures: {
          'list+compare s (median)': round(median(rest.map((s) => s.secs)), 2),
          'CPU ms/scan (median)': round(median(rest.map((s) => s.cpuMs))),
          'CPU µs/listed file': round((median(rest.map((s) => s.cpuMs)) * 1000) / n, 2),
          'RSS at rest MB': round(restPeak, 1),
          'peak RSS MB': peak,
        },
        target: 'peak RSS ≤ 150 MB',
        met: peak <= 150,
      },
    ];
  } finally {
    rss.stop();
    await ferry.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function currentRssMb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The remote listing cases of the `scale` suite (see scale.bench.ts). */
export async function remoteListingCases({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const n = Number(process.env.BENCH_SCALE_REMOTE_FILES) || (quick ? 10_000 : 100_000);
  const only = process.env.BENCH_SCALE_REMOTE?.toLowerCase();
  const out: BenchRow[] = [];
  const sink = await startSink();
  try {
    if (only === 'ftp') {
      // not asked for
    } else if (sshdAvailable()) {
      const sshd = await startSshd();
      const tag = `sftp-listing-${crypto.randomBytes(3).toString('hex')}`;
      const folder = path.join(sshd.root, tag);
      try {
        writeFiles(folder, n);
        const source = { type: 'sftp', host: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey, hostKey: sshd.hostKey, path: folder };
        out.push(...(await listingCase('SFTP', n, source, sink, tag)));
      } finally {
        await sshd.stop();
      }
    } else out.push({ suite: 'scale', case: 'remote listing SFTP', figures: { skipped: 'needs /usr/sbin/sshd and root' } });
    if (only === 'sftp') {
      // not asked for
    } else if (vsftpdAvailable()) {
      const vsftpd = await startVsftpd();
      const tag = `ftp-listing-${crypto.randomBytes(3).toString('hex')}`;
      try {
        writeFiles(path.join(vsftpd.root, tag), n);
        const source = { type: 'ftp', host: '127.0.0.1', port: vsftpd.port, username: 'anonymous', password: 'ferry@example.com', path: `/${tag}` };
        out.push(...(await listingCase('FTP', n, source, sink, tag)));
      } finally {
        await vsftpd.stop();
      }
    } else out.push({ suite: 'scale', case: 'remote listing FTP', figures: { skipped: 'needs /usr/sbin/vsftpd, its ftp account and root' } });
  } finally {
    await sink.close();
  }
  return out;
}
