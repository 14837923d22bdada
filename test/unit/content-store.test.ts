// The content store's streaming path: a large body arrives in network-sized chunks, is hashed, written in
// batches and synced in the background as it goes; whatever fails (the stream, a write, a background sync, the
// size check) leaves no file behind and stores nothing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ContentStore } from '../../main/engine/store/content.ts';
import { STORE_AHEAD_MIN_BYTES } from '../../connectors/contract.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

/** `total` random bytes cut into uneven chunks (1 KB … 70 KB), yielded with pauses like a network read. */
function chunked(total: number, failAt?: number) {
  const bytes = crypto.randomBytes(total);
  async function* gen() {
    let at = 0;
    for (let i = 0; at < total; i++) {
      const n = Math.min(total - at, 1024 + ((i * 7919) % (69 * 1024)));
      if (failAt !== undefined && at + n > failAt) throw Object.assign(new Error('connection reset by peer'), { code: 'ECONNRESET' });
      yield bytes.subarray(at, at + n);
      at += n;
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
  }
  return { bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), stream: () => Readable.from(gen(), { objectMode: false }) };
}

async function fileHandleProto(): Promise<fs.promises.FileHandle> {
  const h = await fs.promises.open(__filename, 'r');
  await h.close();
  return Object.getPrototypeOf(h);
}

describe('content store: streamed bodies', () => {
  afterEach(() => vi.restoreAllMocks());

  it('stores a large streamed body byte for byte, with its size and sha256, and leaves no temp file', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const body = chunked(40 * 1024 * 1024 + 123); // crosses the background-sync threshold
    const stored = await store.put({ stream: body.stream(), size: body.bytes.length });
    expect(stored).toMatchObject({ size: body.bytes.length, sha256: body.sha256 });
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(body.bytes)).toBe(true);
    expect(listFiles(path.join(dir, 'content/tmp'))).toEqual([]);
  });

  it('a short write is continued where it stopped', async () => {
    const proto = await fileHandleProto();
    const writev = proto.writev;
    let calls = 0;
    // every other write takes only part of the batch (as a disk may), the rest must follow in order
    vi.spyOn(proto, 'writev').mockImplementation(function (this: fs.promises.FileHandle, buffers: NodeJS.ArrayBufferView[], position?: number) {
      calls++;
      if (calls % 2 === 1 && buffers.length > 0 && buffers[0].byteLength > 10) {
        const first = buffers[0] as Buffer;
        return writev.call(this, [first.subarray(0, Math.floor(first.length / 3))], position);
      }
      return writev.call(this, buffers, position);
    } as typeof writev);
    const dir = tempDir();
    const store = new ContentStore(dir);
    const body = chunked(3 * 1024 * 1024 + 17);
    const stored = await store.put({ stream: body.stream(), size: body.bytes.length });
    expect(calls).toBeGreaterThan(2);
    expect(stored.sha256).toBe(body.sha256);
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(body.bytes)).toBe(true);
  });

  it('a failed background sync fails the body (a later fsync would prove nothing) and leaves no file', async () => {
    const proto = await fileHandleProto();
    vi.spyOn(proto, 'datasync').mockRejectedValue(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const dir = tempDir();
    const store = new ContentStore(dir);
    const body = chunked(40 * 1024 * 1024);
    await expect(store.put({ stream: body.stream(), size: body.bytes.length })).rejects.toThrow(/EIO/);
    expect(listFiles(path.join(dir, 'content'))).toEqual([]);
  });

  it('a stream cut mid-way, or a body of another size than announced, stores nothing', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const cut = chunked(5 * 1024 * 1024, 2 * 1024 * 1024);
    await expect(store.put({ stream: cut.stream(), size: cut.bytes.length })).rejects.toThrow(/connection reset/);
    const short = chunked(2 * 1024 * 1024);
    await expect(store.put({ stream: short.stream(), size: short.bytes.length + 1 })).rejects.toThrow(`body was ${short.bytes.length} bytes, expected ${short.bytes.length + 1}`);
    expect(listFiles(path.join(dir, 'content'))).toEqual([]);
  });

  it('stale temp files (a crash mid-download) are removed, not one the store is still writing or a fresh one', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const tmp = path.join(dir, 'content/tmp');
    const stale = path.join(tmp, 'left-by-a-crash');
    fs.writeFileSync(stale, 'half a download');
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(stale, old, old);
    fs.writeFileSync(path.join(tmp, 'another-process-now'), 'being written');
    // a body that stalls mid-stream: its temp file is old, but this store is still writing it
    let resume!: () => void;
    const stalled = new Readable({ read() {} });
    stalled.push(Buffer.alloc(300 * 1024, 1));
    const writing = store.put({ stream: stalled, size: 600 * 1024 });
    const ownTemp = () => fs.readdirSync(tmp).filter((f) => f !== 'left-by-a-crash' && f !== 'another-process-now');
    await waitFor(() => ownTemp().length === 1 && fs.statSync(path.join(tmp, ownTemp()[0])).size > 0, 'the store to be writing its temp file');
    const [own] = ownTemp();
    fs.utimesSync(path.join(tmp, own), old, old);
    void new Promise<void>((r) => (resume = r)).then(() => (stalled.push(Buffer.alloc(300 * 1024, 2)), stalled.push(null)));
    expect(await store.removeStaleTemp()).toBe(1);
    expect(fs.readdirSync(tmp).sort()).toEqual(['another-process-now', own].sort());
    resume();
    const stored = await writing;
    expect(stored.size).toBe(600 * 1024);
    expect(fs.readdirSync(tmp)).toEqual(['another-process-now']);
  });
});

