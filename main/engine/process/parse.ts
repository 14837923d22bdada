// Streaming parsers: a body stream in, records out one at a time (never the whole file in memory, except
// `json`, which is one document). Each record carries its 1-based number and, where known, its line, so
// a bad record can be named. Bad input becomes an error record; parsing goes on with the next record.
import { finished } from 'node:stream/promises';
import type { Options as CsvOptions } from 'csv-parse';
import iconv from 'iconv-lite';
import jsonata from 'jsonata';
import type { SaxesTagNS } from 'saxes';
import type { ParseConfig } from './schema.ts';

export type Rec = Record<string, unknown>;

export interface RecordError {
  /** Which step found the problem: parse, filter, map, format. */
  step: string;
  reason: string;
  field?: string;
}

export interface ParsedRecord {
  /** 1-based number of the record in the file (data records, header not counted). */
  n: number;
  line?: number;
  value?: Rec;
  error?: RecordError;
  /** The raw text of a bad record (kept with its dead item). */
  raw?: string;
}

/** Decodes bytes to text in the given encoding; "auto" reads a BOM (UTF-8, UTF-16 LE/BE), else UTF-8. */
export async function* decodeText(input: AsyncIterable<Buffer | string>, encoding: string, xmlDeclaration = false): AsyncGenerator<string> {
  const sniff = (head: Buffer) => sniffEncoding(head, xmlDeclaration);
  let decoder: ReturnType<typeof iconv.getDecoder> | undefined;
  let head = Buffer.alloc(0);
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    if (!decoder) {
      head = Buffer.concat([head, chunk]);
      if (head.length < (xmlDeclaration ? 256 : 4) && encoding === 'auto') continue;
      decoder = iconv.getDecoder(encoding === 'auto' ? sniff(head) : encoding, { stripBOM: true });
      const s = decoder.write(head);
      if (s) yield s;
      continue;
    }
    const s = decoder.write(chunk);
    if (s) yield s;
  }
  if (!decoder) {
    decoder = iconv.getDecoder(encoding === 'auto' ? sniff(head) : encoding, { stripBOM: true });
    const s = decoder.write(head);
    if (s) yield s;
  }
  const tail = decoder.end();
  if (tail) yield tail;
}

/**
 * UTF-8 input as its bytes, without a BOM (csv-parse works on UTF-8 bytes and decodes each field itself:
 * decoding to text first would have it encode the text back); any other encoding as decoded text.
 */
async function* utf8BytesOrText(input: AsyncIterable<Buffer>, encoding: string): AsyncGenerator<Buffer | string> {
  const utf8 = /^utf-?8$/i.test(encoding);
  if (!utf8 && encoding !== 'auto') {
    yield* decodeText(input, encoding);
    return;
  }
  const it = input[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < 4) {
    const r = await it.next();
    if (r.done) break;
    head = Buffer.concat([head, typeof r.value === 'string' ? Buffer.from(r.value) : r.value]);
  }
  const rest = { [Symbol.asyncIterator]: () => it };
  if (!utf8 && sniffEncoding(head, false) !== 'utf-8') {
    yield* decodeText((async function* () { yield head; yield* rest; })(), encoding);
    return;
  }
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) head = head.subarray(3);
  if (head.length > 0) yield head;
  yield* rest;
}

function sniffEncoding(head: Buffer, xmlDeclaration: boolean): string {
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf-8';
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  if (xmlDeclaration) {
    // <?xml version="1.0" encoding="ISO-8859-1"?> names the encoding of a file without a BOM
    const decl = /^<\?xml[^>]*\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head.subarray(0, 256).toString('latin1'));
    if (decl && iconv.encodingExists(decl[1])) return decl[1];
  }
  return 'utf-8';
}

/** Splits decoded text into lines (\n, \r\n or \r) with their 1-based numbers, a chunk's worth at a time. */
async function* lineChunks(text: AsyncIterable<string>): AsyncGenerator<Array<{ line: number; text: string }>> {
  let rest = '';
  let n = 0;
  let pendingCr = false;
  for await (const chunk of text) {
    let s = rest + chunk;
    if (pendingCr && s.startsWith('\n')) s = s.slice(1);
    pendingCr = false;
    let start = 0;
    const out: Array<{ line: number; text: string }> = [];
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10 || c === 13) {
        out.push({ line: ++n, text: s.slice(start, i) });
        if (c === 13) {
          if (i + 1 < s.length) {
            if (s.charCodeAt(i + 1) === 10) i++;
          } else pendingCr = true;
        }
        start = i + 1;
      }
    }
    rest = s.slice(start);
    if (out.length > 0) yield out;
  }
  if (rest !== '') yield [{ line: ++n, text: rest }];
}

