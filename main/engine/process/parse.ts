// Streaming parsers: a body stream in, records out one at a time, never the whole file in memory, and no
// record larger than parse.maxRecordBytes or nested deeper than parse.maxDepth held or parsed (see limits.ts).
// Each record carries its 1-based number and, where known, its line, so a bad record can be named. Bad input
// becomes an error record; parsing goes on with the next record, or ends when the document cannot be read on.
import { isUtf8 } from 'node:buffer';
import { finished } from 'node:stream/promises';
import type { Options as CsvOptions } from 'csv-parse';
import { iconvLib, jsonataLib } from '../optional-modules.ts';
import type { SaxesTagNS } from 'saxes';
import type { ParseConfig } from './schema.ts';
import { CsvGuard } from './csv-guard.ts';
import { jsonDeeperThan, JsonRecordScanner, plainPath, type ScannedRecord } from './json-scan.ts';
import { DocumentError, HEAD_BYTES, nestedTooDeep, NOT_UTF8, recordTooLarge } from './limits.ts';
import { hasInvalidUtf8, MarkingUtf8Decoder } from './utf8.ts';

export type Rec = Record<string, unknown>;

export interface RecordError {
  /** Which step found the problem: parse, filter, map, format. */
  step: string;
  reason: string;
  field?: string;
  /** The problem ends the document (nothing after it can be read): the whole file goes dead with it. */
  wholeFile?: boolean;
}

export interface ParsedRecord {
  /** 1-based number of the record in the file (data records, header not counted). */
  n: number;
  line?: number;
  value?: Rec;
  error?: RecordError;
  /** The raw text (or bytes, when they are not valid text) of a bad record, kept with its dead item. */
  raw?: string | Buffer;
  /** Size of the record's text, where the parser knows it (to bound what is held at once). */
  bytes?: number;
}

/** What a decoding saw: `invalid` once a byte was not UTF-8 (decoded as INVALID_UTF8_MARK). */
export interface DecodeState {
  invalid: boolean;
}

/**
 * Decodes bytes to text in the given encoding; "auto" reads a BOM (UTF-8, UTF-16 LE/BE), else UTF-8. UTF-8
 * marks bytes that are not UTF-8 (see utf8.ts) and says so in `state`, so the record holding one can go bad.
 */
export async function* decodeText(input: AsyncIterable<Buffer | string>, encoding: string, xmlDeclaration = false, state?: DecodeState): AsyncGenerator<string> {
  const sniff = (head: Buffer) => sniffEncoding(head, xmlDeclaration);
  let decoder: { write(b: Buffer): string; end(): string | undefined } | undefined;
  let marking: MarkingUtf8Decoder | undefined;
  const open = (head: Buffer) => {
    const name = encoding === 'auto' ? sniff(head) : encoding;
    if (/^utf-?8$/i.test(name)) return (marking = new MarkingUtf8Decoder());
    return iconvLib().getDecoder(name, { stripBOM: true });
  };
  const seen = () => {
    if (state && marking?.invalid) state.invalid = true;
  };
  let head = Buffer.alloc(0);
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    if (!decoder) {
      head = Buffer.concat([head, chunk]);
      if (head.length < (xmlDeclaration ? 256 : 4) && encoding === 'auto') continue;
      decoder = open(head);
      const s = decoder.write(head);
      seen();
      if (s) yield s;
      continue;
    }
    const s = decoder.write(chunk);
    seen();
    if (s) yield s;
  }
  if (!decoder) {
    decoder = open(head);
    const s = decoder.write(head);
    seen();
    if (s) yield s;
  }
  const tail = decoder.end();
  seen();
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
    if (decl && iconvLib().encodingExists(decl[1])) return decl[1];
  }
  return 'utf-8';
}

interface Line {
  line: number;
  text: string;
  /** Over maxBytes: `text` is only its start, the rest was dropped as it streamed past. */
  tooLong?: boolean;
}

