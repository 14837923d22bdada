// Stands between a CSV byte stream and csv-parse: it follows the same quoting rules, finds where each row
// ends, and hands csv-parse only whole rows. A row that csv-parse must never see is replaced by a marker
// row that the parser turns into a bad record:
// - one over parse.maxRecordBytes or parse.maxColumns (held rows are bounded, a longer one is dropped as it
//   streams past and only its start is kept), so a 300 MB quoted field never sits in memory;
// - text after a closing quote while trimming ("x" y): csv-parse reports it, then silently drops the rest
//   of the chunk it was given, losing the rows after it;
// - invalid UTF-8 in a UTF-8 file (csv-parse would turn it into U+FFFD without a word).
// Rows end at \r\n, \n or \r outside quotes; a row ending unlike the file's first row is handed on with the
// first row's line end (csv-parse keeps to the first it meets), so mixed line endings work.
import { isUtf8 } from 'node:buffer';
import crypto from 'node:crypto';
import { headOf, NOT_UTF8, recordTooLarge, tooManyColumns } from './limits.ts';

const FIELD_START = 0;
const UNQUOTED = 1;
const QUOTED = 2;
/** A quote seen inside a quoted field: the next byte tells an escaped quote from a closing one. */
const AFTER_QUOTE = 3;
/** Trimming: whitespace after a closing quote; only a delimiter or a line end may follow. */
const AFTER_CLOSE = 4;
const CR = 13;
const LF = 10;
const EOL = { crlf: Buffer.from('\r\n'), lf: Buffer.from('\n'), cr: Buffer.from('\r') };

// What csv-parse trims (ECMAScript white space), as UTF-8; line ends are handled before trimming.
const TRIMABLE = [0x20, 0x09, 0x0c, 0x0b, 0xa0, 0x1680, ...Array.from({ length: 11 }, (_, i) => 0x2000 + i), 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff].map((c) =>
  Buffer.from(String.fromCharCode(c), 'utf8'),
);
const TRIM_FIRST = new Uint8Array(256);
for (const t of TRIMABLE) TRIM_FIRST[t[0]] = 1;

export interface CsvGuardOptions {
  delimiter: string;
  quote: string;
  trim: boolean;
  maxRecordBytes: number;
  maxColumns: number;
  /** The bytes are meant to be UTF-8: a row that is not goes bad. */
  utf8: boolean;
}

/** A row replaced by a marker: why, its first bytes, and the line breaks inside it (to keep line numbers). */
export interface CutRow {
  reason: string;
  head: Buffer;
  lines: number;
}

export class CsvGuard {
  /** Rows replaced by markers, by marker text (csv-parse hands the marker back as a one-field row). */
  readonly cut = new Map<string, CutRow>();
  private readonly o: CsvGuardOptions;
  private readonly del: Buffer;
  private readonly quote: Buffer;
  /** Longest token that may straddle two chunks (delimiter, quote, a multi-byte space). */
  private readonly lookahead: number;
  private readonly markerDigits: string[];
  private readonly markerSep: string;
  private readonly nonce: string;
  private nextId = 0;

  private st = FIELD_START;
  private delimiters = 0;
  /** The row started in an earlier chunk: its bytes so far. */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Over a limit: the row's bytes are dropped until it ends. */
  private dropping = false;
  private dropped = 0;
  private bad: string | undefined;
  private head: Buffer | undefined;
  private lines = 0;
  private high = false;
  private lastByte = 0;
  /** Bytes of the previous chunk not yet looked at (a token cut in two). */
  private carry: Buffer | undefined;
  /**
   * The first row's line end. csv-parse keeps to the first line end it meets; rows ending otherwise (a file
   * with mixed line ends) are handed on ending with this one.
   */
  private eol: keyof typeof EOL | undefined;

  constructor(o: CsvGuardOptions) {
    this.o = o;
    this.del = Buffer.from(o.delimiter, 'utf8');
    this.quote = Buffer.from(o.quote, 'utf8');
    this.lookahead = Math.max(this.del.length, this.quote.length, 3);
    // Marker rows are made of control characters csv-parse neither trims nor treats as syntax.
    const taken = new Set([...o.delimiter, ...o.quote]);
    const free: string[] = [];
    for (let c = 1; c < 32 && free.length < 17; c++) {
      const ch = String.fromCharCode(c);
      if (c !== 9 && c !== 10 && c !== 11 && c !== 12 && c !== 13 && !taken.has(ch)) free.push(ch);
    }
    this.markerSep = free[0];
    this.markerDigits = free.slice(1);
    this.nonce = this.encode(crypto.randomInt(2 ** 32));
  }