// ------------------------------------------------------------------ value conversion

const DECIMAL_COMMA = /^[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$/;
const DECIMAL_POINT = /^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?$/;

/** Converts a text to a number, honouring decimal commas ("1.234,56"). */
export function toNumber(text: string, decimalComma: boolean): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  if (decimalComma) {
    if (!DECIMAL_COMMA.test(s)) return undefined;
    return Number(s.replace(/\./g, '').replace(',', '.'));
  }
  if (!DECIMAL_POINT.test(s)) return undefined;
  return Number(s.replace(/,/g, ''));
}

type FieldType = 'string' | 'number' | 'integer' | 'boolean' | 'date';

/** Applies `types`; returns the error naming the first field that does not convert. */
function convert(rec: Rec, types: Record<string, FieldType> | undefined, decimalComma: boolean): RecordError | undefined {
  if (!types) return undefined;
  for (const [field, type] of Object.entries(types)) {
    const v = rec[field];
    if (v === undefined || v === null || v === '') {
      if (v === '') rec[field] = null;
      continue;
    }
    const text = typeof v === 'string' ? v : String(v);
    switch (type) {
      case 'string':
        rec[field] = text;
        break;
      case 'number':
      case 'integer': {
        const n = typeof v === 'number' ? v : toNumber(text, decimalComma);
        if (n === undefined || Number.isNaN(n) || (type === 'integer' && !Number.isInteger(n))) {
          return { step: 'parse', field, reason: `field ${field}: expected ${type === 'integer' ? 'an integer' : 'a number'}${decimalComma ? ' (decimal comma)' : ''}, got ${JSON.stringify(text)}` };
        }
        rec[field] = n;
        break;
      }
      case 'boolean': {
        const t = text.trim().toLowerCase();
        if (['true', 'yes', 'y', '1', 'ja', 'x'].includes(t)) rec[field] = true;
        else if (['false', 'no', 'n', '0', 'nein', ''].includes(t)) rec[field] = false;
        else return { step: 'parse', field, reason: `field ${field}: expected a boolean (true/false, yes/no, 1/0), got ${JSON.stringify(text)}` };
        break;
      }
      case 'date': {
        const d = parseDate(text);
        if (!d) return { step: 'parse', field, reason: `field ${field}: expected a date (yyyy-MM-dd, dd.MM.yyyy or ISO 8601), got ${JSON.stringify(text)}` };
        rec[field] = d;
        break;
      }
    }
  }
  return undefined;
}

/** Legacy and ISO dates to ISO 8601 (date only when there is no time). */
function parseDate(text: string): string | undefined {
  const s = text.trim();
  let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(s);
  if (m) return valid(+m[1], +m[2], +m[3]);
  m = /^(\d{1,2})\.(\d{1,2})\.(\d{4})$/.exec(s);
  if (m) return valid(+m[3], +m[2], +m[1]);
  if (/^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s))) return new Date(s).toISOString();
  return undefined;
}

function valid(y: number, mo: number, d: number): string | undefined {
  const dt = new Date(Date.UTC(y, mo - 1, d));
  if (dt.getUTCFullYear() !== y || dt.getUTCMonth() !== mo - 1 || dt.getUTCDate() !== d) return undefined;
  return dt.toISOString().slice(0, 10);
}

// ------------------------------------------------------------------ formats

type CsvConfig = Extract<ParseConfig, { format: 'csv' | 'tsv' }>;
type FixedConfig = Extract<ParseConfig, { format: 'fixed-width' }>;
type XmlConfig = Extract<ParseConfig, { format: 'xml' }>;
type JsonConfig = Extract<ParseConfig, { format: 'json' | 'ndjson' }>;

function finish(r: ParsedRecord, cfg: { types?: Record<string, FieldType>; decimalComma: boolean }): ParsedRecord {
  if (r.value && !r.error) {
    const err = convert(r.value, cfg.types, cfg.decimalComma);
    if (err) return { ...r, error: err, raw: r.raw ?? JSON.stringify(r.value) };
  }
  return r;
}