/** FileHandle.read / write in their (buffer, offset, length, position) form. */
type PositionalIo = (this: fs.promises.FileHandle, buf: Buffer, off: number, len: number, pos: number) => Promise<{ bytesRead?: number; bytesWritten?: number }>;

describe('content store: local files', () => {
  afterEach(() => vi.restoreAllMocks());

  /** A file of `size` random bytes in a fresh folder. */
  function localFile(size: number): { file: string; bytes: Buffer; sha256: string } {
    const bytes = crypto.randomBytes(size);
    const file = path.join(tempDir(), 'big.bin');
    fs.writeFileSync(file, bytes);
    return { file, bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex') };
  }

  it('copies a large file byte for byte in one pass, with its sha256, through reused blocks, and leaves no temp file', async () => {
    const proto = await fileHandleProto();
    const read = vi.spyOn(proto, 'read');
    const dir = tempDir();
    const store = new ContentStore(dir);
    // not a whole number of blocks, and across the background-sync threshold
    const src = localFile(35 * 1024 * 1024 + 4321);
    const stored = await store.put({ file: src.file });
    expect(stored).toMatchObject({ size: src.bytes.length, sha256: src.sha256 });
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(src.bytes)).toBe(true);
    expect(listFiles(path.join(dir, 'content/tmp'))).toEqual([]);
    // every read landed in one of a few blocks (no buffer per read), and the file was read once
    const blocks = new Set(read.mock.calls.map((c) => (c[0] as unknown as Buffer).buffer));
    expect(blocks.size).toBeGreaterThan(1);
    expect(blocks.size).toBeLessThanOrEqual(4);
    const bytesAsked = read.mock.calls.reduce((n, c) => n + ((c as unknown[])[2] as number), 0);
    expect(bytesAsked).toBeLessThan(src.bytes.length + 5 * 1024 * 1024);
  });

  it('short reads and short writes are continued where they stopped', async () => {
    const proto = await fileHandleProto();
    const read = proto.read as unknown as PositionalIo;
    const write = proto.write as unknown as PositionalIo;
    let reads = 0;
    let writes = 0;
    // every other call moves only part of what was asked (as a network file system or a full disk may)
    vi.spyOn(proto, 'read').mockImplementation(function (this: fs.promises.FileHandle, buf: Buffer, off: number, len: number, pos: number) {
      return read.call(this, buf, off, ++reads % 2 === 1 && len > 10 ? Math.floor(len / 3) : len, pos);
    } as unknown as typeof proto.read);
    vi.spyOn(proto, 'write').mockImplementation(function (this: fs.promises.FileHandle, buf: Buffer, off: number, len: number, pos: number) {
      return write.call(this, buf, off, ++writes % 2 === 1 && len > 10 ? Math.floor(len / 3) : len, pos);
    } as unknown as typeof proto.write);
    const store = new ContentStore(tempDir());
    const src = localFile(5 * 1024 * 1024 + 77);
    const stored = await store.put({ file: src.file });
    expect(reads).toBeGreaterThan(6);
    expect(writes).toBeGreaterThan(6);
    expect(stored.sha256).toBe(src.sha256);
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(src.bytes)).toBe(true);
  });

  it('a file that no longer has the size and time it settled with is refused, small or large, and nothing is stored', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    for (const size of [1000, 3 * 1024 * 1024]) {
      const src = localFile(size);
      const st = fs.statSync(src.file);
      await expect(store.put({ file: src.file, version: { size: st.size, mtimeMs: st.mtimeMs - 1000 } })).rejects.toThrow(
        new RegExp(`^file changed after it settled: .*big\\.bin has ${size} bytes, modified ${new Date(st.mtimeMs).toISOString()} \\(it settled with ${size} bytes, modified `),
      );
      await expect(store.put({ file: src.file, version: { size: size + 1, mtimeMs: st.mtimeMs } })).rejects.toThrow(/^file changed after it settled/);
      // the version it has: stored
      const stored = await store.put({ file: src.file, version: { size: st.size, mtimeMs: st.mtimeMs } });
      expect(stored).toMatchObject({ size, sha256: src.sha256 });
      if (stored.file) await store.remove(stored.file);
    }
    expect(listFiles(path.join(dir, 'content'))).toEqual([]);
  });

  it('a file that grows, shrinks or is written in place while it is copied, or a failed write, stores nothing', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const proto = await fileHandleProto();
    const read = proto.read as unknown as PositionalIo;
    // the writer appends (or truncates) after the first block was read
    for (const change of ['grow', 'shrink'] as const) {
      const src = localFile(6 * 1024 * 1024);
      let changed = false;
      const spy = vi.spyOn(proto, 'read').mockImplementation(async function (this: fs.promises.FileHandle, buf: Buffer, off: number, len: number, pos: number) {
        const r = await read.call(this, buf, off, len, pos);
        if (!changed) {
          changed = true;
          if (change === 'grow') fs.appendFileSync(src.file, crypto.randomBytes(3 * 1024 * 1024));
          else fs.truncateSync(src.file, 2 * 1024 * 1024 + 5);
        }
        return r;
      } as unknown as typeof proto.read);
      await expect(store.put({ file: src.file })).rejects.toThrow(/^file changed while it was copied: .*big\.bin \(6291456 bytes before, (9437184|2097157) after\)/);
      spy.mockRestore();
    }
    // written in place, at the same size: a copy of neither version
    {
      const src = localFile(6 * 1024 * 1024);
      const past = new Date(Date.now() - 60_000);
      fs.utimesSync(src.file, past, past);
      let changed = false;
      const spy = vi.spyOn(proto, 'read').mockImplementation(async function (this: fs.promises.FileHandle, buf: Buffer, off: number, len: number, pos: number) {
        const r = await read.call(this, buf, off, len, pos);
        if (!changed) {
          changed = true;
          const fd = fs.openSync(src.file, 'r+');
          fs.writeSync(fd, crypto.randomBytes(4096), 0, 4096, 5 * 1024 * 1024);
          fs.closeSync(fd);
        }
        return r;
      } as unknown as typeof proto.read);
      await expect(store.put({ file: src.file })).rejects.toThrow(/^file changed while it was copied: .*\(6291456 bytes before, 6291456 after\)/);
      spy.mockRestore();
    }
    vi.spyOn(proto, 'write').mockRejectedValue(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    await expect(store.put({ file: localFile(3 * 1024 * 1024).file })).rejects.toThrow(/ENOSPC/);
    expect(listFiles(path.join(dir, 'content'))).toEqual([]);
  });
  it('a file written in place early in its copy stops the copy at the next background sync, not at its end', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const proto = await fileHandleProto();
    const read = proto.read as unknown as PositionalIo;
    const src = localFile(96 * 1024 * 1024);
    let asked = 0;
    let changed = false;
    vi.spyOn(proto, 'read').mockImplementation(async function (this: fs.promises.FileHandle, buf: Buffer, off: number, len: number, pos: number) {
      const r = await read.call(this, buf, off, len, pos);
      asked += len;
      if (!changed) {
        changed = true;
        const fd = fs.openSync(src.file, 'r+');
        fs.writeSync(fd, crypto.randomBytes(4096), 0, 4096, 0);
        fs.closeSync(fd);
      }
      return r;
    } as unknown as typeof proto.read);
    await expect(store.put({ file: src.file })).rejects.toThrow(/^file changed while it was copied/);
    // the first sync comes after 32 MB; the reads already under way then end too
    expect(asked).toBeLessThan(48 * 1024 * 1024);
    expect(listFiles(path.join(dir, 'content'))).toEqual([]);
  });
});

