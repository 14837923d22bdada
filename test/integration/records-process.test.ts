// Record processing at intake, end to end in a real engine: a legacy CSV dropped into a folder is parsed,
// filtered, mapped and batched into JSON posted to a real HTTP server; bad rows go dead with their record
// number while the rest arrive; keys are stable across a re-run; fail-file; whole-file conversion.
import fs from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { writeConfig } from '../helpers/cli.ts';

let engine: Engine | undefined;
let sink: Sink | undefined;
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await sink?.close();
  sink = undefined;
});

// windows-1252, ";" delimiter, decimal commas, a quoted newline, one row with a bad amount, one with a
// missing field, one closed invoice that the filter drops.
const LEGACY_CSV = [
  'InvoiceNo;Amount;Email;Status;Note',
  '1001;1.234,56;anna@example.com;OPEN;"Straße 1',
  'Hinterhaus"',
  '1002;12,50;bernd@example.com;OPEN;Müller',
  '1003;abc;carla@example.com;OPEN;bad amount',
  '1004;99,00;dora@example.com;CLOSED;filtered',
  '1005;7,00;emil@example.com;OPEN',
  '1006;0,99;frida@example.com;OPEN;Ærø',
  '',
].join('\r\n');

function flowConfig(dir: string, sinkUrl: string, extra: Record<string, unknown> = {}) {
  return {
    dataDir: path.join(dir, 'data'),
    integrations: [
      {
        name: 'crm',
        flows: [
          {
            name: 'invoices',
            source: { type: 'folder', path: './in', settleMs: 100, afterDelivery: { action: 'move', to: './done' } },
            destination: { type: 'http', url: `${sinkUrl}/invoices`, concurrency: 2 },
            retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 },
            process: [
              { parse: { format: 'csv', delimiter: ';', header: true, encoding: 'windows-1252', decimalComma: true, types: { Amount: 'number' } } },
              { filter: 'Status = "OPEN"' },
              { map: '{ "id": InvoiceNo, "total": Amount, "customer": { "email": Email }, "note": Note }' },
              { batch: { size: 2 } },
              { format: { format: 'json' } },
            ],
            ...extra,
          },
        ],
      },
    ],
  };
}

async function startEngine(dir: string, config: unknown): Promise<Engine> {
  fs.mkdirSync(path.join(dir, 'in'), { recursive: true });
  const e = Engine.open(loadConfig(writeConfig(dir, config)));
  await e.start();
  return e;
}

describe('process: parse → filter → map → batch → format at intake', () => {
  it('sends mapped JSON batches; a bad row goes dead with file, record number, line and field; the file moves after delivery', async () => {
    const dir = tempDir();
    sink = await startSink();
    engine = await startEngine(dir, flowConfig(dir, sink.url));
    fs.writeFileSync(path.join(dir, 'in', 'invoices.csv'), iconv.encode(LEGACY_CSV, 'windows-1252'));

    await waitFor(() => listFiles(path.join(dir, 'done')).includes('invoices.csv'), 'the source file to move after delivery', 20_000);
    const batches = sink.received.map((r) => JSON.parse(r.body.toString('utf8')));
    const records = batches.flat();
    expect(records.map((r: { id: string }) => r.id).sort()).toEqual(['1001', '1002', '1006']);
    expect(records.find((r: { id: string }) => r.id === '1001')).toEqual({ id: '1001', total: 1234.56, customer: { email: 'anna@example.com' }, note: 'Straße 1\r\nHinterhaus' });
    expect(records.find((r: { id: string }) => r.id === '1006').note).toBe('Ærø');
    expect(batches.every((b: unknown[]) => b.length <= 2)).toBe(true);
    expect(sink.received.every((r) => r.headers['content-type'] === 'application/json')).toBe(true);

    const dead = engine.queue.list({ flow: 'invoices', state: 'dead' }).map((d) => ({ ...d, attrs: JSON.parse(d.attrs) }));
    expect(dead).toHaveLength(2);
    const badAmount = dead.find((d) => d.attrs.recordNumber === 3)!;
    expect(badAmount.last_error).toBe('invoices.csv record 3 (line 5): field Amount: expected a number (decimal comma), got "abc"');
    expect(badAmount.attrs).toMatchObject({ fileName: 'invoices.csv', recordNumber: 3, line: 5, field: 'Amount' });
    const short = dead.find((d) => d.attrs.recordNumber === 5)!;
    expect(short.last_error).toBe('invoices.csv record 5 (line 7): field Note: expected 5 fields, got 4');
    // the dead record keeps the raw row so nothing is lost
    expect(engine.queue.body(short.id)!.toString('utf8')).toBe('1005;7,00;emil@example.com;OPEN');
  });
});