async function* parseCsv(input: AsyncIterable<Buffer>, cfg: CsvConfig): AsyncGenerator<ParsedRecord[]> {
  // csv-parse's own line count drifts on CRLF inside quotes, so lines are counted here from each record's
  // raw text, in file order. A record starts on the line after the previous one ended.
  let lineNo = cfg.skipLines;
  const place = (raw: string): { line: number } => {
    // leading line breaks (blank lines skipped before the record), then breaks inside it (not its terminator)
    let i = 0;
    let leading = 0;
    while (i < raw.length && (raw.charCodeAt(i) === 13 || raw.charCodeAt(i) === 10)) {
      if (!(raw.charCodeAt(i) === 10 && i > 0 && raw.charCodeAt(i - 1) === 13)) leading++;
      i++;
    }
    let end = raw.length;
    if (end > i && raw.charCodeAt(end - 1) === 10) end--;
    if (end > i && raw.charCodeAt(end - 1) === 13) end--;
    let inner = 0;
    // most records hold no line break: two native scans instead of a loop over every character
    const lf = raw.indexOf('\n', i);
    const cr = raw.indexOf('\r', i);
    if ((lf !== -1 && lf < end) || (cr !== -1 && cr < end)) {
      for (let k = i; k < end; k++) {
        const c = raw.charCodeAt(k);
        if (c === 13 || (c === 10 && raw.charCodeAt(k - 1) !== 13)) inner++;
      }
    }
    const line = lineNo + leading + 1;
    lineNo = line + inner;
    return { line };
  };
  // on_skip runs while csv-parse works ahead of this consumer: each skipped row remembers how many good
  // records came before it, so it is numbered and placed in file order when the consumer gets there.
  const skipped: Array<{ before: number; reason: string; raw: string }> = [];
  const opts: CsvOptions = {
    delimiter: cfg.delimiter ?? (cfg.format === 'tsv' ? '\t' : ','),
    quote: cfg.quote,
    relax_quotes: true,
    columns: false,
    relax_column_count: true,
    skip_empty_lines: cfg.skipEmptyLines,
    from_line: cfg.skipLines + 1,
    trim: cfg.trim,
    raw: true,
    skip_records_with_error: true,
    on_skip: (err, raw) => {
      const before = parser.info.records;
      const entry = { before, reason: (err as Error).message.replace(/^Invalid Record Length: |^Invalid Closing Quote: /, ''), raw: raw ?? '' };
      const last = skipped[skipped.length - 1];
      // csv-parse may report one broken stretch several times, each time longer: keep the longest
      if (last && last.before === before && entry.raw.startsWith(last.raw)) skipped[skipped.length - 1] = entry;
      else skipped.push(entry);
    },
  };
  const { parse: csvParse } = await import('csv-parse');
  // The parser is written to and read from synchronously, a decoded chunk at a time: its records come out
  // as one array per chunk instead of one stream read (and promise) per record.
  const parser = csvParse(opts);
  parser.on('error', () => undefined); // surfaces through parser.errored below
  let header: string[] | undefined = cfg.header ? undefined : cfg.columns;
  let n = 0;
  let consumed = 0;
  let out: ParsedRecord[] = [];
  const flushSkipped = (upTo: number) => {
    while (skipped.length > 0 && skipped[0].before <= upTo) {
      const s = skipped.shift()!;
      const { line } = place(s.raw);
      out.push({ n: ++n, line, error: { step: 'parse', reason: `unparsable row: ${s.reason}` }, raw: s.raw.replace(/[\r\n]+$/, '') });
    }
  };
  const take = () => {
    let row: { record: string[]; raw: string } | null;
    while ((row = parser.read() as { record: string[]; raw: string } | null) !== null) {
      const { record, raw } = row;
      flushSkipped(consumed);
      consumed++;
      const { line } = place(raw);
      if (!header) {
        if (cfg.header) {
          header = cfg.columns ?? record.map((h, i) => h || `column${i + 1}`);
          continue;
        }
        header = record.map((_, i) => `column${i + 1}`);
      }
      n++;
      if (record.length !== header.length) {
        // a trailing empty field from a trailing delimiter is tolerated
        const extra = record.slice(header.length);
        if (!(record.length > header.length && extra.every((x) => x === ''))) {
          out.push({ n, line, error: { step: 'parse', reason: `expected ${header.length} fields, got ${record.length}`, field: record.length < header.length ? header[record.length] : undefined }, raw: raw.replace(/^[\r\n]+|[\r\n]+$/g, '') });
          continue;
        }
      }
      const value: Rec = {};
      for (let i = 0; i < header.length; i++) value[header[i]] = record[i];
      out.push(finish({ n, line, value }, cfg));
    }
    if (parser.errored) throw parser.errored;
  };
  const chunk = () => {
    const c = out;
    out = [];
    return c;
  };
  try {
    for await (const text of utf8BytesOrText(input, cfg.encoding)) {
      parser.write(text);
      take();
      if (out.length > 0) yield chunk();
    }
    parser.end();
    await finished(parser, { readable: false }).catch(() => undefined); // the last records, pushed by its flush
    take();
    flushSkipped(Infinity);
    if (out.length > 0) yield chunk();
  } finally {
    parser.destroy();
  }
}

