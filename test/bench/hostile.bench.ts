// Hostile-input benchmark: the corpus of test/e2e/hostile-corpus.test.ts through one spawned `ferry run`,
// one input at a time. Figures per input: its verdict, the time from the drop (or the call) to that verdict
// and Ferry's CPU time for it; the well-formed 1,000-row CSV dropped first is the baseline in the same run.
// Across the corpus: Ferry's peak RSS (VmHWM) against the 200 MB target, beside its idle RSS.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { round, type BenchRow, type BenchSuite } from './harness.ts';
import { runCorpus } from '../helpers/hostile-corpus.ts';

/** "big.csv record 2 (line 3): …" → "record 2 (line 3): …" (the case names the file already). */
function withoutName(reason: string, input: string): string {
  const name = `${path.basename(input)} `;
  return reason.startsWith(name) ? reason.slice(name.length) : reason;
}

export const hostileSuite: BenchSuite = {
  name: 'hostile',
  async run({ quick }) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-bench-hostile-'));
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
    try {
      // quick: a 100 MB field instead of 300 MB
      const run = await runCorpus(dir, { bigField: quick ? 100e6 : 300e6, nodeArgs });
      const baseline = run.verdicts.find((v) => v.input === 'csv/normal.csv')!;
      const rows: BenchRow[] = run.verdicts.map((v) => ({
        suite: 'hostile',
        case: `${v.input}: ${v.what}`,
        figures: {
          verdict: v.verdict === 'dead' ? `dead (${v.dead.length}), delivered ${v.delivered}` : v.verdict,
          'to verdict ms': v.ms,
          'CPU ms': v.cpuMs,
          ...(v.input !== baseline.input && v.input.includes('/') ? { 'vs baseline': `${round(v.ms / baseline.ms, 1)}×` } : {}),
          ...(v.verdict === 'dead' ? { reason: withoutName(v.dead[0], v.input) } : v.detail ? { reason: v.detail.slice(0, 140) } : {}),
        },
        target: 'a verdict (delivered, dead with its reason, skipped and reported, refused), never retried',
        met: v.verdict !== 'stuck' && (v.verdict === 'reported' || v.attempts <= 1),
      }));
      rows.push({
        suite: 'hostile',
        case: `peak RSS across the corpus (${run.verdicts.length} inputs)`,
        figures: { 'peak RSS MB': run.peakRssMb, 'idle RSS MB': run.idleRssMb, 'secret leaked': run.secretFoundIn.length },
        target: 'peak RSS ≤ 200 MB; no content of an entity\'s file anywhere',
        met: run.peakRssMb <= 200 && run.secretFoundIn.length === 0,
      });
      return rows;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default hostileSuite;

// Run alone: node bin/run-ts.js test/bench/hostile.bench.ts [--quick]
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const rows = await hostileSuite.run({ quick: process.argv.includes('--quick') || process.env.BENCH_QUICK === '1' });
  for (const r of rows) console.log(`${r.case}\n  ${JSON.stringify(r.figures)}${r.met === undefined ? '' : r.met ? '  [met]' : '  [NOT met]'}`);
}
