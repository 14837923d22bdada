// The FTP source's listing parsed as it arrives (connectors/ftp/listing.ts): whatever the chunks the data
// connection hands over (a line split across them, CRLF split between them, a multi-byte name split), the
// entries are those basic-ftp's own parser gives for the whole reply, for every recorded server's format.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { parseList } from 'basic-ftp';
import { describe, expect, it } from 'vitest';
import { toEntry } from '../../connectors/ftp/client.ts';
import { ListingParser } from '../../connectors/ftp/listing.ts';
import { repoRoot } from '../helpers/cli.ts';

const fixtures = fs.readdirSync(path.join(repoRoot, 'connectors/ftp/fixtures')).filter((f) => f.endsWith('.txt'));

/** Feeds `bytes` to a parser in chunks of `size` bytes. */
async function parseInChunks(bytes: Buffer, size: number, encoding: BufferEncoding) {
  const parser = new ListingParser(encoding, (text) => parseList(text), toEntry);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  await pipeline(Readable.from(chunks), parser);
  return parser.entries;
}

describe('FTP listing parsed as it arrives', () => {
  it.each(fixtures)('%s: the same entries as the whole reply parsed at once, in chunks of 1, 7 and 64 KB', async (name) => {
    const text = fs.readFileSync(path.join(repoRoot, 'connectors/ftp/fixtures', name), 'latin1');
    const whole = parseList(text).map(toEntry);
    expect(whole.length).toBeGreaterThan(0);
    for (const size of [1, 7, 65536]) expect(await parseInChunks(Buffer.from(text, 'latin1'), size, 'latin1')).toEqual(whole);
  });

  it('a folder of 2,500 files in many batches, CRLF endings and UTF-8 names split across chunks', async () => {
    const lines = Array.from({ length: 2500 }, (_, i) => `-rw-r--r--    1 0        0            ${String(i).padStart(6)} Dec 07 11:00 fäktura-${i}-€.xml`);
    const text = `total 2500\r\n${lines.join('\r\n')}\r\n`;
    const whole = parseList(text).map(toEntry);
    expect(whole).toHaveLength(2500);
    const got = await parseInChunks(Buffer.from(text, 'utf8'), 4093, 'utf8');
    expect(got).toEqual(whole);
    expect(got[2499]).toMatchObject({ name: 'fäktura-2499-€.xml', type: 'file', size: 2499 });
  });
});
