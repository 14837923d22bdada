// node <root>/bin/run-ts.js test/bench/enqueue-at-scale.ts <root> <N> <n>: compares two checkouts (<root>: either one) on the
// same work; not part of `npm run bench`.
// Seeds N items with <root>'s own bench seed, then queues n new items in batches of 50 (the folder intake's
// commit size at ~1,000 files/s) and, where <root> has one, runs the dedupe merge; CPU and WAL bytes of each.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const [root, Ns, ns] = process.argv.slice(2);
const N = Number(Ns), n = Number(ns);
const { seed } = await import(path.join(root, 'test/bench/scale-queue.ts'));
const { openDatabase } = await import(path.join(root, 'main/engine/store/db.ts'));
const { Queue, idempotencyKey } = await import(path.join(root, 'main/engine/store/queue.ts'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enq-scale-'));
const file = path.join(dir, 'ferry.db');
if (N > 0) seed(file, 'invoices', 'parked', { delivered: N * 0.9, dead: N * 0.05, retrying: N * 0.025, parked: N * 0.025, deliveredAgeDays: 1 });
const db = openDatabase(file);
db.pragma('wal_autocheckpoint = 0');
const q = new Queue(db);
const wal = () => (fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0);
const us = (c: NodeJS.CpuUsage) => { const d = process.cpuUsage(c); return d.user + d.system; };
const body = Buffer.alloc(512, 'y');
const w0 = wal(); const c0 = process.cpuUsage(); const t0 = performance.now();
for (let i = 0; i < n; i += 50) {
  q.enqueue(Array.from({ length: 50 }, (_, k) => { const sk = `new/${i + k}.xml`; return { flow: 'invoices', idemKey: idempotencyKey('invoices', sk, String(i + k)), sourceKey: sk, name: `${i + k}.xml`, attributes: {}, size: 512, sha256: String(i + k), inline: body }; }));
}
const enqUs = us(c0), enqMs = performance.now() - t0, w1 = wal();
let merge: Record<string, number> = {};
if (typeof q.keyMergePass === 'function') {
  const c1 = process.cpuUsage(); const t1 = performance.now();
  const pass = q.keyMergePass(); while (!pass.step().done);
  merge = { mergeCpuUsPerKey: +(us(c1) / n).toFixed(1), mergeWalKbPerKey: +((wal() - w1) / 1024 / n).toFixed(2), mergeMs: Math.round(performance.now() - t1), steps: pass.steps, longestStepMs: +pass.longestStepMs.toFixed(1) };
}
db.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ root, N, n, enqueueCpuUsPerItem: +(enqUs / n).toFixed(1), enqueueWallUsPerItem: +(enqMs * 1000 / n).toFixed(1), enqueueWalKbPerItem: +((w1 - w0) / 1024 / n).toFixed(2), ...merge }));