async function* parseFixed(input: AsyncIterable<Buffer>, cfg: FixedConfig): AsyncGenerator<ParsedRecord[]> {
  const need = Math.max(...cfg.columns.map((c) => c.start - 1 + c.length));
  let n = 0;
  for await (const lines of lineChunks(decodeText(input, cfg.encoding))) {
    const out: ParsedRecord[] = [];
    for (const { line, text } of lines) {
      if (line <= cfg.skipLines || text.trim() === '') continue;
      n++;
      if (cfg.strictLength && text.length < need) {
        const short = cfg.columns.find((c) => text.length < c.start - 1 + c.length);
        out.push({ n, line, error: { step: 'parse', field: short?.name, reason: `line is ${text.length} characters, the layout needs ${need}` }, raw: text });
        continue;
      }
      const value: Rec = {};
      for (const c of cfg.columns) {
        const v = text.slice(c.start - 1, c.start - 1 + c.length);
        value[c.name] = cfg.trim ? v.trim() : v;
      }
      out.push(finish({ n, line, value }, cfg));
    }
    if (out.length > 0) yield out;
  }
}

/** XML: each `record` element becomes an object (child elements by local name, attributes as "@name"). */
async function* parseXml(input: AsyncIterable<Buffer>, cfg: XmlConfig): AsyncGenerator<ParsedRecord[]> {
  const target = recordName(cfg.record, cfg.namespaces);
  const { SaxesParser } = await import('saxes');
  const parser = new SaxesParser({ xmlns: true, position: true });
  const out: ParsedRecord[] = [];
  let n = 0;
  // stack of objects under construction inside a record (empty when outside)
  const stack: Array<{ name: string; obj: Rec; text: string; hasChildren: boolean }> = [];
  let recordLine = 0;
  parser.on('opentag', (tag: SaxesTagNS) => {
    if (stack.length === 0) {
      if (tag.local !== target.local || (target.uri !== undefined && tag.uri !== target.uri)) return;
      recordLine = parser.line;
    } else stack[stack.length - 1].hasChildren = true;
    const obj: Rec = {};
    for (const a of Object.values(tag.attributes)) {
      if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
      obj[`@${a.local}`] = a.value;
    }
    stack.push({ name: tag.local, obj, text: '', hasChildren: false });
  });
  parser.on('text', (t) => {
    if (stack.length > 0) stack[stack.length - 1].text += t;
  });
  parser.on('cdata', (t) => {
    if (stack.length > 0) stack[stack.length - 1].text += t;
  });
  parser.on('closetag', () => {
    if (stack.length === 0) return;
    const top = stack.pop()!;
    let value: unknown;
    const text = top.text.trim();
    if (!top.hasChildren && Object.keys(top.obj).length === 0) value = text;
    else {
      if (text && !top.hasChildren) top.obj['#text'] = text;
      value = top.obj;
    }
    if (stack.length === 0) {
      out.push(finish({ n: ++n, line: recordLine, value: value as Rec }, cfg));
      return;
    }
    const parent = stack[stack.length - 1].obj;
    const prev = parent[top.name];
    parent[top.name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  });
  for await (const chunk of decodeText(input, cfg.encoding, true)) {
    try {
      parser.write(chunk);
    } catch (err) {
      // malformed XML ends the document: what came before stands, the rest is one bad record
      yield [...out.splice(0), { n: ++n, line: parser.line, error: { step: 'parse', reason: `malformed XML: ${(err as Error).message}` } }];
      return;
    }
    if (out.length > 0) yield out.splice(0);
  }
  try {
    parser.close();
  } catch (err) {
    yield [...out.splice(0), { n: ++n, line: parser.line, error: { step: 'parse', reason: `malformed XML: ${(err as Error).message}` } }];
    return;
  }
  if (out.length > 0) yield out.splice(0);
}

function recordName(spec: string, namespaces: Record<string, string>): { local: string; uri?: string } {
  const clark = /^\{([^}]*)\}(.+)$/.exec(spec);
  if (clark) return { uri: clark[1], local: clark[2] };
  const i = spec.indexOf(':');
  if (i > 0) {
    const prefix = spec.slice(0, i);
    const uri = namespaces[prefix];
    if (uri === undefined) throw new Error(`parse.record: prefix "${prefix}" is not in parse.namespaces`);
    return { uri, local: spec.slice(i + 1) };
  }
  return { local: spec };
}

