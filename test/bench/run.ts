// `npm run bench [suite…]`: runs the benchmark suites, prints a table and a JSON document.
// BENCH_QUICK=1 shrinks the sizes (a smoke run). Results also go to bench-results.json.
import fs from 'node:fs';
import type { BenchRow, BenchSuite } from './harness.ts';
import { engineSuite } from './engine.bench.ts';
import { eventsSuite } from './events.bench.ts';
import { adminSuite } from './admin.bench.ts';
import { remoteSuite } from './remote.bench.ts';
import { recordsSuite } from './records.bench.ts';
import { oauthSuite } from './oauth.bench.ts';
import { networkSuite } from './network.bench.ts';
import { hostileSuite } from './hostile.bench.ts';
import { mailSuite } from './mail.bench.ts';
import { relaySuite } from './relay.bench.ts';
import { fleetSuite } from './fleet.bench.ts';
import { scaleSuite } from './scale.bench.ts';

const suites: BenchSuite[] = [engineSuite, eventsSuite, adminSuite, remoteSuite, recordsSuite, networkSuite, hostileSuite, mailSuite, oauthSuite, relaySuite, fleetSuite, scaleSuite];

const wanted = process.argv.slice(2);
const quick = process.env.BENCH_QUICK === '1';
const rows: BenchRow[] = [];
for (const suite of suites) {
  if (wanted.length && !wanted.includes(suite.name)) continue;
  process.stderr.write(`running ${suite.name}${quick ? ' (quick)' : ''}…\n`);
  try {
    rows.push(...(await suite.run({ quick })));
  } catch (err) {
    rows.push({ suite: suite.name, case: 'error', figures: { error: String((err as Error).stack ?? err) } });
  }
}

for (const r of rows) {
  const figures = Object.entries(r.figures).map(([k, v]) => `${k}=${v}`).join('  ');
  const verdict = r.met === undefined ? '' : r.met ? '  [target met]' : '  [target MISSED]';
  console.log(`${r.suite.padEnd(10)} ${r.case.padEnd(44)} ${figures}${r.target ? `  (target ${r.target})` : ''}${verdict}`);
}
const json = JSON.stringify({ at: new Date().toISOString(), node: process.version, quick, rows }, null, 2);
console.log(json);
fs.writeFileSync('bench-results.json', json);
