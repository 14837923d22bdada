// The `scale` suite: costs that must stay flat as the work grows (huge backlogs, trees at rest, long queues,
// big remote folders). Each area keeps its cases in its own file; this list only runs them in turn.
import type { BenchRow, BenchSuite } from './harness.ts';
import { folderScaleCases } from './scale-folder.ts';

const cases: Array<(opts: { quick: boolean }) => Promise<BenchRow[]>> = [
  folderScaleCases,
];

export const scaleSuite: BenchSuite = {
  name: 'scale',
  async run(opts) {
    const rows: BenchRow[] = [];
    for (const run of cases) {
      try {
        rows.push(...(await run(opts)));
      } catch (err) {
        // one area's failure leaves the others' figures
        rows.push({ suite: 'scale', case: `${run.name}: error`, figures: { error: String((err as Error).stack ?? err) } });
      }
    }
    return rows;
  },
};
