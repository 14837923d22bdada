// The bare baseline of the records benchmark: csv-parse → JSON.stringify batches → POST, nothing else
// (no queue, no durability, no mapping). Usage: records-baseline.ts FILE URL BATCH CONCURRENCY
// Prints one JSON line: { rows, batches, ms }.
import fs from 'node:fs';
import { parse } from 'csv-parse';
import { Agent, request } from 'undici';

const [file, url, batchArg, concArg] = process.argv.slice(2);
const batchSize = Number(batchArg ?? 1000);
const concurrency = Number(concArg ?? 4);
const agent = new Agent({ connections: concurrency });
const started = Date.now();
let rows = 0;
let batches = 0;
const inFlight = new Set<Promise<void>>();

async function post(body: string, n: number): Promise<void> {
  const res = await request(url, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', 'idempotency-key': `baseline-${n}` }, body });
  await res.body.dump();
  if (res.statusCode >= 300) throw new Error(`HTTP ${res.statusCode}`);
}

let batch: unknown[] = [];
for await (const rec of fs.createReadStream(file).pipe(parse({ columns: true }))) {
  batch.push(rec);
  rows++;
  if (batch.length >= batchSize) {
    const p = post(JSON.stringify(batch), batches++).finally(() => inFlight.delete(p));
    inFlight.add(p);
    batch = [];
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
}
if (batch.length > 0) {
  const p = post(JSON.stringify(batch), batches++);
  inFlight.add(p);
}
await Promise.all(inFlight);
await agent.close();
process.stdout.write(`${JSON.stringify({ rows, batches, ms: Date.now() - started })}\n`);