const HEAD_CHARS = HEAD_BYTES / 2;

/** Over `max` UTF-8 bytes (counted only when the length in UTF-16 units leaves it open). */
function overBytes(text: string, max: number): boolean {
  return text.length > max || (text.length * 3 > max && Buffer.byteLength(text) > max);
}

/**
 * Splits decoded text into lines (\n, \r\n or \r) with their 1-based numbers, a chunk's worth at a time. A line
 * over maxBytes is not held: its start is kept and the rest dropped until the line ends.
 */
async function* lineChunks(text: AsyncIterable<string>, maxBytes: number): AsyncGenerator<Line[]> {
  let rest = '';
  let restBytes = 0;
  let n = 0;
  let pendingCr = false;
  let dropping: string | undefined;
  for await (const s of text) {
    let start = pendingCr && s.charCodeAt(0) === 10 ? 1 : 0;
    pendingCr = false;
    const out: Line[] = [];
    for (let i = start; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 10 || c === 13) {
        if (dropping !== undefined) out.push({ line: ++n, text: dropping, tooLong: true });
        else {
          const t = rest === '' ? s.slice(start, i) : rest + s.slice(start, i);
          out.push(overBytes(t, maxBytes) ? { line: ++n, text: t.slice(0, HEAD_CHARS), tooLong: true } : { line: ++n, text: t });
        }
        dropping = undefined;
        rest = '';
        restBytes = 0;
        if (c === 13) {
          if (i + 1 < s.length) {
            if (s.charCodeAt(i + 1) === 10) i++;
          } else pendingCr = true;
        }
        start = i + 1;
      }
    }
    if (dropping === undefined && start < s.length) {
      const piece = s.slice(start);
      rest += piece;
      restBytes += Buffer.byteLength(piece);
      if (restBytes > maxBytes) {
        dropping = rest.slice(0, HEAD_CHARS);
        rest = '';
        restBytes = 0;
      }
    }
    if (out.length > 0) yield out;
  }
  if (dropping !== undefined) yield [{ line: ++n, text: dropping, tooLong: true }];
  else if (rest !== '') yield [{ line: ++n, text: rest }];
}

/** The problem with a line as a record, if any: over the limit, or holding bytes that were not UTF-8. */
function lineProblem(l: Line, maxBytes: number, state: DecodeState): string | undefined {
  if (l.tooLong) return recordTooLarge(maxBytes, 'the line');
  if (state.invalid && hasInvalidUtf8(l.text)) return NOT_UTF8;
  return undefined;
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
  const delimiter = cfg.delimiter ?? (cfg.format === 'tsv' ? '\t' : ',');
  const opts: CsvOptions = {
    delimiter,
    quote: cfg.quote,
    escape: cfg.quote,
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
  // Rows over a limit, with text after a closing quote or with invalid UTF-8 never reach csv-parse: the
  // guard hands it a marker row in their place, turned back into a bad record here.
  const guard = new CsvGuard({ delimiter, quote: cfg.quote, trim: cfg.trim, maxRecordBytes: cfg.maxRecordBytes, maxColumns: cfg.maxColumns, utf8: /^utf-?8$|^auto$/i.test(cfg.encoding) });
  let ended = false;
  const take = () => {
    let row: { record: string[]; raw: string } | null;
    while (!ended && (row = parser.read() as { record: string[]; raw: string } | null) !== null) {
      const { record, raw } = row;
      flushSkipped(consumed);
      consumed++;
      const { line } = place(raw);
      if (record.length === 1 && guard.isMarker(record[0])) {
        const cut = guard.cut.get(record[0])!;
        guard.cut.delete(record[0]);
        lineNo += cut.lines;
        if (!header && cfg.header) {
          // without its header no row of the file can be read
          out.push({ n: ++n, line, error: { step: 'parse', reason: `the header row: ${cut.reason}`, wholeFile: true }, raw: cut.head });
          ended = true;
          return;
        }
        out.push({ n: ++n, line, error: { step: 'parse', reason: cut.reason }, raw: cut.head, bytes: cut.head.length });
        continue;
      }
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
      out.push(finish({ n, line, value, bytes: raw.length }, cfg));
    }
    if (parser.errored) throw parser.errored;
  };
  const chunk = () => {
    const c = out;
    out = [];
    return c;
  };
  const pieces: Buffer[] = [];
  const feed = () => {
    for (const p of pieces) parser.write(p);
    pieces.length = 0;
    take();
  };
  try {
    for await (const text of utf8BytesOrText(input, cfg.encoding)) {
      guard.push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text, pieces);
      feed();
      if (out.length > 0) yield chunk();
      if (ended) return;
    }
    guard.end(pieces);
    feed();
    parser.end();
    await finished(parser, { readable: false }).catch(() => undefined); // the last records, pushed by its flush
    take();
    if (!ended) flushSkipped(Infinity);
    if (out.length > 0) yield chunk();
  } finally {
    parser.destroy();
  }
}

