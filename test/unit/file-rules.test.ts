// The default include `**/*` is matched without picomatch (connectors/intake/rules.ts): it must say exactly
// what picomatch says of it (dot: false: no part of the path starting with ".").
import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { everyVisibleFile, FileRules } from '../../connectors/intake/rules.ts';

const PATHS = [
  'a', 'a.csv', '.a', 'a/.b', '.a/b', 'a/b', 'a/b/c.txt', '..', 'a/..b', 'a./b', 'a/b.', '...', '.', 'é/ü.txt', 'a b/c d',
  'a\\b', 'a/b\\.c', '~x', '#a', '!a', 'a/!b', '[a]', '(a)/{b}', 'a*b', 'a?', 'a/b/.c/d', ' .a', 'a/ .b', 'a/b/c/d/e/f.x',
  '.git/config', 'x/.DS_Store', 'x.y/z', 'x/y.', '😀/a', '+(a)', '@(b)', 'a|b', '$a/^b',
];

describe('file rules: the default include', () => {
  it('matches what picomatch matches for **/* (dot: false)', () => {
    const pm = picomatch(['**/*'], { dot: false });
    for (const rel of PATHS) expect(everyVisibleFile(rel), rel).toBe(pm(rel));
    expect(PATHS.filter(everyVisibleFile).length).toBeGreaterThan(10);
    expect(PATHS.filter((p) => !everyVisibleFile(p)).length).toBeGreaterThan(5);
  });

  it('wants the same files with it as with a picomatch glob of the same meaning, excludes and depth still applied', () => {
    const fast = new FileRules({ include: ['**/*'], exclude: ['**/*.tmp'], recursive: true, depth: 2 });
    // `**` alone is matched by picomatch (same meaning for files: any path without a dot part)
    const slow = new FileRules({ include: ['**'], exclude: ['**/*.tmp'], recursive: true, depth: 2 });
    for (const rel of [...PATHS, 'a/b.tmp', 'x.tmp', 'a/b/c/d.csv']) expect(fast.wants(rel), rel).toBe(slow.wants(rel));
    expect(fast.wants('a/b.csv')).toBe(true);
    expect(fast.wants('a/.b.csv')).toBe(false);
    expect(fast.wants('a/b.tmp')).toBe(false);
    expect(fast.wants('a/b/c/d.csv')).toBe(false); // deeper than depth 2
  });
});
