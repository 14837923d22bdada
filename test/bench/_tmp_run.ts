import { eventsSuite } from './events.bench.ts';
const rows = await eventsSuite.run({ quick: process.env.BENCH_QUICK === '1' });
for (const r of rows) console.log(r.case, JSON.stringify(r.figures), r.target, r.met);
process.exit(0);
