// The `scale` suite: costs that must stay flat as the work grows (huge backlogs, trees at rest, long queues,
// big remote folders). Each area keeps its cases in its own file; this list only runs them in turn.
// BENCH_SCALE_AREAS=folder,queue,remote runs only those areas.
import type { BenchRow, BenchSuite } from './harness.ts';
import { folderScaleCases } from './scale-folder.ts';
import { queueScaleCases } from './scale-queue.ts';
import { remoteListingCases } from './scale-remote.ts';

const cases: Array<[area: string, run: (opts: { quick: boolean }) => Promise<BenchRow[]>]> = [
  ['folder', folderScaleCases],
  ['queue', queueScaleCases],
  ['remote', remoteListingCases],
];

export const scaleSuite: BenchSuite = {
  name: 'scale',
  async run(opts) {
    const only = process.env.BENCH_SCALE_AREAS?.split(',');
    const rows: BenchRow[] = [];
    for (const [area, run] of cases) {
      if (only && !only.includes(area)) continue;
      try {
        rows.push(...(await run(opts)));
      } catch (err) {
        // one area's failure leaves the others' figures
        rows.push({ suite: 'scale', case: `${area}: error`, figures: { error: String((err as Error).stack ?? err) } });
      }
    }
    return rows;
  },
};
