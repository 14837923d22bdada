// Run as a child process by the dedupe tests: `node bin/run-ts.js test/helpers/merge-and-die.ts <db> <steps>`.
// Queues 3,000 new items, starts merging the dedupe index's small level, and after <steps> merge steps kills
// itself with SIGKILL (as kill -9 would): no close, no clean-up, the WAL as the last commit left it.
import { openDatabase } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey } from '../../main/engine/store/queue.ts';

const [file, steps] = process.argv.slice(2);
const db = openDatabase(file);
const queue = new Queue(db);
const rows = Array.from({ length: 3000 }, (_, i) => {
  const sha256 = `late-${i}`;
  return { flow: 'f', idemKey: idempotencyKey('f', `late${i}`, sha256), sourceKey: `late${i}`, name: `late${i}`, attributes: {}, size: 1, sha256, inline: Buffer.from('x') };
});
for (let i = 0; i < rows.length; i += 500) queue.enqueue(rows.slice(i, i + 500));
const pass = queue.keyMergePass({ stepFrames: 1 });
for (let i = 0; i < Number(steps); i++) pass.step();
process.stdout.write(`merged ${db.prepare('SELECT COUNT(*) FROM item_keys').pluck().get()} of ${pass.total}\n`, () => process.kill(process.pid, 'SIGKILL'));
