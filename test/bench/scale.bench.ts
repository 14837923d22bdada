// The `scale` suite: costs that must stay flat as the work grows (long queues; big backlogs and folders at
// rest come from their own case files). BENCH_QUICK=1 keeps the sizes small.
import type { BenchSuite } from './harness.ts';
import { queueScaleCases } from './scale-queue.ts';

export const scaleSuite: BenchSuite = {
  name: 'scale',
  async run({ quick }) {
    return [...(await queueScaleCases({ quick }))];
  },
};
