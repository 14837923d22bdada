// Parsers on legacy fixtures (encodings, delimiters, decimal commas, quoted newlines, fixed width, XML
// namespaces), JSONata filter/map, the output formats, and config errors of the process: list.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { parseRecords, type ParsedRecord } from '../../main/engine/process/parse.ts';
import { compileProcess, runProcess, type RecordFailure } from '../../main/engine/process/pipeline.ts';
import { createFormatter } from '../../main/engine/process/format.ts';
import { formatStepConfig, parseStepConfig, processSchema } from '../../main/engine/process/schema.ts';
import { parseConfigText } from '../../main/engine/config/load.ts';
import { renderTemplate } from '../../connectors/contract.ts';
import { repoRoot } from '../helpers/cli.ts';

const fixture = (name: string) => path.join(repoRoot, 'test/fixtures/records', name);

/** Parses a fixture, fed in small chunks so multi-byte characters and records straddle chunk borders. */
async function parse(file: string | Buffer, cfg: Record<string, unknown>, chunk = 7): Promise<ParsedRecord[]> {
  const bytes = Buffer.isBuffer(file) ? file : fs.readFileSync(fixture(file));
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  const out: ParsedRecord[] = [];
  for await (const r of parseRecords(Readable.from(chunks), parseStepConfig.parse(cfg))) out.push(r);
  return out;
}