  private encode(n: number): string {
    return n.toString(16).split('').map((d) => this.markerDigits[parseInt(d, 16)]).join('');
  }

  private marker(row: CutRow): Buffer {
    const text = `${this.markerSep}${this.nonce}${this.markerSep}${this.encode(this.nextId++)}${this.markerSep}`;
    this.cut.set(text, row);
    return Buffer.from(text, 'utf8');
  }

  /** True when this one-field row is a marker. */
  isMarker(field: string): boolean {
    return field.length > 2 && field[0] === this.markerSep && this.cut.has(field);
  }

  private delimiterAt(buf: Buffer, i: number): boolean {
    const d = this.del;
    if (buf[i] !== d[0]) return false;
    for (let k = 1; k < d.length; k++) if (buf[i + k] !== d[k]) return false;
    return true;
  }

  private quoteAt(buf: Buffer, i: number): boolean {
    const q = this.quote;
    if (buf[i] !== q[0]) return false;
    for (let k = 1; k < q.length; k++) if (buf[i + k] !== q[k]) return false;
    return true;
  }

  private trimableAt(buf: Buffer, i: number): number {
    if (TRIM_FIRST[buf[i]] === 0) return 0;
    outer: for (const t of TRIMABLE) {
      for (let k = 0; k < t.length; k++) if (buf[i + k] !== t[k]) continue outer;
      return t.length;
    }
    return 0;
  }

  private startDropping(buf: Buffer, from: number, to: number, reason: string): void {
    this.head = headOf(this.held, buf.subarray(from, to));
    this.dropped = this.heldBytes + (to - from);
    this.held = [];
    this.heldBytes = 0;
    this.dropping = true;
    this.bad ??= reason;
  }