async function* parseFixed(input: AsyncIterable<Buffer>, cfg: FixedConfig): AsyncGenerator<ParsedRecord[]> {
  const need = Math.max(...cfg.columns.map((c) => c.start - 1 + c.length));
  let n = 0;
  const state: DecodeState = { invalid: false };
  for await (const lines of lineChunks(decodeText(input, cfg.encoding, false, state), cfg.maxRecordBytes)) {
    const out: ParsedRecord[] = [];
    for (const l of lines) {
      const { line, text } = l;
      if (line <= cfg.skipLines || (!l.tooLong && text.trim() === '')) continue;
      n++;
      const problem = lineProblem(l, cfg.maxRecordBytes, state);
      if (problem) {
        out.push({ n, line, error: { step: 'parse', reason: problem }, raw: text });
        continue;
      }
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
      out.push(finish({ n, line, value, bytes: text.length }, cfg));
    }
    if (out.length > 0) yield out;
  }
}

/** Decoded text is handed to saxes in slices of this many characters, so the limits are checked that often. */
const XML_SLICE = 64 * 1024;

/**
 * XML: each `record` element becomes an object (child elements by local name, attributes as "@name").
 * Limits: elements nested deeper than maxDepth, or more than maxRecordBytes between two tags (a huge text
 * node, attribute or comment, which saxes would hold whole) end the document; a record spanning more than
 * maxRecordBytes goes bad on its own. Entities are never resolved from outside the file (saxes has no I/O,
 * and a DTD's entities are refused as undefined).
 */
