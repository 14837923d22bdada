// A body stream that starts its download only when the content store first reads it: a batch of items
// handed to emit() costs nothing for the ones back pressure defers, and the download's own back pressure
// (imapflow fetches the next chunk only once the last one was taken) reaches the IMAP server.
import { Readable } from 'node:stream';

export class LazyDownload extends Readable {
  private readonly open: () => Promise<Readable>;
  private source?: Readable;
  private started = false;

  constructor(open: () => Promise<Readable>) {
    super({ highWaterMark: 1024 * 1024 });
    this.open = open;
  }

  override _read(): void {
    if (this.source) {
      this.source.resume();
      return;
    }
    if (this.started) return;
    this.started = true;
    this.open().then(
      (source) => {
        if (this.destroyed) {
          source.destroy();
          return;
        }
        this.source = source;
        source.on('data', (chunk: Buffer) => {
          if (!this.push(chunk)) source.pause();
        });
        source.once('end', () => this.push(null));
        source.once('error', (err) => this.destroy(err));
        source.once('close', () => {
          // closed before its end without an error: the download was cut
          if (!source.readableEnded && !this.destroyed) this.destroy(new Error('the download ended early'));
        });
      },
      (err: unknown) => this.destroy(err instanceof Error ? err : new Error(String(err))),
    );
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.source?.destroy();
    done(err);
  }
}

/** Reads a whole (small) stream into memory. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    chunks.push(c);
    n += c.length;
  }
  return Buffer.concat(chunks, n);
}
