// The digest of a folder's listing as stats show it (connectors/intake/listing-digest.ts): the same entries give
// the same digest in any order; any one change of a name, size, time (down to what mtimeMs resolves: about 0.25 µs), inode, or of
// the sub-folders gives another.
import { describe, expect, it } from 'vitest';
import { ListingDigest } from '../../connectors/intake/listing-digest.ts';

type File = [string, number, number, number];
const T = 1_765_000_000_123.456789; // ms, with a sub-millisecond part as Node gives it

function digestOf(files: File[], dirs: string[] = []): string {
  const d = new ListingDigest();
  for (const name of dirs) d.dir(name);
  for (const [name, size, mtimeMs, ino] of files) d.file(name, size, mtimeMs, ino);
  return d.value();
}

const files: File[] = Array.from({ length: 50 }, (_, i) => [`f${String(i).padStart(3, '0')}.csv`, 100 + i, T + i * 1000, 5_000_000 + i]);

describe('ListingDigest', () => {
  it('is the same for the same entries in any order', () => {
    const base = digestOf(files, ['a', 'b']);
    expect(digestOf([...files].reverse(), ['b', 'a'])).toBe(base);
    expect(digestOf([...files.slice(25), ...files.slice(0, 25)], ['a', 'b'])).toBe(base);
  });

  it('changes with any one change of an entry', () => {
    const base = digestOf(files, ['a']);
    const seen = new Set([base]);
    const changed = (i: number, f: Partial<{ name: string; size: number; mtimeMs: number; ino: number }>) => {
      const copy = files.map((x) => [...x] as File);
      const [name, size, mtimeMs, ino] = copy[i];
      copy[i] = [f.name ?? name, f.size ?? size, f.mtimeMs ?? mtimeMs, f.ino ?? ino];
      return digestOf(copy, ['a']);
    };
    const variants = [
      changed(7, { name: 'f007.CSV' }),
      changed(7, { size: 108 }),
      changed(7, { mtimeMs: files[7][2] + 1 }),
      changed(7, { mtimeMs: files[7][2] - 3_600_000 }), // a clock set back
      // a microsecond (a double near 1.7e12 ms resolves about a quarter of one: what Node's mtimeMs can show)
      changed(7, { mtimeMs: files[7][2] + 0.001 }),
      changed(7, { ino: 1 }),
      changed(7, { size: 2 ** 40 }), // beyond 32 bits
      changed(7, { ino: 2 ** 40 + 5_000_007 }),
      digestOf(files.slice(1), ['a']), // one gone
      digestOf([...files, ['new.csv', 1, T, 9]], ['a']), // one more
      digestOf(files, []), // a sub-folder gone
      digestOf(files, ['a', 'c']), // one more
      digestOf(files, ['b']), // renamed
      // a file and a folder of the same name are not the same entry
      digestOf([...files.slice(1)], ['a', files[0][0]]),
    ];
    for (const v of variants) {
      expect(seen.has(v), v).toBe(false);
      seen.add(v);
    }
  });

  it('two files swapping their sizes and times is a change', () => {
    const swapped = files.map((x) => [...x] as File);
    [swapped[3][1], swapped[4][1]] = [swapped[4][1], swapped[3][1]];
    [swapped[3][2], swapped[4][2]] = [swapped[4][2], swapped[3][2]];
    expect(digestOf(swapped)).not.toBe(digestOf(files));
  });
});
