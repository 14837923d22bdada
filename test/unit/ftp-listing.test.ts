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
import { ListingDigest, ListingParser } from '../../connectors/ftp/listing.ts';
import { repoRoot } from '../helpers/cli.ts';

const fixtures = fs.readdirSync(path.join(repoRoot, 'connectors/ftp/fixtures')).filter((f) => f.endsWith('.txt'));

/** Feeds `bytes` to a parser in chunks of `size` bytes. */
async function parseInChunks(bytes: Buffer, size: number, encoding: BufferEncoding) {
  return (await digestInChunks(bytes, size, new ListingParser('LIST', encoding, (text) => parseList(text), toEntry))).entries;
}

/** Feeds `bytes` to a listing sink in chunks of `size` bytes. */
async function digestInChunks<T extends ListingDigest>(bytes: Buffer, size: number, sink: T): Promise<T> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  await pipeline(Readable.from(chunks), sink);
  return sink;
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

  it('the digest is the same whether the reply is parsed or only digested, in any chunks, and changes with any byte', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `-rw-r--r--    1 0        0              16 Dec 07 11:00 inv-${String(i).padStart(7, '0')}.xml`);
    const bytes = Buffer.from(`${lines.join('\r\n')}\r\n`);
    const parsed = await digestInChunks(bytes, 4093, new ListingParser('LIST', 'utf8', (text) => parseList(text), toEntry));
    const digest = parsed.digest();
    expect(parsed.entries).toHaveLength(3000);
    for (const size of [1, 777, 65536]) expect((await digestInChunks(bytes, size, new ListingDigest('LIST'))).digest()).toBe(digest);
    // one file's size, one file's time, one name, one file more or less: another digest
    const variants = [
      lines.map((l, i) => (i === 1500 ? l.replace(' 16 ', ' 17 ') : l)),
      lines.map((l, i) => (i === 2999 ? l.replace('11:00', '11:01') : l)),
      lines.map((l, i) => (i === 0 ? l.replace('inv-', 'inw-') : l)),
      lines.slice(1),
      [...lines, lines[0].replace('0000000', '0003000')],
    ];
    for (const v of variants) expect((await digestInChunks(Buffer.from(`${v.join('\r\n')}\r\n`), 65536, new ListingDigest('LIST'))).digest()).not.toBe(digest);
    // the command answered is part of it (MLSD and LIST of the same folder are different replies)
    expect((await digestInChunks(bytes, 65536, new ListingDigest('MLSD'))).digest()).not.toBe(digest);
  });
});
