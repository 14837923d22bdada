// Reading and copying local files through a few reused blocks. A fresh 1 MB buffer per read made V8 answer
// every few dozen MB with a full collection (under Ferry's tight heap: 28 full collections per GB, a quarter
// of a large copy's time); reused blocks allocate nothing while the data flows.
import crypto from 'node:crypto';
import fs from 'node:fs';

/** One read or write: large enough for few system calls, small enough to stay in the CPU's cache while hashed. */
export const BLOCK_BYTES = 1024 * 1024;
/** Blocks in flight: reads run ahead while the main thread hashes and the thread pool writes. */
const BLOCKS = 4;

/** Fills `buf` from `position` (a read may return less than asked before the end); the bytes read. */
async function readBlock(handle: fs.promises.FileHandle, buf: Buffer, position: number): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const { bytesRead } = await handle.read(buf, n, buf.length - n, position + n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

/** Writes all of `buf` at `position`, continuing a short write where it stopped. */
async function writeBlock(handle: fs.promises.FileHandle, buf: Buffer, position: number): Promise<void> {
  let n = 0;
  while (n < buf.length) {
    const { bytesWritten } = await handle.write(buf, n, buf.length - n, position + n);
    if (bytesWritten === 0) throw new Error('the disk accepted no more bytes (short write)');
    n += bytesWritten;
  }
}

export interface BlockCopyOptions {
  /** Syncs written data in the background every this many bytes, so the final fsync has little left. */
  syncEveryBytes?: number;
  /**
   * Called at each background sync (so every syncEveryBytes): a rejection ends the copy with its error. The
   * store checks the source did not change meanwhile, so a copy that cannot be used stops early.
   */
  check?: () => Promise<void>;
}

/**
 * Reads a file from its start to its end in order, handing each block to `use` (which may return a promise:
 * the block is reused once it settles). Reads run ahead of `use` by up to three blocks. `use` receives views
 * of reused memory: it must not keep them.
 */
async function eachBlock(handle: fs.promises.FileHandle, use: (block: Buffer, position: number) => void | Promise<void>): Promise<number> {
  const free: Buffer[] = Array.from({ length: BLOCKS }, () => Buffer.allocUnsafeSlow(BLOCK_BYTES));
  const reads: Array<Promise<{ buf: Buffer; n: number; position: number }>> = [];
  const pending = new Set<Promise<void>>();
  let next = 0;
  let ended = false;
  let total = 0;
  let failure: unknown;
  const readAhead = () => {
    while (!ended && free.length > 0 && reads.length < BLOCKS - 1) {
      const buf = free.pop()!;
      const position = next;
      next += BLOCK_BYTES;
      reads.push(readBlock(handle, buf, position).then((n) => ({ buf, n, position })));
    }
  };
  try {
    readAhead();
    while (reads.length > 0) {
      const { buf, n, position } = await reads.shift()!;
      if (failure) throw failure;
      // a read queued beyond the end found bytes: the file grew while it was read (its copy would have a gap)
      if (ended && n > 0) throw new Error('the file grew while it was read');
      if (n < BLOCK_BYTES) ended = true; // the end of the file (reads queued beyond it return nothing)
      if (n === 0) {
        free.push(buf);
        continue;
      }
      total += n;
      const used = use(n === BLOCK_BYTES ? buf : buf.subarray(0, n), position);
      if (used) {
        const p: Promise<void> = used.then(
          () => {
            pending.delete(p);
            free.push(buf);
            readAhead();
          },
          (err: unknown) => {
            pending.delete(p);
            failure ??= err;
          },
        );
        pending.add(p);
      } else free.push(buf);
      readAhead();
      if (reads.length === 0 && !ended && pending.size > 0) await Promise.race(pending);
      if (failure) throw failure;
    }
    await Promise.all(pending);
    if (failure) throw failure;
    return total;
  } finally {
    // nothing may still use a block, nor a read still fill one, when the caller closes its files
    await Promise.allSettled([...reads, ...pending]);
  }
}

/**
 * Copies a file into another in one pass: each block read is hashed on this thread while the thread pool
 * writes it at the same offset, and the next blocks are read meanwhile. Returns the copy's sha256 and length.
 */
export async function copyHashing(src: fs.promises.FileHandle, dst: fs.promises.FileHandle, opts: BlockCopyOptions = {}): Promise<{ sha256: string; bytes: number }> {
  const hash = crypto.createHash('sha256');
  const syncEvery = opts.syncEveryBytes ?? Infinity;
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  let syncError: unknown;
  const bytes = await eachBlock(src, (block, position) => {
    if (syncError) throw syncError;
    const written = writeBlock(dst, block, position);
    hash.update(block); // while the thread pool writes the same bytes
    unsynced += block.length;
    if (unsynced >= syncEvery && !syncing) {
      unsynced = 0;
      // after a failed fsync the kernel may have dropped the pages, so a later fsync proves nothing: fail
      syncing = written.then(() => Promise.all([dst.datasync(), opts.check?.()])).then(
        () => void (syncing = undefined),
        (err: unknown) => void ((syncError ??= err), (syncing = undefined)),
      );
    }
    return written;
  }).finally(() => syncing);
  if (syncError) throw syncError;
  return { sha256: hash.digest('hex'), bytes };
}

/** The sha256 (hex) of a file's content and its length, read through reused blocks. */
export async function hashFile(handle: fs.promises.FileHandle): Promise<{ sha256: string; bytes: number }> {
  const hash = crypto.createHash('sha256');
  const bytes = await eachBlock(handle, (block) => void hash.update(block));
  return { sha256: hash.digest('hex'), bytes };
}

/** Blocks a sequential read holds: the one the consumer has, and two read ahead of it. */
const READ_RING = 3;

/**
 * A stored body's `size` bytes as blocks read into three reused buffers, two reads ahead of the consumer.
 * Sending a large file through fresh buffers (a file stream's) cost about twice the CPU of the send itself
 * (a fresh 1 MB buffer per read: page faults, then collections); these allocate nothing while the data flows.
 * A block is the consumer's only until it asks for the next one: it must be written out (or copied) by then,
 * as a socket writer that awaits each write's drain before pulling again does.
 */
export async function* readBlocks(file: string, size: number): AsyncGenerator<Buffer, void, undefined> {
  const handle = await fs.promises.open(file, 'r');
  const ring = Array.from({ length: Math.min(READ_RING, Math.ceil(size / BLOCK_BYTES)) }, () => Buffer.allocUnsafeSlow(BLOCK_BYTES));
  const reads: Array<Promise<{ buf: Buffer; n: number; want: number }>> = [];
  let issued = 0;
  let next = 0;
  try {
    for (let done = 0; done < size; ) {
      // the ring's other buffers are free: the consumer gave back the block before last when it asked for this one
      while (next < size && (reads.length < ring.length - 1 || reads.length === 0)) {
        const buf = ring[issued++ % ring.length];
        const want = Math.min(BLOCK_BYTES, size - next);
        reads.push(readBlock(handle, want === BLOCK_BYTES ? buf : buf.subarray(0, want), next).then((n) => ({ buf, n, want })));
        next += want;
      }
      const { buf, n, want } = await reads.shift()!;
      if (n < want) throw new Error(`the stored body ${file} ends after ${done + n} of its ${size} bytes`);
      done += n;
      yield n === BLOCK_BYTES ? buf : buf.subarray(0, n);
    }
  } finally {
    // no read may still fill a buffer when the file closes
    await Promise.allSettled(reads);
    await handle.close();
  }
}
