// Finds the records in a JSON byte stream without building the document: it follows strings and brackets
// (iteratively, so any nesting costs no stack), walks a plain record path (data.items), and hands each record
// on as its own bytes, for JSON.parse. A record over parse.maxRecordBytes is dropped as it streams past
// (only its start is kept) and one nested deeper than parse.maxDepth is never parsed, so neither memory nor
// the stack depends on what the file holds.
import { DocumentError, headOf, nestedTooDeep, recordTooLarge } from './limits.ts';

export type ScannedRecord =
  | { bytes: Buffer }
  | { error: string; head: Buffer };

export interface JsonScanOptions {
  /**
   * Steps of a plain path to the records: [] takes the top-level array's elements (or the top-level value).
   * undefined: the whole document is one value (for a recordPath that needs all of it).
   */
  path: string[] | undefined;
  maxRecordBytes: number;
  maxDepth: number;
}

const OBJ = 1;
const ARR = 2;
/** Roles of an open container outside records: skipped, holding records, or on the path at step s (≥ 0). */
const SKIP = -1;
const RESULT = -2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** True when a plain path (identifiers joined by dots) can be streamed; anything else needs JSONata. */
export function plainPath(expr: string): string[] | undefined {
  return /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(expr.trim()) ? expr.trim().split('.') : undefined;
}

type Role = 'record' | 'records' | 'skip' | number;

export class JsonRecordScanner {
  private readonly o: JsonScanOptions;
  private readonly steps: string[];
  /** Per open level (up to maxDepth + 1): object or array, and its role outside records. */
  private readonly types: Uint8Array;
  private readonly roles: Int32Array;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** In an object on the path: the next string is a member name. */
  private expectKey = false;
  private key: string | undefined;
  private collectingKey = false;
  private keyBytes: Buffer[] = [];
  private keyLength = 0;
  private keyFrom = 0;
  /** A scalar outside records being skipped. */
  private inScalar = false;
  private seenValue = false;
  private bytesSeen = 0;

  // the record being read
  private inRecord = false;
  private recordStartDepth = 0;
  private recordScalar = false;
  private recordString = false;
  private recordFrom = 0;
  private pieces: Buffer[] = [];
  private size = 0;
  private dropping = false;
  private recordError: string | undefined;
  private head: Buffer | undefined;

  constructor(o: JsonScanOptions) {
    this.o = o;
    this.steps = o.path ?? [];
    this.types = new Uint8Array(o.maxDepth + 2);
    this.roles = new Int32Array(o.maxDepth + 2);
  }

  /** A value reached after t steps of the path: records once the path is walked, else a level to walk into. */
  private afterSteps(t: number): Role {
    return t === this.steps.length ? 'records' : t;
  }

  /** What the value starting now is, from the container it is in (and the member name before it). */
  private roleOfValue(): Role {
    if (this.depth === 0) return this.o.path === undefined ? 'record' : this.afterSteps(0);
    if (this.depth > this.o.maxDepth + 1) return 'skip';
    const role = this.roles[this.depth];
    if (role === SKIP) return 'skip';
    if (role === RESULT) return 'record';
    if (this.types[this.depth] === ARR) return this.afterSteps(role); // JSONata maps a path over arrays
    return this.key === this.steps[role] ? this.afterSteps(role + 1) : 'skip';
  }

  /** `at`: the offending byte's index in the current chunk. */
  private fail(what: string, at = 0): never {
    throw new DocumentError(`invalid JSON at byte ${this.bytesSeen + at}: ${what}`);
  }

  private startRecord(i: number, scalar: boolean, string: boolean): void {
    this.inRecord = true;
    this.recordStartDepth = this.depth;
    this.recordScalar = scalar;
    this.recordString = string;
    this.recordFrom = i;
    this.pieces = [];
    this.size = 0;
    this.dropping = false;
    this.recordError = undefined;
    this.head = undefined;
  }

  private drop(piece: Buffer, reason: string): void {
    this.recordError ??= reason;
    if (this.dropping) return;
    this.head = headOf(this.pieces, piece);
    this.pieces = [];
    this.dropping = true;
  }

  /** Keeps the record's bytes from recordFrom to end (or drops them once it is over the limit). */
  private keep(buf: Buffer, end: number): void {
    if (this.dropping) return;
    const piece = buf.subarray(this.recordFrom, end);
    this.size += piece.length;
    if (this.size > this.o.maxRecordBytes) this.drop(piece, recordTooLarge(this.o.maxRecordBytes));
    else if (piece.length > 0) this.pieces.push(piece);
  }