async function* parseXml(input: AsyncIterable<Buffer>, cfg: XmlConfig): AsyncGenerator<ParsedRecord[]> {
  const target = recordName(cfg.record, cfg.namespaces);
  const { SaxesParser } = await import('saxes');
  const parser = new SaxesParser({ xmlns: true, position: true });
  const out: ParsedRecord[] = [];
  let n = 0;
  // stack of objects under construction inside a record (empty when outside)
  const stack: Array<{ name: string; obj: Rec; text: string; hasChildren: boolean }> = [];
  let recordLine = 0;
  let recordStart = 0;
  let oversize = false;
  let depth = 0;
  /** Where saxes last reported something: what it holds since then is one text node, attribute or comment. */
  let lastEvent = 0;
  const max = cfg.maxRecordBytes;
  const inRecord = () => {
    lastEvent = parser.position;
    if (stack.length > 0 && !oversize && lastEvent - recordStart > max) {
      oversize = true;
      for (const e of stack) {
        e.obj = {}; // what was built of it is let go at once
        e.text = '';
      }
    }
  };
  parser.on('opentag', (tag: SaxesTagNS) => {
    inRecord();
    if (++depth > cfg.maxDepth) throw new DocumentError(`elements ${nestedTooDeep(cfg.maxDepth, 'levels')}`);
    if (stack.length === 0) {
      if (tag.local !== target.local || (target.uri !== undefined && tag.uri !== target.uri)) return;
      recordLine = parser.line;
      recordStart = parser.position;
      oversize = false;
    } else stack[stack.length - 1].hasChildren = true;
    const obj: Rec = {};
    if (!oversize) {
      for (const a of Object.values(tag.attributes)) {
        if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
        obj[`@${a.local}`] = a.value;
      }
    }
    stack.push({ name: tag.local, obj, text: '', hasChildren: false });
  });
  parser.on('text', (t) => {
    inRecord();
    if (stack.length > 0 && !oversize) stack[stack.length - 1].text += t;
  });
  parser.on('cdata', (t) => {
    inRecord();
    if (stack.length > 0 && !oversize) stack[stack.length - 1].text += t;
  });
  for (const ev of ['comment', 'processinginstruction', 'doctype', 'opentagstart'] as const) parser.on(ev, () => void (lastEvent = parser.position));
  parser.on('closetag', () => {
    inRecord();
    depth--;
    if (stack.length === 0) return;
    const top = stack.pop()!;
    if (oversize) {
      if (stack.length === 0) out.push({ n: ++n, line: recordLine, error: { step: 'parse', reason: recordTooLarge(max) } });
      return;
    }
    let value: unknown;
    const text = top.text.trim();
    if (!top.hasChildren && Object.keys(top.obj).length === 0) value = text;
    else {
      if (text && !top.hasChildren) top.obj['#text'] = text;
      value = top.obj;
    }
    if (stack.length === 0) {
      out.push(finish({ n: ++n, line: recordLine, value: value as Rec, bytes: parser.position - recordStart }, cfg));
      return;
    }
    const parent = stack[stack.length - 1].obj;
    const prev = parent[top.name];
    // repeated children collect into one array (pushed, not copied: thousands of them stay linear)
    if (prev === undefined) parent[top.name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else parent[top.name] = [prev, value];
  });
  // Malformed or over a limit: what came before stands; the rest cannot be read, so the whole file goes
  // dead with this record (nothing of it is lost).
  const broken = (err: unknown): ParsedRecord[] => {
    const reason = err instanceof DocumentError ? err.message : `malformed XML: ${(err as Error).message}`;
    return [...out.splice(0), { n: ++n, line: parser.line, error: { step: 'parse', reason, wholeFile: true } }];
  };
  const state: DecodeState = { invalid: false };
  for await (const text of decodeText(input, cfg.encoding, true, state)) {
    try {
      for (let i = 0; i < text.length; i += XML_SLICE) {
        const slice = text.length <= XML_SLICE ? text : text.slice(i, i + XML_SLICE);
        if (state.invalid && hasInvalidUtf8(slice)) throw new DocumentError(NOT_UTF8);
        parser.write(slice);
        if (parser.position - lastEvent > max) {
          throw new DocumentError(recordTooLarge(max, 'a text node, attribute or comment'));
        }
      }
    } catch (err) {
      yield broken(err);
      return;
    }
    if (out.length > 0) yield out.splice(0);
  }
  try {
    parser.close();
  } catch (err) {
    yield broken(err);
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
  const state: DecodeState = { invalid: false };
  for await (const lines of lineChunks(decodeText(input, cfg.encoding, false, state), cfg.maxRecordBytes)) {
    const out: ParsedRecord[] = [];
    for (const l of lines) {
      const { line, text } = l;
      if (!l.tooLong && text.trim() === '') continue;
      n++;
      const problem = lineProblem(l, cfg.maxRecordBytes, state) ?? (jsonDeeperThan(text, cfg.maxDepth) ? nestedTooDeep(cfg.maxDepth) : undefined);
      if (problem) {
        out.push({ n, line, error: { step: 'parse', reason: problem }, raw: text.slice(0, HEAD_CHARS) });
        continue;
      }
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
      out.push(finish({ n, line, value: value as Rec, bytes: text.length }, cfg));
    }
    if (out.length > 0) yield out;
  }
}

/**
 * json: the records stream out of the document one at a time (the top-level array's elements, or those
 * at a plain recordPath such as data.items); any other recordPath needs the document whole, as one value
 * of at most maxRecordBytes, and selects the records with JSONata.
 */
async function* parseJson(input: AsyncIterable<Buffer>, cfg: JsonConfig): AsyncGenerator<ParsedRecord[]> {
  const path = cfg.recordPath === undefined ? [] : plainPath(cfg.recordPath);
  const scanner = new JsonRecordScanner({ path, maxRecordBytes: cfg.maxRecordBytes, maxDepth: cfg.maxDepth });
  const utf8 = /^utf-?8$|^auto$/i.test(cfg.encoding);
  let n = 0;
  // a record that is the whole document: its failure is the file's
  let whole = path === undefined;
  const toRecords = async (scanned: ScannedRecord[], out: ParsedRecord[]) => {
    for (const s of scanned) {
      n++;
      if ('error' in s) {
        out.push({ n, error: { step: 'parse', reason: s.error, wholeFile: whole || undefined }, raw: s.head });
        continue;
      }
      let value: unknown;
      try {
        if (utf8 && !isUtf8(s.bytes)) throw new Error(NOT_UTF8);
        value = JSON.parse(s.bytes.toString('utf8'));
      } catch (err) {
        const msg = (err as Error).message;
        out.push({ n, error: { step: 'parse', reason: msg === NOT_UTF8 ? msg : `invalid JSON${whole ? ' document' : ''}: ${msg}`, wholeFile: whole || undefined }, raw: s.bytes.subarray(0, HEAD_BYTES) });
        continue;
      }
      if (path === undefined) {
        // the whole document: JSONata selects the records
        let selected: unknown;
        try {
          selected = await jsonataLib()(cfg.recordPath!).evaluate(value);
        } catch (err) {
          out.push({ n, error: { step: 'parse', reason: `recordPath ${cfg.recordPath} failed: ${(err as Error).message}`, wholeFile: true } });
          continue;
        }
        n--;
        for (const r of selected === undefined ? [] : Array.isArray(selected) ? selected : [selected]) out.push(jsonRecord(++n, r, undefined, cfg));
        continue;
      }
      out.push(jsonRecord(n, value, s.bytes.length, cfg));
    }
  };
  let first = true;
  const text = utf8BytesOrText(input, cfg.encoding);
  for (;;) {
    const out: ParsedRecord[] = [];
    const scanned: ScannedRecord[] = [];
    let done = false;
    try {
      const next = await text.next();
      if (next.done) {
        done = true;
        scanner.end(scanned);
      } else {
        const chunk = typeof next.value === 'string' ? Buffer.from(next.value, 'utf8') : next.value;
        if (first && chunk.length > 0) {
          first = false;
          // no array at the top and no path: the document is the one record
          const c = chunk.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
          if (path !== undefined && path.length === 0 && c !== undefined && c !== 0x5b) whole = true;
          if (c === undefined) first = true;
        }
        scanner.push(chunk, scanned);
      }
    } catch (err) {
      if (!(err instanceof DocumentError)) throw err;
      await toRecords(scanned, out);
      out.push({ n: ++n, error: { step: 'parse', reason: err.message, wholeFile: true } });
      yield out;
      return;
    }
    await toRecords(scanned, out);
    if (out.length > 0) yield out;
    if (done) return;
  }
}

function jsonRecord(n: number, r: unknown, bytes: number | undefined, cfg: JsonConfig): ParsedRecord {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return { n, error: { step: 'parse', reason: `expected an object, got ${Array.isArray(r) ? 'an array' : JSON.stringify(r)}` }, raw: JSON.stringify(r) };
  return finish({ n, value: r as Rec, bytes }, cfg);
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
