// The wording of the parse limits (parse.maxRecordBytes, parse.maxDepth, parse.maxColumns) and the
// error a parser throws when the rest of a document cannot be read (a text node over the limit, nesting
// too deep to go on), so every format names a limit the same way.
import { sizeText } from '../../../connectors/contract.ts';

/** How much of a record cut for a limit is kept with its dead item (the start of it, to show what it was). */
export const HEAD_BYTES = 64 * 1024;

export const recordTooLarge = (max: number, what = 'the record') => `${what} is larger than ${sizeText(max)} (parse.maxRecordBytes)`;
export const nestedTooDeep = (max: number, unit = 'levels') => `nested deeper than ${max} ${unit} (parse.maxDepth)`;
export const tooManyColumns = (max: number) => `the row has more than ${max} columns (parse.maxColumns)`;
export const NOT_UTF8 = 'not valid UTF-8 (set parse.encoding to the file\'s encoding, e.g. windows-1252)';

/**
 * A problem that ends a document: what came before it stands, nothing after it can be read. Its record
 * goes dead with the whole file as its body, so nothing of the file is lost.
 */
export class DocumentError extends Error {}

/** The first HEAD_BYTES of a record spread over several buffers. */
export function headOf(pieces: Buffer[], extra?: Buffer): Buffer {
  const out: Buffer[] = [];
  let n = 0;
  for (const p of extra ? [...pieces, extra] : pieces) {
    if (n >= HEAD_BYTES) break;
    const take = p.subarray(0, HEAD_BYTES - n);
    out.push(take);
    n += take.length;
  }
  return Buffer.concat(out, n);
}
