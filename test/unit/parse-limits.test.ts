// The parsers' limits (parse.maxRecordBytes, parse.maxDepth, parse.maxColumns) on hostile and broken
// input: a record over a limit is a bad record naming the limit, the records around it stand, nothing is
// held whole; a problem that ends a document fails the whole file; XML entities never reach outside.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parse as csvParse } from 'csv-parse';
import { describe, expect, it } from 'vitest';
import { parseRecords, type ParsedRecord } from '../../main/engine/process/parse.ts';
import { parseStepConfig } from '../../main/engine/process/schema.ts';
import { CsvGuard } from '../../main/engine/process/csv-guard.ts';
import { tempDir } from '../helpers/tmp.ts';

/** Feeds the bytes in chunks of `chunk` so records straddle chunk borders. */
async function parse(bytes: Buffer | string, cfg: Record<string, unknown>, chunk = 7): Promise<ParsedRecord[]> {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  const chunks: Buffer[] = [];
  for (let i = 0; i < b.length; i += chunk) chunks.push(b.subarray(i, i + chunk));
  const out: ParsedRecord[] = [];
  for await (const r of parseRecords(Readable.from(chunks), parseStepConfig.parse(cfg))) out.push(r);
  return out;
}

/** Streams `head`, then `size` bytes of `fill`, then `tail`, without ever holding them. */
function generated(head: string, fill: string, size: number, tail: string): Readable {
  return Readable.from((function* () {
    yield Buffer.from(head);
    const block = Buffer.from(fill.repeat(Math.ceil(65536 / fill.length)));
    for (let left = size; left > 0; left -= block.length) yield left >= block.length ? block : block.subarray(0, left);
    yield Buffer.from(tail);
  })());
}

async function all(input: Readable, cfg: Record<string, unknown>): Promise<ParsedRecord[]> {
  const out: ParsedRecord[] = [];
  for await (const r of parseRecords(input, parseStepConfig.parse(cfg))) out.push(r);
  return out;
}

const summary = (recs: ParsedRecord[]) => recs.map((r) => (r.error ? { n: r.n, line: r.line, error: r.error.reason, ...(r.error.wholeFile ? { wholeFile: true } : {}) } : { n: r.n, line: r.line, value: r.value }));

/** A small seeded generator, so a failing case can be run again. */
function random(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return Math.floor((s / 2 ** 31) * n);
  };
}

/** csv-parse's rows; `anyLineEnd`: told to end rows at each of \r\n, \n and \r (else it keeps to the first it meets). */
async function csvRows(chunks: Buffer[], trim: boolean, delimiter: string, anyLineEnd = false): Promise<string[][]> {
  const p = csvParse({ delimiter, quote: '"', escape: '"', relax_quotes: true, relax_column_count: true, skip_empty_lines: true, trim, ...(anyLineEnd ? { record_delimiter: ['\r\n', '\n', '\r'] } : {}), skip_records_with_error: true });
  const rows: string[][] = [];
  p.on('data', (r: string[]) => rows.push(r));
  const done = new Promise((r) => p.on('end', r));
  for (const c of chunks) p.write(c);
  p.end();
  await done;
  return rows;
}

/** What the guard hands on from `input` fed in chunks of `size()` bytes. */
function guarded(guard: CsvGuard, input: Buffer, size: () => number): Buffer[] {
  const fed: Buffer[] = [];
  for (let pos = 0; pos < input.length; ) {
    const n = size();
    guard.push(input.subarray(pos, pos + n), fed);
    pos += n;
  }
  guard.end(fed);
  return fed;
}

