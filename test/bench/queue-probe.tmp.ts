import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../main/engine/store/db.ts';
import { Queue, idempotencyKey, type NewRow, type Settlement } from '../../main/engine/store/queue.ts';
const n = Number(process.argv[2] ?? 100000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-probe-'));
const db = openDatabase(path.join(dir, 'q.db'));
const q = new Queue(db);
const body = crypto.randomBytes(512);
const sha = crypto.createHash('sha256').update(body).digest('hex');
const BATCH = 1000;
const t = { enq: 0, lease: 0, settle: 0, build: 0 };
const slow: string[] = [];
const start = performance.now();
const cpu0 = process.cpuUsage();
for (let i = 0; i < n; i += BATCH) {
  let t0 = performance.now();
  const rows: NewRow[] = [];
  for (let k = i; k < Math.min(n, i + BATCH); k++) rows.push({ flow: 'q', idemKey: idempotencyKey('q', `item-${k}`, sha), sourceKey: `item-${k}`, name: `item-${k}`, attributes: {}, size: body.length, sha256: sha, inline: body });
  t.build += performance.now() - t0;
  t0 = performance.now();
  q.enqueue(rows);
  const d = performance.now() - t0;
  t.enq += d;
  if (d > 40) slow.push(`enq@${i}:${d.toFixed(0)}`);
}
let acked = 0;
while (acked < n) {
  let t0 = performance.now();
  const leased = q.lease('q', BATCH, 60_000);
  let d = performance.now() - t0;
  t.lease += d;
  if (d > 40) slow.push(`lease@${acked}:${d.toFixed(0)}`);
  if (leased.length === 0) break;
  t0 = performance.now();
  q.settle(leased.map((r): Settlement => ({ id: r.id, kind: 'delivered', afterPending: false, item: { flow: r.flow, name: r.name } })));
  d = performance.now() - t0;
  t.settle += d;
  if (d > 40) slow.push(`settle@${acked}:${d.toFixed(0)}`);
  acked += leased.length;
}
const secs = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ userMs: Math.round(cpu.user/1000), sysMs: Math.round(cpu.system/1000), wallMs: Math.round(secs*1000), itemsPerSec: Math.round(n / secs), ms: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Math.round(v)])), walMb: Math.round(fs.statSync(path.join(dir, 'q.db-wal')).size / 1e6), dbMb: Math.round(fs.statSync(path.join(dir, 'q.db')).size / 1e6) }));
db.close();
fs.rmSync(dir, { recursive: true, force: true });
