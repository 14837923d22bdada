// The folder source's local file calls: a small file read with the size a look just gave (no second look at
// its size) still comes whole and exact when it grew or shrank in between.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileOps } from '../../connectors/folder/file-ops.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('local file calls: reading with a known size', () => {
  const ops = fileOps(true);

  it('reads the file as it is, whether it kept, gained or lost bytes since its size was taken', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.bin');
    for (const [looked, now] of [[3000, 3000], [0, 0], [100, 5000], [100, 200_000], [5000, 10], [10, 0]]) {
      const bytes = crypto.randomBytes(now);
      fs.writeFileSync(file, bytes);
      const got = await ops.readFile(file, looked);
      expect(got.length, `${looked} → ${now}`).toBe(now);
      expect(got.equals(bytes)).toBe(true);
    }
  });

  it('a file gone since its look fails with ENOENT, as an unknown size does', async () => {
    const file = path.join(tempDir(), 'gone.bin');
    await expect(ops.readFile(file, 10)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(ops.readFile(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