describe('the CSV guard in front of csv-parse', () => {
  it('csv-parse reads the rows it lets through as it reads them alone, with any mix of line ends, however the bytes are chunked (12,000 random inputs)', async () => {
    const rnd = random(19);
    const alphabet = ['a', 'b', ',', '"', ' ', '\n', '\r', '\r\n', 'é', ';;', '\t', '\u00a0'];
    let compared = 0;
    for (let iter = 0; iter < 12_000; iter++) {
      const delimiter = rnd(2) === 0 ? ',' : ';;';
      const trim = rnd(2) === 0;
      let s = '';
      for (let k = rnd(40); k > 0; k--) s += alphabet[rnd(alphabet.length)];
      const input = Buffer.from(s);
      const guard = new CsvGuard({ delimiter, quote: '"', trim, maxRecordBytes: 1 << 20, maxColumns: 1000, utf8: true });
      const fed = guarded(guard, input, () => 1 + rnd(5));
      if (guard.cut.size > 0) continue; // rows csv-parse would mishandle: covered below
      // every row as csv-parse reads it when told of all three line ends
      expect(await csvRows(fed, trim, delimiter), JSON.stringify(s)).toEqual(await csvRows([input], trim, delimiter, true));
      // one kind of line end: the bytes pass unchanged
      const kinds = [/\r\n/, /\r(?!\n)/, /(?<!\r)\n/].filter((re) => re.test(s)).length;
      if (kinds <= 1) expect(Buffer.concat(fed).equals(input), JSON.stringify(s)).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it('replaces exactly the rows over maxRecordBytes or maxColumns, whatever the chunking; the rest read as written', async () => {
    const rnd = random(7);
    const words = ['a', 'bb', 'x y', 'é', 'q"q', 'line\nbreak', 'cr\r\nlf', ''];
    for (let iter = 0; iter < 3000; iter++) {
      const maxBytes = 10 + rnd(40);
      const maxCols = 2 + rnd(6);
      const rows: string[][] = [];
      for (let r = 1 + rnd(8); r > 0; r--) rows.push(Array.from({ length: 1 + rnd(9) }, () => (rnd(10) === 0 ? 'z'.repeat(rnd(80)) : words[rnd(words.length)])));
      const quote = (f: string) => (/[",\r\n]/.test(f) || f === '' ? `"${f.replace(/"/g, '""')}"` : f);
      const lines = rows.map((r) => r.map(quote).join(','));
      const input = Buffer.from(lines.join(['\n', '\r\n', '\r'][rnd(3)]));
      const guard = new CsvGuard({ delimiter: ',', quote: '"', trim: false, maxRecordBytes: maxBytes, maxColumns: maxCols, utf8: true });
      const fed = guarded(guard, input, () => 1 + rnd(7));
      const got = (await csvRows(fed, false, ',')).map((r) => (r.length === 1 && guard.isMarker(r[0]) ? 'cut' : r));
      expect(got, input.toString()).toEqual(lines.map((l, i) => (Buffer.byteLength(l) > maxBytes || rows[i].length > maxCols ? 'cut' : rows[i])));
    }
  });
});

describe('csv limits', () => {
  it('a quoted field far over maxRecordBytes is one bad record naming the limit; the rows around it stand, with their lines', async () => {
    const before = process.memoryUsage().rss;
    // 64 MiB in one quoted field, against a 1 MiB limit: streamed past, never held
    const recs = await all(generated('id,blob,n\n1,a,1\n2,"', 'x', 64 * 1024 * 1024, '\nstill quoted",2\n3,c,3\n'), { format: 'csv', maxRecordBytes: 1024 * 1024 });
    expect(summary(recs)).toEqual([
      { n: 1, line: 2, value: { id: '1', blob: 'a', n: '1' } },
      { n: 2, line: 3, error: 'the record is larger than 1 MiB (parse.maxRecordBytes)' },
      { n: 3, line: 5, value: { id: '3', blob: 'c', n: '3' } },
    ]);
    // the dead record keeps the row's first 64 KiB, as it was
    expect(Buffer.isBuffer(recs[1].raw) && recs[1].raw.length).toBe(64 * 1024);
    expect((recs[1].raw as Buffer).subarray(0, 6).toString()).toBe('2,"xxx');
    expect(process.memoryUsage().rss - before).toBeLessThan(48 * 1024 * 1024);
  });

  it('the default limit is 16 MiB; a row just under it is read whole', async () => {
    const under = await all(generated('a\n"', 'y', 16 * 1024 * 1024 - 3, '"\n'), { format: 'csv' });
    expect(under.map((r) => [r.error?.reason, String(r.value?.a ?? '').length])).toEqual([[undefined, 16 * 1024 * 1024 - 3]]);
    const over = await all(generated('a\n"', 'y', 16 * 1024 * 1024, '"\n'), { format: 'csv' });
    expect(over.map((r) => r.error?.reason)).toEqual(['the record is larger than 16 MiB (parse.maxRecordBytes)']);
  });

  it('maxColumns: a row wider than it is bad on its own; a header wider than it fails the whole file', async () => {
    const wide = ','.repeat(100_000);
    expect(summary(await parse(`a,b\n1,2\n${wide}\n3,4\n`, { format: 'csv' }, 4096))).toEqual([
      { n: 1, line: 2, value: { a: '1', b: '2' } },
      { n: 2, line: 3, error: 'the row has more than 16384 columns (parse.maxColumns)' },
      { n: 3, line: 4, value: { a: '3', b: '4' } },
    ]);
    expect(summary(await parse(`${wide}\n1,2\n`, { format: 'csv' }, 4096))).toEqual([
      { n: 1, line: 1, error: 'the header row: the row has more than 16384 columns (parse.maxColumns)', wholeFile: true },
    ]);
    expect(summary(await parse('a;b;c\n1;2;3\n1;2;3;4\n', { format: 'csv', delimiter: ';', maxColumns: 3 }))).toEqual([
      { n: 1, line: 2, value: { a: '1', b: '2', c: '3' } },
      { n: 2, line: 3, error: 'the row has more than 3 columns (parse.maxColumns)' },
    ]);
  });

  it('text after a closing quote is a bad row; the rows after it are not lost (csv-parse alone drops the rest of its chunk)', async () => {
    const csv = 'id,name\n1,"Anna" Berg\n2,Bernd\n3,"Carla"x\n4,Dora\n';
    expect(summary(await parse(csv, { format: 'csv' }, 1024))).toEqual([
      { n: 1, line: 2, error: 'text after a closing quote (quote the whole field and double any quote inside it)' },
      { n: 2, line: 3, value: { id: '2', name: 'Bernd' } },
      { n: 3, line: 4, error: 'text after a closing quote (quote the whole field and double any quote inside it)' },
      { n: 4, line: 5, value: { id: '4', name: 'Dora' } },
    ]);
    // without trimming csv-parse reads such a quote as text, as before
    expect((await parse(csv, { format: 'csv', trim: false }, 1024)).map((r) => r.value?.name)).toEqual(['"Anna" Berg', 'Bernd', '"Carla"x', 'Dora']);
  });

  it('mixed line endings (\\r\\n, \\n, \\r) all end rows; quoted line breaks stay in their field; line numbers follow', async () => {
    const recs = await parse('id,note\r\n1,a\n2,"two\r\nlines"\r3,c\r\n\n4,d', { format: 'csv' }, 3);
    expect(summary(recs)).toEqual([
      { n: 1, line: 2, value: { id: '1', note: 'a' } },
      { n: 2, line: 3, value: { id: '2', note: 'two\r\nlines' } },
      { n: 3, line: 5, value: { id: '3', note: 'c' } },
      { n: 4, line: 7, value: { id: '4', note: 'd' } },
    ]);
  });

  it('NUL bytes are data; a UTF-8 BOM is not; a quoted NUL-filled field over the limit is cut like any other', async () => {
    const recs = await parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('id,v\n1,a\u0000b\n2,"\u0000"\n')]), { format: 'csv' }, 2);
    expect(recs.map((r) => r.value)).toEqual([{ id: '1', v: 'a\u0000b' }, { id: '2', v: '\u0000' }]);
    const nul = await all(generated('v\n"', '\u0000', 2 * 1024 * 1024, '"\nok\n'), { format: 'csv', maxRecordBytes: 1024 * 1024 });
    expect(summary(nul)).toEqual([{ n: 1, line: 2, error: 'the record is larger than 1 MiB (parse.maxRecordBytes)' }, { n: 2, line: 3, value: { v: 'ok' } }]);
  });
});

describe('line formats (fixed-width, ndjson)', () => {
  it('a line over maxRecordBytes is bad on its own; the lines after it are read', async () => {
    const fixed = await all(generated('ab\n', 'q', 3 * 1024 * 1024, '\ncd\n'), { format: 'fixed-width', columns: [{ name: 'x', start: 1, length: 2 }], maxRecordBytes: 1024 * 1024 });
    expect(summary(fixed)).toEqual([
      { n: 1, line: 1, value: { x: 'ab' } },
      { n: 2, line: 2, error: 'the line is larger than 1 MiB (parse.maxRecordBytes)' },
      { n: 3, line: 3, value: { x: 'cd' } },
    ]);
    const nd = await all(generated('{"a":1}\n{"b":"', 'z', 3 * 1024 * 1024, '"}\n{"c":2}\n'), { format: 'ndjson', maxRecordBytes: 1024 * 1024 });
    expect(summary(nd)).toEqual([
      { n: 1, line: 1, value: { a: 1 } },
      { n: 2, line: 2, error: 'the line is larger than 1 MiB (parse.maxRecordBytes)' },
      { n: 3, line: 3, value: { c: 2 } },
    ]);
  });

  it('ndjson: a line nested deeper than maxDepth is bad without being parsed; brackets in strings do not count', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const inString = JSON.stringify({ s: '['.repeat(5000) });
    expect(summary(await parse(`{"a":1}\n${deep}\n${inString}\n`, { format: 'ndjson' }, 65536))).toEqual([
      { n: 1, line: 1, value: { a: 1 } },
      { n: 2, line: 2, error: 'nested deeper than 1000 levels (parse.maxDepth)' },
      { n: 3, line: 3, value: { s: '['.repeat(5000) } },
    ]);
    expect((await parse(`${'{"a":'.repeat(6)}1${'}'.repeat(6)}\n`, { format: 'ndjson', maxDepth: 5 })).map((r) => r.error?.reason)).toEqual(['nested deeper than 5 levels (parse.maxDepth)']);
  });

  it('a line with bytes that are not UTF-8 is bad, naming the encoding setting; its neighbours are read', async () => {
    const bytes = Buffer.concat([Buffer.from('{"a":"Zoë"}\n{"b":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n{"c":"𝄞"}\n')]);
    expect(summary(await parse(bytes, { format: 'ndjson' }, 1))).toEqual([
      { n: 1, line: 1, value: { a: 'Zoë' } },
      { n: 2, line: 2, error: "not valid UTF-8 (set parse.encoding to the file's encoding, e.g. windows-1252)" },
      { n: 3, line: 3, value: { c: '𝄞' } },
    ]);
  });
});

/** A random JSON value (strings with escapes and brackets in them, nesting up to `depth`). */
function randomJson(rnd: (n: number) => number, depth: number): unknown {
  const strings = ['', 'a', 'x"y', 'b\\s', '[{', '}]', '\u00e9', ',:', '\n'];
  switch (depth <= 0 ? rnd(4) : rnd(6)) {
    case 0:
      return rnd(1000) - 500;
    case 1:
      return strings[rnd(strings.length)];
    case 2:
      return [true, false, null][rnd(3)];
    case 3:
      return rnd(100) / 7;
    case 4:
      return Array.from({ length: rnd(4) }, () => randomJson(rnd, depth - 1));
    default:
      return Object.fromEntries(Array.from({ length: rnd(4) }, (_, i) => [`${strings[rnd(strings.length)]}${i}`, randomJson(rnd, depth - 1)]));
  }
}

/** JSON text with random white space between tokens. */
function spaced(rnd: (n: number) => number, v: unknown): string {
  const ws = () => [' ', '', '\n', '\t ', ''][rnd(5)];
  if (Array.isArray(v)) return `[${ws()}${v.map((x) => spaced(rnd, x)).join(`${ws()},${ws()}`)}${ws()}]`;
  if (v && typeof v === 'object') return `{${ws()}${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}${ws()}:${ws()}${spaced(rnd, x)}`).join(`,${ws()}`)}${ws()}}`;
  return JSON.stringify(v);
}

describe('json limits and streaming', () => {
  it('streamed records are the elements of the array (top level or at data.items) as JSON.parse reads them, whatever the chunking (1,000 random documents)', async () => {
    const rnd = random(42);
    for (let iter = 0; iter < 1000; iter++) {
      const records = Array.from({ length: rnd(5) }, () => (rnd(5) === 0 ? randomJson(rnd, 3) : { id: iter, v: randomJson(rnd, 3) }));
      const wrapped = rnd(2) === 0;
      const doc = wrapped ? { meta: randomJson(rnd, 2), data: { items: records, other: randomJson(rnd, 2) } } : records;
      const text = `${['', ' ', '\n'][rnd(3)]}${spaced(rnd, doc)}${['', '\n', '  '][rnd(3)]}`;
      const got = await parse(text, { format: 'json', ...(wrapped ? { recordPath: 'data.items' } : {}) }, 1 + rnd(9));
      const want = records.map((r, i) => (r && typeof r === 'object' && !Array.isArray(r) ? { n: i + 1, value: r } : { n: i + 1, error: `expected an object, got ${Array.isArray(r) ? 'an array' : JSON.stringify(r)}` }));
      expect(got.map((r) => (r.error ? { n: r.n, error: r.error.reason } : { n: r.n, value: r.value })), text).toEqual(want);
    }
  });


  it('200,000 levels deep: no stack overflow; a deep element is bad on its own, a deep document fails the file', async () => {
    const deepArray = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    expect(summary(await parse(`[{"a":1},${deepArray},{"b":2}]`, { format: 'json' }, 65536))).toEqual([
      { n: 1, value: { a: 1 } },
      { n: 2, error: 'nested deeper than 1000 levels (parse.maxDepth)' },
      { n: 3, value: { b: 2 } },
    ]);
    const deepObject = `${'{"a":'.repeat(200_000)}1${'}'.repeat(200_000)}`;
    expect(summary(await parse(deepObject, { format: 'json' }, 65536))).toEqual([{ n: 1, error: 'nested deeper than 1000 levels (parse.maxDepth)', wholeFile: true }]);
    // exactly at the limit is fine
    const atLimit = `[${'['.repeat(9)}1${']'.repeat(9)}, {"x":1}]`;
    expect((await parse(atLimit, { format: 'json', maxDepth: 10 })).map((r) => r.error?.reason ?? r.value)).toEqual(['expected an object, got an array', { x: 1 }]);
  });

  it('records stream out one at a time: one over maxRecordBytes is bad alone, the document may be any size', async () => {
    const recs = await all(generated('[{"a":1},{"big":"', 'w', 5 * 1024 * 1024, '"},{"c":3}]'), { format: 'json', maxRecordBytes: 1024 * 1024 });
    expect(summary(recs)).toEqual([{ n: 1, value: { a: 1 } }, { n: 2, error: 'the record is larger than 1 MiB (parse.maxRecordBytes)' }, { n: 3, value: { c: 3 } }]);
    // 3 MiB of small records under a 1 MiB limit: the document is not a record
    const many = JSON.stringify(Array.from({ length: 60_000 }, (_, i) => ({ i, s: 'some text here' })));
    const read = await parse(many, { format: 'json', maxRecordBytes: 1024 * 1024 }, 65536);
    expect(read).toHaveLength(60_000);
    expect(read[59_999].value).toEqual({ i: 59_999, s: 'some text here' });
  });

  it('a plain recordPath streams the array it names (through arrays on the way, as JSONata does); other values are skipped', async () => {
    const doc = JSON.stringify({ meta: { items: [{ no: 1 }], depth: [[[{}]]] }, data: [{ items: [{ a: 1 }, { a: 2 }] }, { items: { a: 3 } }, { other: 1 }], items: [{ no: 2 }] });
    expect((await parse(doc, { format: 'json', recordPath: 'data.items' }, 5)).map((r) => r.value)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    // the same through JSONata itself (an expression that is not a plain path reads the document whole)
    expect((await parse(doc, { format: 'json', recordPath: 'data.items[a > 0]' }, 5)).map((r) => r.value)).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(await parse('{"data":{"items":[]}}', { format: 'json', recordPath: 'data.items' })).toEqual([]);
    expect((await parse('{"da\\u0074a":{"items":[{"k":"\\"]}"}]}}', { format: 'json', recordPath: 'data.items' })).map((r) => r.value)).toEqual([{ k: '"]}' }]);
  });

  it('a recordPath that needs the whole document: over maxRecordBytes the file fails naming the limit', async () => {
    const recs = await all(generated('{"items":[{"s":"', 'v', 2 * 1024 * 1024, '"}]}'), { format: 'json', recordPath: 'items[0]', maxRecordBytes: 1024 * 1024 });
    expect(summary(recs)).toEqual([{ n: 1, error: 'the record is larger than 1 MiB (parse.maxRecordBytes)', wholeFile: true }]);
  });

  it('broken documents fail the file with a clear reason; records before the break stand', async () => {
    expect(summary(await parse('[{"a":1},{"b":2}}', { format: 'json' }))).toEqual([
      { n: 1, value: { a: 1 } },
      { n: 2, value: { b: 2 } },
      { n: 3, error: 'invalid JSON at byte 16: "}" does not close the array open there', wholeFile: true },
    ]);
    expect(summary(await parse('', { format: 'json' }))).toEqual([{ n: 1, error: 'invalid JSON: the file holds no JSON document', wholeFile: true }]);
    expect(summary(await parse('{"a":1}\n{"b":2}\n', { format: 'json' }))).toEqual([{ n: 1, value: { a: 1 } }, { n: 2, error: 'invalid JSON at byte 8: more than one value at the top level', wholeFile: true }]);
    expect(summary(await parse('{"a":', { format: 'json' }))[0]).toMatchObject({ n: 1, error: expect.stringMatching(/^invalid JSON document: /), wholeFile: true });
    expect(summary(await parse('[{"a":1},{"b":', { format: 'json' }))[1]).toMatchObject({ n: 2, error: expect.stringMatching(/^invalid JSON: /) });
  });

  it('a record that is not UTF-8 is bad, not silently changed', async () => {
    const bytes = Buffer.concat([Buffer.from('[{"a":"ok"},{"b":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]);
    expect(summary(await parse(bytes, { format: 'json' }))).toEqual([{ n: 1, value: { a: 'ok' } }, { n: 2, error: "not valid UTF-8 (set parse.encoding to the file's encoding, e.g. windows-1252)" }]);
  });
});

describe('xml limits', () => {
  it('elements nested deeper than maxDepth end the document (the records before stand)', async () => {
    const recs = await all(generated('<r><rec>1</rec>', '<a>', 600_000, ''), { format: 'xml', record: 'rec' });
    expect(summary(recs)).toEqual([
      { n: 1, line: 1, value: '1' as never },
      { n: 2, line: 1, error: 'elements nested deeper than 1000 levels (parse.maxDepth)', wholeFile: true },
    ]);
  });

  it('a text node over maxRecordBytes ends the document before saxes holds it; a record over it is bad alone', async () => {
    const text = await all(generated('<r><rec>1</rec><rec>', 't', 40 * 1024 * 1024, '</rec></r>'), { format: 'xml', record: 'rec', maxRecordBytes: 1024 * 1024 });
    expect(summary(text)).toEqual([
      { n: 1, line: 1, value: '1' as never },
      { n: 2, line: 1, error: 'a text node, attribute or comment is larger than 1 MiB (parse.maxRecordBytes)', wholeFile: true },
    ]);
    const wide = await all(generated('<r><rec>1</rec><rec>', '<x>yy</x>', 9 * 350_000, '</rec><rec>3</rec></r>'), { format: 'xml', record: 'rec', maxRecordBytes: 1024 * 1024 });
    expect(summary(wide)).toEqual([
      { n: 1, line: 1, value: '1' as never },
      { n: 2, line: 1, error: 'the record is larger than 1 MiB (parse.maxRecordBytes)' },
      { n: 3, line: 1, value: '3' as never },
    ]);
  });

  it('external entities are never resolved: no content of the file they name reaches a record or an error', async () => {
    const dir = tempDir();
    const secret = path.join(dir, 'secret.txt');
    fs.writeFileSync(secret, 'TOP-SECRET-LINE root:x:0:0');
    fs.writeFileSync(path.join(dir, 'evil.dtd'), `<!ENTITY leak SYSTEM "file://${secret}">`);
    const docs = [
      `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://${secret}">]><r><rec><v>&x;</v></rec><rec><v>2</v></rec></r>`,
      `<?xml version="1.0"?><!DOCTYPE r SYSTEM "file://${path.join(dir, 'evil.dtd')}"><r><rec><v>&leak;</v></rec></r>`,
      `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file://${path.join(dir, 'evil.dtd')}"> %p;]><r><rec><v>&leak;</v></rec></r>`,
      `<?xml version="1.0"?><!DOCTYPE r SYSTEM "file://${secret}"><r><rec><v>plain</v></rec></r>`,
    ];
    const seen: string[] = [];
    for (const doc of docs) {
      const recs = await parse(doc, { format: 'xml', record: 'rec' }, 16);
      seen.push(JSON.stringify(recs));
      expect(recs.length).toBeGreaterThan(0);
    }
    expect(seen.join('\n')).not.toContain('TOP-SECRET');
    expect(seen[0]).toContain('undefined entity');
    expect(JSON.parse(seen[3])[0].value).toEqual({ v: 'plain' }); // a DOCTYPE alone is harmless: not fetched
  });

  it('an entity bomb is refused at once, not expanded', async () => {
    const lol = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)].join('');
    const recs = await parse(`<?xml version="1.0"?><!DOCTYPE r [${lol}]><r><rec>&lol9;</rec></r>`, { format: 'xml', record: 'rec' }, 64);
    expect(summary(recs)).toEqual([{ n: 1, line: 1, error: expect.stringMatching(/^malformed XML: .*undefined entity/), wholeFile: true }]);
  });
});

describe('config', () => {
  it('the limits have defaults and bounds', () => {
    expect(parseStepConfig.parse({ format: 'csv' })).toMatchObject({ maxRecordBytes: 16 * 1024 * 1024, maxColumns: 16_384 });
    expect(parseStepConfig.parse({ format: 'json' })).toMatchObject({ maxRecordBytes: 16 * 1024 * 1024, maxDepth: 1000 });
    expect(parseStepConfig.parse({ format: 'xml', record: 'r' })).toMatchObject({ maxDepth: 1000 });
    expect(() => parseStepConfig.parse({ format: 'json', maxDepth: 5000 })).toThrow();
    expect(() => parseStepConfig.parse({ format: 'csv', maxRecordBytes: 10 })).toThrow();
    expect(() => parseStepConfig.parse({ format: 'csv', maxDepth: 10 })).toThrow(); // csv has no nesting
  });
});
