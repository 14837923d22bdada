// UTF-8 decoding that does not hide bad bytes. Node's decoders turn a byte that is not UTF-8 into U+FFFD
// without a word, which is data silently changed. This decoder turns each one into a lone surrogate
// (U+DFFF), which valid UTF-8 can never decode to, so a parser can tell which record held it
// (`String#isWellFormed()` is false) and make that record bad instead.
import { isUtf8 } from 'node:buffer';

export const INVALID_UTF8_MARK = '\udfff';

/** Length of the valid UTF-8 sequence starting at i, or 0 (RFC 3629: no overlongs, surrogates or > U+10FFFF). */
function sequenceAt(b: Buffer, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Decodes bytes known to hold invalid UTF-8: valid runs as text, each bad byte as INVALID_UTF8_MARK. */
function decodeMarked(b: Buffer): string {
  let out = '';
  let run = 0;
  for (let i = 0; i < b.length; ) {
    if (b[i] < 0x80) {
      i++;
      continue;
    }
    const n = sequenceAt(b, i);
    if (n > 0) {
      i += n;
      continue;
    }
    out += b.toString('utf8', run, i) + INVALID_UTF8_MARK;
    i++;
    run = i;
  }
  return out + b.toString('utf8', run);
}

/** A streaming UTF-8 decoder (same shape as iconv-lite's): strips a leading BOM, marks invalid bytes. */
export class MarkingUtf8Decoder {
  /** True once a byte that is not UTF-8 was seen. */
  invalid = false;
  private tail: Buffer | undefined;
  private started = false;

  write(chunk: Buffer): string {
    let buf = this.tail ? Buffer.concat([this.tail, chunk]) : chunk;
    this.tail = undefined;
    if (!this.started) {
      if (buf.length < 3 && buf.every((x, i) => x === [0xef, 0xbb, 0xbf][i])) {
        this.tail = Buffer.from(buf); // may still be a BOM
        return '';
      }
      this.started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) buf = buf.subarray(3);
    }
    // a sequence cut by the chunk's end waits for the next chunk
    let k = buf.length - 1;
    while (k >= 0 && buf.length - k <= 3 && (buf[k] & 0xc0) === 0x80) k--;
    if (k >= 0 && buf[k] >= 0xc0) {
      const need = buf[k] >= 0xf0 ? 4 : buf[k] >= 0xe0 ? 3 : 2;
      if (k + need > buf.length) {
        this.tail = Buffer.from(buf.subarray(k));
        buf = buf.subarray(0, k);
      }
    }
    if (isUtf8(buf)) return buf.toString('utf8');
    this.invalid = true;
    return decodeMarked(buf);
  }

  end(): string {
    const rest = this.tail;
    this.tail = undefined;
    if (!rest || rest.length === 0) return '';
    if (!this.started && rest.every((x, i) => x === [0xef, 0xbb, 0xbf][i])) return '';
    this.invalid = true;
    return decodeMarked(rest);
  }
}

const LONE_MARK = /(?<![\ud800-\udbff])\udfff/;

/** True when decoded text holds a byte that was not UTF-8 (a lone INVALID_UTF8_MARK). */
export function hasInvalidUtf8(text: string): boolean {
  return text.includes(INVALID_UTF8_MARK) && LONE_MARK.test(text);
}