  private endRecord(buf: Buffer, end: number, out: ScannedRecord[]): void {
    this.keep(buf, end);
    if (this.recordError) out.push({ error: this.recordError, head: this.head ?? headOf(this.pieces) });
    else out.push({ bytes: this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces, this.size) });
    this.inRecord = false;
    this.pieces = [];
    this.head = undefined;
    if (this.depth === 0) this.seenValue = true;
  }

  private open(buf: Buffer, i: number, type: number): void {
    if (this.inRecord) {
      this.depth++;
      if (this.depth > this.o.maxDepth) this.drop(buf.subarray(this.recordFrom, i + 1), nestedTooDeep(this.o.maxDepth));
      if (this.depth <= this.o.maxDepth + 1) this.types[this.depth] = type;
      return;
    }
    if (this.depth === 0 && this.seenValue) this.fail('more than one value at the top level', i);
    const role = this.roleOfValue();
    this.key = undefined;
    if (role === 'record' || (role === 'records' && type === OBJ)) {
      this.startRecord(i, false, false);
      this.depth++;
      this.types[this.depth] = type;
      return;
    }
    this.depth++;
    if (this.depth > this.o.maxDepth + 1) return; // outside records deeper levels are only counted
    this.types[this.depth] = type;
    this.roles[this.depth] = role === 'skip' ? SKIP : role === 'records' ? RESULT : role;
    this.expectKey = type === OBJ && this.roles[this.depth] >= 0;
  }

  private close(buf: Buffer, i: number, type: number, out: ScannedRecord[]): void {
    if (this.depth === 0) this.fail(`unexpected "${String.fromCharCode(buf[i])}"`, i);
    if (this.depth <= this.o.maxDepth + 1 && this.types[this.depth] !== type) {
      this.fail(`"${String.fromCharCode(buf[i])}" does not close the ${this.types[this.depth] === OBJ ? 'object' : 'array'} open there`, i);
    }
    this.depth--;
    if (this.inRecord) {
      if (this.depth === this.recordStartDepth) this.endRecord(buf, i + 1, out);
      return;
    }
    if (this.depth === 0) this.seenValue = true;
    this.expectKey = false;
    this.key = undefined;
  }

  /** A string or a scalar starting outside records: a record, a member name, or skipped. */
  private valueStart(i: number, string: boolean): void {
    if (string && this.expectKey) {
      this.collectingKey = true;
      this.keyBytes = [];
      this.keyLength = 0;
      this.keyFrom = i + 1;
      this.expectKey = false;
      return;
    }
    if (this.depth === 0 && this.seenValue) this.fail('more than one value at the top level', i);
    const role = this.roleOfValue();
    this.key = undefined;
    if (role === 'record' || role === 'records') this.startRecord(i, !string, string);
    else {
      if (!string) this.inScalar = true;
      if (this.depth === 0) this.seenValue = true;
    }
  }

  private finishKey(buf: Buffer, end: number): void {
    this.collectingKey = false;
    if (this.keyLength > 1024) {
      this.key = ''; // too long to be a step of a plain path
      return;
    }
    try {
      this.key = JSON.parse(`"${Buffer.concat([...this.keyBytes, buf.subarray(this.keyFrom, end)]).toString('utf8')}"`) as string;
    } catch {
      this.key = '';
    }
    this.keyBytes = [];
  }

  /** Feeds a chunk; appends the records completed in it to `out`. Throws DocumentError when the structure breaks. */
  push(buf: Buffer, out: ScannedRecord[]): void {
    const len = buf.length;
    for (let i = 0; i < len; i++) {
      const c = buf[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          if (this.collectingKey) this.finishKey(buf, i);
          else if (this.inRecord && this.recordString && this.depth === this.recordStartDepth) this.endRecord(buf, i + 1, out);
        }
        continue;
      }
      const ends = c === 0x2c || c === 0x5d || c === 0x7d || isSpace(c);
      if (this.inRecord && this.recordScalar) {
        if (!ends) continue;
        this.endRecord(buf, i, out); // the byte that ended it is read below
      } else if (this.inScalar) {
        if (!ends) continue;
        this.inScalar = false;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          if (!this.inRecord) this.valueStart(i, true);
          break;
        case 0x7b: // {
        case 0x5b: // [
          this.open(buf, i, c === 0x7b ? OBJ : ARR);
          break;
        case 0x7d: // }
        case 0x5d: // ]
          this.close(buf, i, c === 0x7d ? OBJ : ARR, out);
          break;
        case 0x2c: // ,
          if (!this.inRecord && this.depth > 0 && this.depth <= this.o.maxDepth + 1 && this.types[this.depth] === OBJ && this.roles[this.depth] >= 0) {
            this.expectKey = true;
            this.key = undefined;
          }
          break;
        case 0x3a: // :
          break;
        default:
          if (!this.inRecord && !ends) this.valueStart(i, false);
      }
    }
    this.bytesSeen += len;
    if (this.collectingKey) {
      this.keyLength += len - this.keyFrom;
      if (this.keyLength <= 1024) this.keyBytes.push(buf.subarray(this.keyFrom));
      this.keyFrom = 0;
    }
    if (this.inRecord) {
      this.keep(buf, len);
      this.recordFrom = 0;
    }
  }

  /** No more input. A record cut short is handed on as it is (JSON.parse names what is missing). */
  end(out: ScannedRecord[]): void {
    if (this.inRecord) {
      this.endRecord(Buffer.alloc(0), 0, out);
      return;
    }
    if (this.depth > 0 || this.inString) this.fail('the document ends before it is complete');
    if (!this.seenValue) throw new DocumentError('invalid JSON: the file holds no JSON document');
  }
}

/** True when a JSON text nests deeper than max (counted without parsing; strings skipped). */
export function jsonDeeperThan(text: string, max: number): boolean {
  if (text.length <= 2 * max) return false; // too short to hold that many brackets and their ends
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
