// Shared benchmark plumbing: each suite returns rows of figures; run.ts prints them as a table and JSON.
import { readFileSync } from 'node:fs';
export interface BenchRow {
  suite: string;
  case: string;
  /** Measured figures, e.g. { 'files/s': 812, 'p99 ms': 140, 'peak RSS MB': 96 }. */
  figures: Record<string, number | string>;
  /** The target, in words, e.g. '≥ 70% of baseline files/s'. */
  target?: string;
  /** Whether the target was met (undefined when there is no target). */
  met?: boolean;
}

export interface BenchSuite {
  name: string;
  /** Runs the suite; `quick` shrinks sizes for a smoke run (BENCH_QUICK=1). */
  run(opts: { quick: boolean }): Promise<BenchRow[]>;
}

/** Samples a process's RSS (by pid, from /proc) every `everyMs`; returns a stop() giving the peak in MB. */
export function sampleRss(pid: number, everyMs = 50): { peak(): number; stop(): number } {
  let peak = 0;
  const read = async () => {
    try {
      const fs = await import('node:fs');
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kb / 1024);
    } catch {
      // process gone
    }
  };
  const t = setInterval(() => void read(), everyMs);
  void read();
  return {
    /** The peak so far, sampling on. */
    peak: () => Math.round(peak * 10) / 10,
    stop() {
      clearInterval(t);
      return Math.round(peak * 10) / 10;
    },
  };
}

/**
 * CPU time (user + system) a process has used so far, in seconds, from /proc (0 once it is gone); with
 * `mainThread`, that of its main thread alone (the event loop, without V8's and libuv's helper threads).
 */
export function cpuSeconds(pid: number, mainThread = false): number {
  try {
    // fields after the command name: state is 3rd, utime 14th, stime 15th (in clock ticks of 1/100 s)
    const stat = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The same in ms. */
export function cpuMsOf(pid: number): number {
  return cpuSeconds(pid) * 1000;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
