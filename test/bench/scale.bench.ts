// `npm run bench scale`: how cost grows with the size of the work. Each case lives in its own file and is
// listed here; BENCH_QUICK=1 keeps them small.
import type { BenchSuite } from './harness.ts';
import { remoteListingCases } from './scale-remote.ts';

export const scaleSuite: BenchSuite = {
  name: 'scale',
  async run(opts) {
    return [...(await remoteListingCases(opts))];
  },
};
