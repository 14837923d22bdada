// The content store clones a large local file where the file system can (copy-on-write: Btrfs here, on a loop
// device; XFS, APFS and ReFS the same way): no byte is copied, the clone is hashed once, and a writer changing
// the file afterwards changes only the original. Where the file system cannot clone (tmpfs), it copies, and
// does not ask again. Needs root, mkfs.btrfs and a loop device (Debian's btrfs-progs; CI installs it).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ContentStore } from '../../main/engine/store/content.ts';
import { listFiles, tempDir } from '../helpers/tmp.ts';

/** Mounts a fresh 300 MB Btrfs image; the reason it cannot, else undefined. */
function mountBtrfs(image: string, at: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (to mount a loop device)';
  try {
    execFileSync('mkfs.btrfs', ['-q', image], { stdio: 'ignore' });
  } catch {
    return 'needs mkfs.btrfs (Debian: btrfs-progs)';
  }
  try {
    execFileSync('mount', ['-o', 'loop', image, at], { stdio: 'pipe' });
  } catch (err) {
    return `cannot mount a loop device here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  return undefined;
}

const work = tempDir('ferry-clone-');
const image = path.join(work, 'btrfs.img');
const mnt = path.join(work, 'mnt');
fs.mkdirSync(mnt);
fs.writeFileSync(image, '');
fs.truncateSync(image, 300 * 1024 * 1024);
const cannot = mountBtrfs(image, mnt);
if (cannot) console.warn(`content-clone: the Btrfs cases are skipped: ${cannot}`);

afterAll(() => {
  if (!cannot) execFileSync('umount', [mnt]);
  fs.rmSync(work, { recursive: true, force: true });
});

/** A file of random bytes. */
function randomFile(file: string, size: number): { bytes: Buffer; sha256: string } {
  const bytes = crypto.randomBytes(size);
  fs.writeFileSync(file, bytes);
  return { bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
}

async function fileHandleProto(): Promise<fs.promises.FileHandle> {
  const h = await fs.promises.open(__filename, 'r');
  await h.close();
  return Object.getPrototypeOf(h);
}

describe.skipIf(cannot !== undefined)('content store on Btrfs: clones', () => {
  let store: ContentStore;
  beforeAll(() => {
    store = new ContentStore(path.join(mnt, 'data'));
  });

  it('stores a large file as a clone: no byte written, hashed once, sharing the file\'s extents', async () => {
    const proto = await fileHandleProto();
    const write = vi.spyOn(proto, 'write');
    const writev = vi.spyOn(proto, 'writev');
    const copyFile = vi.spyOn(fs.promises, 'copyFile');
    const file = path.join(mnt, 'export.bin');
    const src = randomFile(file, 40 * 1024 * 1024 + 999);
    const st = fs.statSync(file);
    const stored = await store.put({ file, version: { size: st.size, mtimeMs: st.mtimeMs } });
    expect(stored).toMatchObject({ size: src.bytes.length, sha256: src.sha256 });
    expect(copyFile).toHaveBeenCalledWith(file, expect.any(String), fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE_FORCE);
    expect(write).not.toHaveBeenCalled();
    expect(writev).not.toHaveBeenCalled();
    // the kernel says the body's extents are shared with the file's
    const extents = execFileSync('filefrag', ['-v', store.pathOf(stored.file!)], { encoding: 'utf8' });
    expect(extents).toMatch(/shared/);
    vi.restoreAllMocks();

    // a writer changing the file afterwards (in place) changes only the original
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, crypto.randomBytes(1024 * 1024), 0, 1024 * 1024, 0);
    fs.closeSync(fd);
    const body = fs.readFileSync(store.pathOf(stored.file!));
    expect(crypto.createHash('sha256').update(body).digest('hex')).toBe(src.sha256);
    expect(listFiles(path.join(mnt, 'data', 'content', 'tmp'))).toEqual([]);
  });

  it('a file written after it settled, before the clone, is refused and leaves no clone behind', async () => {
    const file = path.join(mnt, 'late.bin');
    randomFile(file, 3 * 1024 * 1024);
    const st = fs.statSync(file);
    fs.appendFileSync(file, 'more');
    await expect(store.put({ file, version: { size: st.size, mtimeMs: st.mtimeMs } })).rejects.toThrow(/^file changed after it settled/);
    expect(listFiles(path.join(mnt, 'data', 'content', 'tmp'))).toEqual([]);
  });
});

// tmpfs cannot clone: /dev/shm where there is one, else a tmpfs mounted here
describe.skipIf(!fs.existsSync('/dev/shm') || fs.statfsSync('/dev/shm').type !== 0x01021994)('content store on tmpfs: copies', () => {
  it('falls back to a copy (hashed as it is written), and does not try to clone again', async () => {
    const dir = fs.mkdtempSync('/dev/shm/ferry-noclone-');
    try {
      const store = new ContentStore(path.join(dir, 'data'));
      const copyFile = vi.spyOn(fs.promises, 'copyFile');
      for (const name of ['a.bin', 'b.bin']) {
        const file = path.join(dir, name);
        const src = randomFile(file, 2 * 1024 * 1024 + 5);
        const stored = await store.put({ file });
        expect(stored).toMatchObject({ size: src.bytes.length, sha256: src.sha256 });
        expect(fs.readFileSync(store.pathOf(stored.file!)).equals(src.bytes)).toBe(true);
      }
      expect(copyFile).toHaveBeenCalledTimes(1);
      expect(listFiles(path.join(dir, 'data', 'content', 'tmp'))).toEqual([]);
    } finally {
      vi.restoreAllMocks();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
