// A downloaded body that reuses its memory. A large file read off a socket in fresh 64 KB buffers allocates its
// own size in short-lived memory, and V8 answers every 64 MB of it with a full collection (a 500 MB download:
// 20 of them, 0.2–0.35 s). Here the socket reads straight into 256 KB blocks; the content store hands each block
// back (`recycle`) once it is written, and the next reads land in it again.
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';
import { Readable, Writable } from 'node:stream';

/**
 * Small enough that a block is still in the CPU's cache when the store hashes it right after the reads that
 * filled it (`npm run bench remote`, 500 MB: 256 KB blocks 77–93% of lftp, 1 MB 68–73%, 128 KB 65–77%).
 */
const BLOCK_BYTES = 256 * 1024;
/** A block with less room than this is handed on: a read needs space to be worth a system call. */
const MIN_READ_BYTES = 64 * 1024;

export class DownloadBody extends Readable {
  /** Bytes received so far. */
  received = 0;
  /** Blocks allocated so far (the rest of the download reused them). */
  blocks = 0;
  private readonly free: Buffer[] = [];
  private readonly owned = new WeakSet<ArrayBufferLike>();
  private block?: Buffer;
  private filled = 0;
  private readonly wanted = new Set<() => void>();
  private readonly onBytes: (n: number) => void;

  constructor(onBytes: (n: number) => void = () => undefined) {
    // room for two blocks queued before the producer is asked to wait
    super({ highWaterMark: 2 * BLOCK_BYTES });
    this.onBytes = onBytes;
  }

  /** Where the next socket read lands: the free end of the current block. */
  readBuffer(): Buffer {
    if (!this.block) {
      this.block = this.free.pop() ?? this.allocate();
      this.filled = 0;
    }
    return this.block.subarray(this.filled);
  }

  /**
   * Counts `n` bytes just read into readBuffer(). False when the consumer has enough queued: the producer
   * pauses until `whenWanted` calls back.
   */
  wrote(n: number): boolean {
    if (n <= 0) return true;
    this.filled += n;
    this.received += n;
    this.onBytes(n);
    if (this.block!.length - this.filled < MIN_READ_BYTES) return this.handOn();
    return true;
  }

  /** Copies a chunk in (a producer that cannot read into readBuffer(), e.g. TLS); false as for wrote(). */
  copyIn(chunk: Buffer): boolean {
    let more = true;
    for (let at = 0; at < chunk.length; ) {
      const room = this.readBuffer();
      const n = chunk.copy(room, 0, at);
      at += n;
      more = this.wrote(n) && more;
    }
    return more;
  }

  /** The download is complete: hands on what is left and ends the stream. */
  finish(): void {
    this.handOn();
    this.push(null);
  }

  /** Calls back once the consumer wants more (after wrote()/copyIn() said false). */
  whenWanted(resume: () => void): void {
    this.wanted.add(resume);
  }

  /** The content store calls this with each chunk once it is on disk: its block is read into again. */
  readonly recycle = (chunk: Buffer): void => {
    if (this.owned.has(chunk.buffer) && this.free.length < 8) this.free.push(Buffer.from(chunk.buffer, 0, BLOCK_BYTES));
  };

  override _read(): void {
    const waiting = [...this.wanted];
    this.wanted.clear();
    for (const resume of waiting) resume();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.block = undefined;
    this.free.length = 0;
    this._read(); // a paused producer resumes and finds the body destroyed
    done(err);
  }

  private handOn(): boolean {
    const block = this.block;
    if (!block || this.filled === 0) return true;
    this.block = undefined;
    return this.push(block.subarray(0, this.filled));
  }

  private allocate(): Buffer {
    const block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
    this.owned.add(block.buffer);
    this.blocks++;
    return block;
  }
}

/**
 * An unconnected socket whose reads land in the body's blocks (Node's `onread`). It pauses while the body has
 * enough queued (paused, not stalled: basic-ftp's watchdog does not count that against the server), and is
 * destroyed when the body is.
 */
export function socketReadingInto(body: DownloadBody): Socket {
  const onread: OnReadOpts = {
    buffer: () => body.readBuffer(),
    callback: (n) => {
      if (body.destroyed) {
        socket.destroy(new Error('the download was abandoned'));
        return false;
      }
      if (body.wrote(n)) return true;
      socket.pause();
      body.whenWanted(() => socket.resume());
      return false;
    },
  };
  // `onread` is a documented Socket constructor option that @types/node only lists for net.connect()
  const socket = new Socket({ onread } as SocketConstructorOpts);
  cutWhenAbandoned(body, socket);
  return socket;
}

/** A body destroyed before its end was read (the store failed, the item was refused) cuts its transfer at once. */
function cutWhenAbandoned(body: DownloadBody, transfer: { destroy(err: Error): void }): void {
  body.once('close', () => {
    if (!body.readableEnded) transfer.destroy(new Error('the download was abandoned'));
  });
}

/** A stream target that copies each chunk into the body, waiting while the body has enough queued. */
export function writableInto(body: DownloadBody): Writable {
  const target = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (body.destroyed) return done(new Error('the download was abandoned'));
      if (body.copyIn(chunk)) done();
      else body.whenWanted(() => done());
    },
  });
  cutWhenAbandoned(body, target);
  return target;
}