describe('content store: files stored ahead of their put', () => {
  afterEach(() => vi.restoreAllMocks());

  /** A file of `size` random bytes dated a minute back (it arrived whole), and the version it settles with. */
  function wholeFile(size: number, name = 'export.bin'): { file: string; bytes: Buffer; sha256: string; past: Date; version: { size: number; mtimeMs: number } } {
    const bytes = crypto.randomBytes(size);
    const file = path.join(tempDir(), name);
    fs.writeFileSync(file, bytes);
    const past = new Date(Date.now() - 60_000);
    fs.utimesSync(file, past, past);
    const st = fs.statSync(file);
    return { file, bytes, sha256: crypto.createHash('sha256').update(bytes).digest('hex'), past, version: { size: st.size, mtimeMs: st.mtimeMs } };
  }

  it('the put of the version stored ahead takes that copy: the file is read once, byte for byte, and no temp file is left', async () => {
    const proto = await fileHandleProto();
    const read = vi.spyOn(proto, 'read');
    const dir = tempDir();
    const store = new ContentStore(dir);
    const src = wholeFile(STORE_AHEAD_MIN_BYTES + 4321);
    expect(store.storeAhead({ file: src.file, version: src.version })).toBe(true);
    // asked again for the same version (another event): nothing more is started
    expect(store.storeAhead({ file: src.file, version: src.version })).toBe(false);
    const stored = await store.put({ file: src.file, version: src.version });
    expect(stored).toMatchObject({ size: src.bytes.length, sha256: src.sha256 });
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(src.bytes)).toBe(true);
    expect(store.aheadCounts).toEqual({ started: 1, used: 1, dropped: 0 });
    expect(store.aheadCount).toBe(0);
    const bytesAsked = read.mock.calls.reduce((n, c) => n + ((c as unknown[])[2] as number), 0);
    expect(bytesAsked).toBeLessThan(src.bytes.length + 5 * 1024 * 1024);
    expect(listFiles(path.join(dir, 'content/tmp'))).toEqual([]);
  });

  it('a file written after its copy began, even at the same size and time, is copied afresh: the put stores it as it is now', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const src = wholeFile(STORE_AHEAD_MIN_BYTES + 1);
    expect(store.storeAhead({ file: src.file, version: src.version })).toBe(true);
    await waitFor(() => listFiles(path.join(dir, 'content/tmp')).length === 1 && store.aheadCount === 1, 'the copy under way');
    // a writer rewrites the file in place and sets its time back (as a tool keeping times does): only the
    // change time tells, and the copy stored ahead must not be what is queued
    const later = crypto.randomBytes(64 * 1024);
    const fd = fs.openSync(src.file, 'r+');
    fs.writeSync(fd, later, 0, later.length, 1024);
    fs.closeSync(fd);
    fs.utimesSync(src.file, src.past, src.past);
    expect(fs.statSync(src.file).mtimeMs).toBe(src.version.mtimeMs);
    const now = Buffer.concat([src.bytes.subarray(0, 1024), later, src.bytes.subarray(1024 + later.length)]);
    const stored = await store.put({ file: src.file, version: src.version });
    expect(stored.sha256).toBe(crypto.createHash('sha256').update(now).digest('hex'));
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(now)).toBe(true);
    expect(store.aheadCounts).toEqual({ started: 1, used: 0, dropped: 1 });
    await waitFor(() => listFiles(path.join(dir, 'content/tmp')).length === 0, 'the stale copy removed');
  });

  it('a file that grew after its copy began: the copy of the old version is dropped, the new version stored ahead and used', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const src = wholeFile(STORE_AHEAD_MIN_BYTES + 7);
    expect(store.storeAhead({ file: src.file, version: src.version })).toBe(true);
    const more = crypto.randomBytes(1000);
    fs.appendFileSync(src.file, more);
    const st = fs.statSync(src.file);
    const version = { size: st.size, mtimeMs: st.mtimeMs };
    expect(store.storeAhead({ file: src.file, version })).toBe(true);
    const stored = await store.put({ file: src.file, version });
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(Buffer.concat([src.bytes, more]))).toBe(true);
    expect(store.aheadCounts).toEqual({ started: 2, used: 1, dropped: 1 });
    await waitFor(() => listFiles(path.join(dir, 'content/tmp')).length === 0, 'the old copy removed');
  });

  it('the put of a file changed after it settled still fails as it did, and the copy stored ahead is removed', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const src = wholeFile(STORE_AHEAD_MIN_BYTES + 3);
    expect(store.storeAhead({ file: src.file, version: src.version })).toBe(true);
    fs.utimesSync(src.file, new Date(), new Date());
    await expect(store.put({ file: src.file, version: src.version })).rejects.toThrow(/^file changed after it settled/);
    const gone = wholeFile(STORE_AHEAD_MIN_BYTES + 5, 'gone.bin');
    expect(store.storeAhead({ file: gone.file, version: gone.version })).toBe(true);
    fs.rmSync(gone.file);
    await expect(store.put({ file: gone.file, version: gone.version })).rejects.toThrow(/ENOENT/);
    await waitFor(() => store.aheadCount === 0 && listFiles(path.join(dir, 'content/tmp')).length === 0, 'both copies removed');
    expect(listFiles(path.join(dir, 'content'))).toEqual([]);
    expect(store.aheadCounts).toMatchObject({ started: 2, used: 0 });
  });

  it('small files are not stored ahead, two large ones at most at once, and copies never taken are dropped', async () => {
    const dir = tempDir();
    const store = new ContentStore(dir);
    const small = wholeFile(STORE_AHEAD_MIN_BYTES - 1, 'small.bin');
    expect(store.storeAhead({ file: small.file, version: small.version })).toBe(false);
    const files = [wholeFile(STORE_AHEAD_MIN_BYTES, 'a.bin'), wholeFile(STORE_AHEAD_MIN_BYTES, 'b.bin'), wholeFile(STORE_AHEAD_MIN_BYTES, 'c.bin')];
    expect(files.map((f) => store.storeAhead({ file: f.file, version: f.version }))).toEqual([true, true, false]);
    expect(store.aheadCount).toBe(2);
    // the engine stops: the copies go, whether they had ended or not
    store.dropAllAhead();
    expect(store.aheadCount).toBe(0);
    await waitFor(() => listFiles(path.join(dir, 'content/tmp')).length === 0, 'the copies removed');
    // the third, not stored ahead, is copied by its put as before
    const stored = await store.put({ file: files[2].file, version: files[2].version });
    expect(stored.sha256).toBe(files[2].sha256);
    expect(store.aheadCounts).toEqual({ started: 2, used: 0, dropped: 2 });
  });
});