async function* parseNdjson(input: AsyncIterable<Buffer>, cfg: JsonConfig): AsyncGenerator<ParsedRecord[]> {
  let n = 0;
  for await (const lines of lineChunks(decodeText(input, cfg.encoding))) {
    const out: ParsedRecord[] = [];
    for (const { line, text } of lines) {
      if (text.trim() === '') continue;
      n++;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        out.push({ n, line, error: { step: 'parse', reason: `invalid JSON: ${(err as Error).message}` }, raw: text });
        continue;
      }
      if (!value || typeof value !== 'object' || Array.isArray(value)) {
        out.push({ n, line, error: { step: 'parse', reason: `expected a JSON object per line, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}` }, raw: text });
        continue;
      }
      out.push(finish({ n, line, value: value as Rec }, cfg));
    }
    if (out.length > 0) yield out;
  }
}

/** json: one document (read whole: use ndjson for large data); recordPath selects the records. */
async function* parseJson(input: AsyncIterable<Buffer>, cfg: JsonConfig): AsyncGenerator<ParsedRecord[]> {
  let text = '';
  for await (const s of decodeText(input, cfg.encoding)) text += s;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    yield [{ n: 1, error: { step: 'parse', reason: `invalid JSON document: ${(err as Error).message}` }, raw: text.slice(0, 2048) }];
    return;
  }
  let selected: unknown = doc;
  if (cfg.recordPath) {
    try {
      selected = await jsonata(cfg.recordPath).evaluate(doc);
    } catch (err) {
      yield [{ n: 1, error: { step: 'parse', reason: `recordPath ${cfg.recordPath} failed: ${(err as Error).message}` } }];
      return;
    }
  }
  const records = selected === undefined ? [] : Array.isArray(selected) ? selected : [selected];
  let n = 0;
  let out: ParsedRecord[] = [];
  for (const r of records) {
    n++;
    if (!r || typeof r !== 'object' || Array.isArray(r)) out.push({ n, error: { step: 'parse', reason: `expected an object, got ${JSON.stringify(r)}` }, raw: JSON.stringify(r) });
    else out.push(finish({ n, value: r as Rec }, cfg));
    if (out.length >= 1000) {
      yield out;
      out = [];
    }
  }
  if (out.length > 0) yield out;
}

/** Parses a body stream into records per the parse step's config, in file order, some at a time. */
export function parseRecordChunks(input: AsyncIterable<Buffer>, cfg: ParseConfig): AsyncGenerator<ParsedRecord[]> {
  switch (cfg.format) {
    case 'csv':
    case 'tsv':
      return parseCsv(input, cfg);
    case 'fixed-width':
      return parseFixed(input, cfg);
    case 'xml':
      return parseXml(input, cfg);
    case 'ndjson':
      return parseNdjson(input, cfg);
    case 'json':
      return parseJson(input, cfg);
  }
}

/** Parses a body stream into records per the parse step's config, one at a time. */
export async function* parseRecords(input: AsyncIterable<Buffer>, cfg: ParseConfig): AsyncGenerator<ParsedRecord> {
  for await (const chunk of parseRecordChunks(input, cfg)) yield* chunk;
}