  /**
   * Feeds a chunk; appends to `out` what csv-parse may parse now (whole rows and markers, in order).
   * `last`: no more input follows (the final row needs no line end).
   */
  push(chunk: Buffer, out: Buffer[], last = false): void {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    const len = buf.length;
    const o = this.o;
    const q0 = this.quote[0];
    const d0 = this.del[0];
    const multiDel = this.del.length > 1;
    const multiQuote = this.quote.length > 1;
    /** Where the bytes not yet handed on begin, and where the current row begins (-1: in an earlier chunk). */
    let emitFrom = 0;
    let rowStart = this.held.length > 0 || this.dropping ? -1 : 0;
    let st = this.st;
    let i = 0;
    const endRow = (end: number) => {
      const start = rowStart < 0 ? 0 : rowStart;
      const size = this.dropping ? this.dropped + end - start : this.heldBytes + end - start;
      if (!this.bad && size > o.maxRecordBytes) this.bad = recordTooLarge(o.maxRecordBytes);
      if (!this.bad && o.utf8 && this.high) {
        const bytes = this.held.length > 0 ? Buffer.concat([...this.held, buf.subarray(start, end)]) : buf.subarray(start, end);
        if (!isUtf8(bytes)) this.bad = NOT_UTF8;
      }
      if (this.bad) {
        if (rowStart > emitFrom) out.push(buf.subarray(emitFrom, rowStart));
        const head = this.head ?? headOf(this.held, buf.subarray(start, end));
        out.push(this.marker({ reason: this.bad, head, lines: this.lines }));
        emitFrom = end; // the line end goes on with what follows
      } else if (this.held.length > 0) {
        out.push(...this.held);
      }
      this.held = [];
      this.heldBytes = 0;
      this.dropping = false;
      this.dropped = 0;
      this.bad = undefined;
      this.head = undefined;
      this.lines = 0;
      this.high = false;
      this.delimiters = 0;
      st = FIELD_START;
      rowStart = end + 1;
    };
    /** A line end outside quotes at i: ends the row; a terminator unlike the file's first is written as that one. */
    const endLine = (at: number): number => {
      const size = buf[at] === CR && buf[at + 1] === LF ? 2 : 1;
      endRow(at);
      const eol = size === 2 ? 'crlf' : buf[at] === CR ? 'cr' : 'lf';
      this.eol ??= eol;
      if (eol !== this.eol) {
        if (at > emitFrom) out.push(buf.subarray(emitFrom, at));
        out.push(EOL[this.eol]);
        emitFrom = at + size;
      }
      rowStart = at + size;
      return at + size - 1;
    };
    for (; i < len; i++) {
      const c = buf[i];
      // a token that may continue in the next chunk (a \r\n among them): look at it once that chunk is here
      if (!last && i + this.lookahead > len && (c === CR || (multiDel && c === d0) || (multiQuote && c === q0) || (c >= 0x80 && o.trim))) break;
      if (c >= 0x80) this.high = true;
      if (st === QUOTED) {
        if (c === q0 && (!multiQuote || this.quoteAt(buf, i))) {
          st = AFTER_QUOTE;
          i += this.quote.length - 1;
        } else if (c === CR || (c === LF && (i > 0 ? buf[i - 1] : this.lastByte) !== CR)) this.lines++;
        else {
          // the run of plain bytes up to the next quote or line break, in a tight loop
          let j = i + 1;
          for (; j < len; j++) {
            const b = buf[j];
            if (b === q0 || b === CR || b === LF) break;
            if (b >= 0x80) this.high = true;
          }
          i = j - 1;
        }
        continue;
      }
      // outside quotes a line end ends the row and a delimiter the field, whatever came before
      if (c === LF || c === CR) {
        i = endLine(i);
        continue;
      }
      if (c === d0 && (!multiDel || this.delimiterAt(buf, i))) {
        st = FIELD_START;
        i += this.del.length - 1;
        if (++this.delimiters >= o.maxColumns && !this.dropping) this.startDropping(buf, rowStart < 0 ? 0 : rowStart, i + 1, tooManyColumns(o.maxColumns));
        continue;
      }
      switch (st) {
        case UNQUOTED: {
          // the run of plain bytes up to the next delimiter or line break (a quote here is text)
          let j = i + 1;
          for (; j < len; j++) {
            const b = buf[j];
            if (b === d0 || b === CR || b === LF) break;
            if (b >= 0x80) this.high = true;
          }
          i = j - 1; // a delimiter or line break is looked at by the loop itself (a token may straddle chunks)
          continue;
        }
        case FIELD_START:
          if (c === q0 && (!multiQuote || this.quoteAt(buf, i))) {
            st = QUOTED;
            i += this.quote.length - 1;
          } else if (o.trim && TRIM_FIRST[c] === 1) {
            const t = this.trimableAt(buf, i);
            if (t > 0) i += t - 1;
            else st = UNQUOTED;
          } else st = UNQUOTED;
          continue;
        case AFTER_QUOTE:
        case AFTER_CLOSE: {
          if (st === AFTER_QUOTE && c === q0 && (!multiQuote || this.quoteAt(buf, i))) {
            st = QUOTED; // a doubled quote: one quote character inside the field
            i += this.quote.length - 1;
            continue;
          }
          if (o.trim) {
            // whitespace may follow a closing quote; anything else is text csv-parse refuses
            const t = this.trimableAt(buf, i);
            if (t > 0) {
              st = AFTER_CLOSE;
              i += t - 1;
              continue;
            }
            this.bad ??= 'text after a closing quote (quote the whole field and double any quote inside it)';
          }
          st = UNQUOTED; // without trimming csv-parse takes the quote as text and reads on
          continue;
        }
      }
    }
    this.st = st;
    if (i < len) this.carry = buf.subarray(i);
    const scanned = i;
    this.lastByte = scanned > 0 ? buf[scanned - 1] : this.lastByte;
    if (last) {
      // the final row, without a line end
      if (this.dropping || this.held.length > 0 || scanned > (rowStart < 0 ? 0 : rowStart)) endRow(scanned);
      if (scanned > emitFrom) out.push(buf.subarray(emitFrom, scanned));
      return;
    }
    // Complete rows go on; the unfinished row is held (or dropped once it is over the limit).
    const start = rowStart < 0 ? 0 : Math.min(rowStart, scanned);
    if (start > emitFrom) out.push(buf.subarray(emitFrom, start));
    if (this.dropping) {
      this.dropped += scanned - start;
      return;
    }
    if (scanned > start) {
      const piece = buf.subarray(start, scanned);
      if (this.heldBytes + piece.length > o.maxRecordBytes) this.startDropping(buf, start, scanned, recordTooLarge(o.maxRecordBytes));
      else {
        this.held.push(piece);
        this.heldBytes += piece.length;
      }
    }
  }

  /** No more input: the last row (if it has no line end) and anything held. */
  end(out: Buffer[]): void {
    this.push(Buffer.alloc(0), out, true);
  }
}