describe('process: idempotency across a re-run, fail-file, whole-file conversion', () => {
  it('a file processed again after a restart re-makes the same keys: nothing is queued twice, each batch is accepted once', async () => {
    const dir = tempDir();
    let up = false;
    sink = await startSink(() => (up ? undefined : { status: 503 }));
    const config = flowConfig(dir, sink.url, { retry: { maxAttempts: 100, initialDelayMs: 50, maxDelayMs: 100 }, circuitBreaker: { failureThreshold: 1000, cooldownMs: 100 } });
    engine = await startEngine(dir, config);
    fs.writeFileSync(path.join(dir, 'in', 'invoices.csv'), iconv.encode(LEGACY_CSV, 'windows-1252'));
    await waitFor(() => sink!.received.length >= 2, 'first (failing) attempts', 20_000);
    const firstKeys = new Set(sink.received.map((r) => String(r.headers['idempotency-key'])));
    const itemsBefore = engine.queue.count({ flow: 'invoices' });
    expect(itemsBefore).toBe(4); // 2 batches + 2 dead records
    await engine.stop();

    // The file is still there (not delivered): the new engine takes and processes it again.
    engine = await startEngine(dir, config);
    const counters = engine.flow('invoices').counters;
    await waitFor(() => counters.duplicates >= itemsBefore, 'the file processed again, each part recognised');
    expect(counters.taken).toBe(0);
    expect(engine.queue.count({ flow: 'invoices' })).toBe(itemsBefore);
    up = true;
    await waitFor(() => listFiles(path.join(dir, 'done')).includes('invoices.csv'), 'the file to move once both batches are delivered', 20_000);
    expect(sink.accepted.size).toBe(2);
    for (const [key, hits] of sink.accepted) {
      expect(hits).toHaveLength(1);
      expect(firstKeys.has(key) || sink.received.some((r) => r.headers['idempotency-key'] === key)).toBe(true);
    }
    const retriedKeys = new Set(sink.received.filter((r) => r.at < sink!.accepted.values().next().value![0].at).map((r) => String(r.headers['idempotency-key'])));
    for (const key of sink.accepted.keys()) expect(retriedKeys.has(key)).toBe(true); // the retried batch carried the same key
  });

  it('onRecordError: fail-file sends nothing of a file with a bad record; the file goes dead with the first error', async () => {
    const dir = tempDir();
    sink = await startSink();
    engine = await startEngine(dir, flowConfig(dir, sink.url, { onRecordError: 'fail-file' }));
    fs.writeFileSync(path.join(dir, 'in', 'invoices.csv'), iconv.encode(LEGACY_CSV, 'windows-1252'));
    const dead = await waitFor(() => engine!.queue.list({ flow: 'invoices', state: 'dead' })[0], 'the file to go dead', 20_000);
    expect(dead.name).toBe('invoices.csv');
    expect(dead.last_error).toBe('file failed: invoices.csv record 3 (line 5): field Amount: expected a number (decimal comma), got "abc"');
    expect(engine.queue.body(dead.id)!.equals(iconv.encode(LEGACY_CSV, 'windows-1252'))).toBe(true);
    expect(engine.queue.count({ flow: 'invoices' })).toBe(1);
    await waitFor(() => engine!.flow('invoices').isIdle, 'the dispatcher to look at the queue and find nothing to send');
    expect(sink.received).toHaveLength(0);
  });

  it('converts whole files: UTF-16 fixed-width → a windows-1252 CSV named from a template; XML with namespaces → one JSON item per record keyed by id', async () => {
    const dir = tempDir();
    const config = {
      dataDir: path.join(dir, 'data'),
      integrations: [{
        name: 'legacy',
        flows: [
          {
            name: 'stock',
            source: { type: 'folder', path: './in', include: ['*.txt'], settleMs: 50 },
            destination: { type: 'folder', path: './out-stock' },
            process: [
              { parse: { format: 'fixed-width', skipLines: 1, encoding: 'auto', columns: [{ name: 'sku', start: 1, length: 6 }, { name: 'name', start: 7, length: 12 }, { name: 'qty', start: 19, length: 5 }], types: { qty: 'integer' } } },
              { map: '{ "SKU": sku, "Name": name, "Qty": qty }' },
              { format: { format: 'csv', delimiter: ';', encoding: 'windows-1252', fileName: 'stock-{date:yyyy-MM-dd}.csv' } },
            ],
          },
          {
            name: 'orders',
            source: { type: 'folder', path: './in', include: ['*.xml'], settleMs: 50 },
            destination: { type: 'folder', path: './out-orders' },
            process: [
              { parse: { format: 'xml', record: 'o:Order', namespaces: { o: 'urn:example:orders' } } },
              { map: '{ "id": `@id`, "customer": Customer, "lines": $count(Line) }' },
              { split: { key: 'id' } },
              { format: { format: 'json' } },
            ],
          },
        ],
      }],
    };
    engine = await startEngine(dir, config);
    const fixed = 'STOCK REPORT 2024\r\nA00001Schraube M4 00120\r\nA00002Dübel 8mm   00007\r\n';
    fs.writeFileSync(path.join(dir, 'in', 'stock.txt'), Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode(fixed, 'utf-16le')]));
    fs.writeFileSync(path.join(dir, 'in', 'orders.xml'), `<?xml version="1.0" encoding="UTF-8"?>
<o:Orders xmlns:o="urn:example:orders" xmlns:x="urn:other">
  <o:Order id="7"><o:Customer>Ärzte GmbH</o:Customer><o:Line>1</o:Line><o:Line>2</o:Line></o:Order>
  <x:Order id="ignored"/>
  <o:Order id="8"><o:Customer><![CDATA[A & B]]></o:Customer><o:Line>1</o:Line></o:Order>
</o:Orders>`);
    const today = new Date();
    const name = `stock-${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}.csv`;
    await waitFor(() => listFiles(path.join(dir, 'out-stock')).includes(name), `${name} to arrive`, 20_000);
    expect(iconv.decode(fs.readFileSync(path.join(dir, 'out-stock', name)), 'windows-1252')).toBe('SKU;Name;Qty\r\nA00001;Schraube M4;120\r\nA00002;Dübel 8mm;7\r\n');
    await waitFor(() => listFiles(path.join(dir, 'out-orders')).length === 2, 'two order records', 20_000);
    const orders = listFiles(path.join(dir, 'out-orders')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, 'out-orders', f), 'utf8')));
    expect(orders).toEqual([{ id: '7', customer: 'Ärzte GmbH', lines: 2 }, { id: '8', customer: 'A & B', lines: 1 }]);
    // each record's key: the file's key + the split key's value
    const keys = engine.queue.list({ flow: 'orders' }).map((i) => i.source_key).sort();
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^orders\.xml.*#k:7$/);
    expect(keys[1]).toMatch(/^orders\.xml.*#k:8$/);
  });
});
