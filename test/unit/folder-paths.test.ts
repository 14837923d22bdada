// The folder reader's paths: the shortcut for plain relative names gives exactly what path.join/resolve give,
// and a name that would leave the folder is still refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FolderReader, joinRel } from '../../connectors/folder/reader.ts';

const names = ['a.csv', 'sub/a.csv', 'sub/deeper/b c.txt', '.hidden', 'sub/.hidden', 'a..b', 'sub/..', '../x', 'sub/../../x', './a', 'sub/./a', 'sub//a', 'sub/', '/etc/passwd', 'é/ü.csv', 'a\\b'];

describe('folder reader paths', () => {
  it('joins plain names like path.join, for every kind of name', () => {
    for (const root of ['/data/outbox', '/', path.resolve('rel-root')]) {
      for (const rel of names) expect(joinRel(root, rel), `${root} + ${rel}`).toBe(path.join(root, rel));
    }
  });

  it('reads a file by its relative name and refuses names that leave the folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-paths-'));
    try {
      fs.mkdirSync(path.join(dir, 'in', 'sub'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'in', 'sub', 'a.csv'), 'x');
      fs.writeFileSync(path.join(dir, 'secret'), 'y');
      const reader = new FolderReader(path.join(dir, 'in'), { usePolling: false });
      reader.chooseFileOps();
      expect(await reader.stat('sub/a.csv')).toMatchObject({ rel: 'sub/a.csv', size: 1 });
      expect(reader.where('sub/a.csv')).toBe(path.join(dir, 'in', 'sub', 'a.csv'));
      await expect(reader.stat('../secret')).rejects.toThrow(/escapes/);
      await expect(reader.stat('sub/../../secret')).rejects.toThrow(/escapes/);
      await expect(reader.remove('../secret')).rejects.toThrow(/escapes/);
      expect(fs.existsSync(path.join(dir, 'secret'))).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
