// The CLI bundle (built by the global setup, as `npm ci` builds it) is plain ASCII: V8 keeps a source with
// any wider character as a two-byte string, a megabyte more for the life of every `ferry` process.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bundle = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.mjs');

describe('CLI bundle', () => {
  it('is ASCII, with the escapes still reading as the characters they stand for', () => {
    const source = fs.readFileSync(bundle, 'utf8');
    const wide = [...source.matchAll(/[^\x00-\x7f]/g)].slice(0, 3).map((m) => source.slice(Math.max(0, m.index - 40), m.index + 10));
    expect(wide).toEqual([]);
    // the sources' comments use em dashes: they are carried over as escapes
    expect(source).toContain('\\u2014');
  });
});