describe('csv / tsv', () => {
  it('windows-1252, ";" delimiter, decimal commas, a quoted newline and a quoted delimiter', async () => {
    const recs = await parse('invoices-windows-1252.csv', { format: 'csv', delimiter: ';', encoding: 'windows-1252', decimalComma: true, types: { Betrag: 'number' } });
    expect(recs.map((r) => r.value)).toEqual([
      { Rechnungsnr: '2024-001', Betrag: 1234.56, Kunde: 'Müller GmbH', 'Straße': 'Hauptstraße 1\r\nHinterhaus', Status: 'OFFEN' },
      { Rechnungsnr: '2024-002', Betrag: -12.5, Kunde: 'Bäcker; Söhne', 'Straße': 'Gärtnerweg 5', Status: 'BEZAHLT' },
      { Rechnungsnr: '2024-003', Betrag: 0.99, Kunde: 'Ærø ApS', 'Straße': 'Østergade 2', Status: 'OFFEN' },
    ]);
    expect(recs.map((r) => [r.n, r.line])).toEqual([[1, 2], [2, 4], [3, 5]]);
  });

  it('the same file read as UTF-8 by mistake: a row that is not UTF-8 is a bad record saying so, with its bytes as they were; a header that is not fails the file', async () => {
    const bytes = fs.readFileSync(fixture('invoices-windows-1252.csv'));
    // the header holds "Straße": without it no row can be read, so the whole file is the bad record
    const recs = await parse(bytes, { format: 'csv', delimiter: ';', encoding: 'utf-8' });
    expect(recs).toHaveLength(1);
    expect(recs[0].error).toMatchObject({ wholeFile: true, reason: expect.stringMatching(/^the header row: not valid UTF-8 \(set parse\.encoding to the file's encoding/) });
    // the same file without that header: each row is bad on its own, kept byte for byte, numbered
    const rows = bytes.subarray(bytes.indexOf(0x0a) + 1);
    const bad = await parse(rows, { format: 'csv', delimiter: ';', encoding: 'utf-8', header: false });
    expect(bad.map((r) => [r.n, r.line, r.error?.reason.slice(0, 19)])).toEqual([[1, 1, 'not valid UTF-8 (se'], [2, 3, 'not valid UTF-8 (se'], [3, 4, 'not valid UTF-8 (se']]);
    expect(rows.includes(bad[0].raw as Buffer)).toBe(true);
  });

  it('UTF-16 LE with BOM (auto-detected), tab-separated', async () => {
    const recs = await parse('contacts-utf16le-bom.tsv', { format: 'tsv' }, 5);
    expect(recs.map((r) => r.value)).toEqual([
      { name: 'Zoë Çelik', city: 'İzmir', email: 'zoe@example.com' },
      { name: '李雷', city: '北京', email: 'li@example.com' },
    ]);
  });

  it('UTF-8 with BOM: the BOM does not end up in the first column name; doubled quotes', async () => {
    const recs = await parse('prices-utf8-bom.csv', { format: 'csv', types: { price: 'number' } });
    expect(Object.keys(recs[0].value!)).toEqual(['sku', 'description', 'price']);
    expect(recs.map((r) => r.value)).toEqual([
      { sku: 'A-1', description: '12" pipe, "heavy"', price: 1234.5 },
      { sku: 'A-2', description: 'Ventil', price: 99 },
    ]);
  });

  it('UTF-8 reaches csv-parse as bytes: the same records whatever the chunking, a BOM split across chunks, explicit or auto encoding', async () => {
    const expected = [
      { sku: 'A-1', description: '12" pipe, "heavy"', price: '1,234.50' },
      { sku: 'A-2', description: 'Ventil', price: '99' },
    ];
    for (const encoding of ['utf-8', 'auto', 'UTF8']) {
      for (const chunk of [1, 2, 1024]) expect((await parse('prices-utf8-bom.csv', { format: 'csv', encoding }, chunk)).map((r) => r.value)).toEqual(expected);
    }
    // multi-byte characters split across chunks, and a row that is not UTF-8 (a bad record, not U+FFFD)
    const bytes = Buffer.concat([Buffer.from('name,city\nZoë,Kraków\n'), Buffer.from([0x41, 0xe4, 0x2c, 0x42, 0x0a]), Buffer.from('Åsa,Örebro\n')]);
    const recs = await parse(bytes, { format: 'csv' }, 1);
    expect(recs.map((r) => r.value ?? r.error!.reason)).toEqual([{ name: 'Zoë', city: 'Kraków' }, expect.stringMatching(/not valid UTF-8/), { name: 'Åsa', city: 'Örebro' }]);
    expect(recs.map((r) => r.line)).toEqual([2, 3, 4]);
  });

  it('bad rows become error records naming line and field; the rest continue', async () => {
    const csv = 'id;amount;date\n1;5,5;31.12.2023\n2;x;01.01.2024\n3;1,0\n4;2,0;30.02.2024\n5;3,0;2024-03-01\n';
    const recs = await parse(Buffer.from(csv), { format: 'csv', delimiter: ';', decimalComma: true, types: { amount: 'number', date: 'date' } });
    expect(recs.map((r) => r.value && !r.error ? r.value : { n: r.n, line: r.line, ...r.error })).toEqual([
      { id: '1', amount: 5.5, date: '2023-12-31' },
      { n: 2, line: 3, step: 'parse', field: 'amount', reason: 'field amount: expected a number (decimal comma), got "x"' },
      { n: 3, line: 4, step: 'parse', field: 'date', reason: 'expected 3 fields, got 2' },
      { n: 4, line: 5, step: 'parse', field: 'date', reason: 'field date: expected a date (yyyy-MM-dd, dd.MM.yyyy or ISO 8601), got "30.02.2024"' },
      { id: '5', amount: 3, date: '2024-03-01' },
    ]);
    expect(recs[2].raw).toBe('3;1,0');
  });

  it('no header row: columns given, or column1…; skipLines drops a title line', async () => {
    const a = await parse(Buffer.from('REPORT\n1,a\n2,b\n'), { format: 'csv', header: false, skipLines: 1, columns: ['id', 'code'] });
    expect(a.map((r) => r.value)).toEqual([{ id: '1', code: 'a' }, { id: '2', code: 'b' }]);
    const b = await parse(Buffer.from('1,a\n'), { format: 'csv', header: false });
    expect(b[0].value).toEqual({ column1: '1', column2: 'a' });
  });
});

describe('fixed-width', () => {
  it('ISO-8859-1 with a column layout; a short line is a bad record naming the field', async () => {
    const recs = await parse('stock-iso-8859-1.txt', {
      format: 'fixed-width', encoding: 'iso-8859-1', skipLines: 1, strictLength: true,
      columns: [{ name: 'sku', start: 1, length: 6 }, { name: 'name', start: 7, length: 12 }, { name: 'qty', start: 19, length: 7 }],
      types: { qty: 'integer' },
    });
    expect(recs.map((r) => r.value ?? r.error)).toEqual([
      { sku: 'A00001', name: 'Schraube M4', qty: 12000 },
      { sku: 'A00002', name: 'Dübel 8mm', qty: 750 },
      { step: 'parse', field: 'name', reason: 'line is 14 characters, the layout needs 25' },
      { sku: 'A00004', name: 'Öse', qty: 10 },
    ]);
    expect(recs[2]).toMatchObject({ n: 3, line: 4, raw: 'A00003Größe XL' });
  });
});

describe('xml', () => {
  it('namespaces: the record element by prefix, its URI or Clark notation; other namespaces are ignored; encoding from the declaration', async () => {
    const expected = [
      { '@id': 'A-1', '@currency': 'EUR', Customer: 'Jürgen Weiß', Line: [{ '@sku': 'X1', Qty: '2' }, { '@sku': 'X2', Qty: '1' }], Note: 'Bitte <nicht> knicken & stapeln' },
      { '@id': 'A-2', '@currency': 'CHF', Customer: 'Zoë', Line: { '@sku': 'X3', Qty: '5' } },
    ];
    const byPrefix = await parse('orders-namespaces.xml', { format: 'xml', record: 'o:Order', namespaces: { o: 'urn:example:orders' } });
    expect(byPrefix.map((r) => r.value)).toEqual(expected);
    const clark = await parse('orders-namespaces.xml', { format: 'xml', record: '{urn:example:orders}Order' });
    expect(clark.map((r) => r.value)).toEqual(expected);
    const local = await parse('orders-namespaces.xml', { format: 'xml', record: 'Order' });
    expect(local).toHaveLength(3); // the local name alone also matches audit:Order
  });

  it('malformed XML: the records before it stand, then one error record', async () => {
    const recs = await parse(Buffer.from('<r><o><a>1</a></o><o><a>2</b></o></r>'), { format: 'xml', record: 'o' });
    expect(recs[0].value).toEqual({ a: '1' });
    expect(recs[1].error!.reason).toMatch(/^malformed XML: .*unexpected close tag/);
  });
});

describe('json / ndjson', () => {
  it('ndjson: bad lines are errors with their line number, blank lines skipped', async () => {
    const recs = await parse('events.ndjson', { format: 'ndjson' });
    expect(recs.map((r) => r.value ?? { line: r.line, reason: r.error!.reason.slice(0, 13) })).toEqual([
      { id: 1, type: 'created' }, { id: 2, type: 'updated' }, { line: 4, reason: 'invalid JSON:' }, { id: 4, type: 'deleted' },
    ]);
  });

  it('json: recordPath selects the records', async () => {
    const recs = await parse(Buffer.from('{"data":{"items":[{"a":1},{"a":2}]}}'), { format: 'json', recordPath: 'data.items' });
    expect(recs.map((r) => r.value)).toEqual([{ a: 1 }, { a: 2 }]);
  });
});

describe('JSONata filter and map', () => {
  async function run(steps: unknown[], input: string) {
    const proc = compileProcess(processSchema.parse(steps));
    const errors: RecordFailure[] = [];
    const outputs: string[] = [];
    for await (const o of runProcess(Readable.from([Buffer.from(input)]), proc, { fileName: 'in.csv', onError: (e) => errors.push(e) })) {
      outputs.push(Buffer.isBuffer(o.body) ? o.body.toString() : '');
    }
    return { outputs, errors };
  }

  it('filters, maps into nested objects, splits into one JSON per record', async () => {
    const { outputs, errors } = await run([
      { parse: { format: 'csv' } },
      { filter: 'status = "OPEN" and $number(qty) > 0' },
      { map: '{ "id": $number(id), "customer": { "email": $lowercase(email) }, "tags": [status] }' },
      { split: true },
    ], 'id,email,status,qty\n1,A@X.DE,OPEN,2\n2,b@x.de,CLOSED,1\n3,c@x.de,OPEN,0\n4,D@x.de,OPEN,1\n');
    expect(errors).toEqual([]);
    expect(outputs.map((o) => JSON.parse(o))).toEqual([
      { id: 1, customer: { email: 'a@x.de' }, tags: ['OPEN'] },
      { id: 4, customer: { email: 'd@x.de' }, tags: ['OPEN'] },
    ]);
  });

  it('a mapping error names the record, the step and the field holding the bad value', async () => {
    const { outputs, errors } = await run([
      { parse: { format: 'csv' } },
      { map: '{ "id": id, "total": $number(amount) }' },
      { batch: { size: 10 } },
    ], 'id,amount\n1,5\n2,abc\n3,7\n');
    expect(JSON.parse(outputs[0])).toEqual([{ id: '1', total: 5 }, { id: '3', total: 7 }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ n: 2, line: 3, step: 'map (step 2)', field: 'amount' });
    expect(errors[0].reason).toMatch(/^map \(step 2\), field amount: D3030: Unable to cast value to a number: "abc"/);
  });

  it('batches: full batches and the rest, in order', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => `${i + 1}`).join('\n');
    const { outputs } = await run([{ parse: { format: 'csv' } }, { batch: { size: 3 } }, { format: { format: 'ndjson' } }], `n\n${rows}\n`);
    expect(outputs).toEqual(['{"n":"1"}\n{"n":"2"}\n{"n":"3"}\n', '{"n":"4"}\n{"n":"5"}\n{"n":"6"}\n', '{"n":"7"}\n']);
  });
});

describe('formats', () => {
  const recs = [{ id: 1, name: 'Müller & Söhne <GmbH>', amount: 1234.5, tags: ['a', 'b'], addr: { city: 'Köln' } }, { id: 2, name: 'x;y"z', amount: -1 }];
  const fmt = (cfg: Record<string, unknown>) => createFormatter(formatStepConfig.parse(cfg)).batch(recs, new Date());

  it('csv: columns, ";" with decimal commas, quoting, windows-1252 output', async () => {
    const out = await fmt({ format: 'csv', delimiter: ';', decimalComma: true, encoding: 'windows-1252', columns: ['id', 'name', 'amount'] });
    expect(iconv.decode(out, 'windows-1252')).toBe('id;name;amount\r\n1;Müller & Söhne <GmbH>;1234,5\r\n2;"x;y""z";-1\r\n');
    expect(out.includes(Buffer.from('Müller', 'utf8'))).toBe(false);
  });

  it('xml: escaped text, nested objects and repeated elements', async () => {
    const out = (await fmt({ format: 'xml', root: 'Orders', record: 'Order' })).toString();
    expect(out).toContain('<name>Müller &amp; Söhne &lt;GmbH&gt;</name>');
    expect(out).toContain('<tags>a</tags>\n    <tags>b</tags>');
    expect(out).toContain('<addr>\n      <city>Köln</city>\n    </addr>');
    expect(out.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<Orders>\n  <Order>')).toBe(true);
  });

  it('json array for a batch, ndjson one per line', async () => {
    expect(JSON.parse((await fmt({ format: 'json' })).toString())).toEqual(recs);
    expect((await fmt({ format: 'ndjson' })).toString().trim().split('\n').map((l) => JSON.parse(l))).toEqual(recs);
  });

  it('file-name templates', () => {
    const now = new Date(2024, 4, 31, 23, 5, 9);
    expect(renderTemplate('orders-{date:yyyy-MM-dd}.csv', {}, {}, now)).toBe('orders-2024-05-31.csv');
    expect(renderTemplate('{stem}-{date:yyyyMMdd-HHmmss}.{ext} for {attr.customer} {unknown}', { name: 'in.csv' }, { customer: 'ACME' }, now)).toBe('in-20240531-230509.csv for ACME {unknown}');
  });
});

describe('config errors of process:', () => {
  const flow = (process: unknown, extra = '') => `
integrations:
  - name: i
    flows:
      - name: f
        source: { type: folder, path: ./in }
        destination: { type: folder, path: ./out }
        ${extra}
        process: ${JSON.stringify(process)}
`;
  const problems = (text: string) => {
    const r = parseConfigText(text, '/tmp/x/ferry.yaml');
    return r.ok ? [] : r.problems;
  };

  it('names the key path of a bad JSONata expression, a bad encoding, a bad step order', () => {
    expect(problems(flow([{ parse: { format: 'csv' } }, { map: '{ "a": ' }]))).toEqual([
      expect.stringMatching(/^integrations\[0\]\.flows\[0\]\.process\[1\]\.map: expected a JSONata expression, got "\{ \\"a\\": " \(/),
    ]);
    expect(problems(flow([{ parse: { format: 'csv', encoding: 'klingon' } }]))).toEqual([
      'integrations[0].flows[0].process[0].parse.encoding: expected a character encoding like utf-8, windows-1252, iso-8859-1, utf-16le or auto, got "klingon"',
    ]);
    expect(problems(flow([{ filter: 'true' }]))).toEqual(['integrations[0].flows[0].process[0]: expected the first step to be parse, got filter']);
    expect(problems(flow([{ parse: { format: 'csv' } }, { format: { format: 'json' } }, { map: '$' }]))).toEqual(['integrations[0].flows[0].process[1]: expected format to be the last step']);
    expect(problems(flow([{ parse: { format: 'yaml' } }]))).toEqual(['integrations[0].flows[0].process[0].parse.format: expected parse format csv | tsv | json | ndjson | xml | fixed-width, got "yaml"']);
    expect(problems(flow([{ parse: { format: 'csv' } }], 'onRecordError: skip'))).toEqual(['integrations[0].flows[0].onRecordError: expected one of "dead" | "fail-file", got "skip"']);
  });

  it('accepts the issue\'s example', () => {
    expect(problems(flow([
      { parse: { format: 'csv', delimiter: ';', header: true, encoding: 'windows-1252' } },
      { filter: 'status = "OPEN"' },
      { map: '{ "id": InvoiceNo, "total": $number(Amount), "customer": { "email": Email } }' },
      { batch: { size: 500 } },
      { format: { format: 'json' } },
    ], 'onRecordError: fail-file'))).toEqual([]);
  });
});
