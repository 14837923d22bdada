// Downloading one remote file for the source: small files into memory (checked against the listed size), large
// ones streamed straight into the engine's content store while the store reads them. Both are cut when they
// make no progress for timeoutMs, and a cut transfer's connection is never reused.
import { Transform, Writable, type Readable } from 'node:stream';
import { errorMessage, type NewItem } from '../contract.ts';
import { DownloadBody } from './download-body.ts';
import type { RemoteFs, RemoteSession } from './protocol.ts';
import { stallGuard, StallError } from './stall-guard.ts';

/** Bodies up to this size are read into memory (and stored inline by the engine); larger ones stream. */
export const SMALL_BODY = 256 * 1024;

/** Reads a small file whole; fails when it is not exactly the listed size. */
export async function downloadToMemory(fs: RemoteFs, s: RemoteSession, remote: string, size: number, timeoutMs: number): Promise<Buffer> {
  if (s.readSmall) {
    // the session watches its own small reads for stalls (one timer per connection, not per file)
    try {
      return await s.readSmall(remote, size);
    } catch (err) {
      // one request's failure (missing, denied, the size changed) leaves the connection usable (other transfers
      // may share it); a broken or stalled one is dropped
      const stalled = (err as { stalled?: unknown })?.stalled === true;
      if (stalled || fs.classify(err, remote).broken) await s.close();
      if (stalled) throw new StallError(`no progress for ${timeoutMs} ms downloading ${remote}`);
      throw err;
    }
  }
  const chunks: Buffer[] = [];
  let n = 0;
  let stalled = false;
  const guard = stallGuard(timeoutMs, () => {
    stalled = true;
    void s.close();
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      guard.tick();
      n += chunk.length;
      if (n > size) return done(new Error(`file grew beyond the listed ${size} bytes while downloading`));
      chunks.push(chunk);
      done();
    },
  });
  try {
    await s.download(remote, sink);
  } catch (err) {
    stalled ||= s.closed;
    await s.close(); // a cut transfer leaves the connection in an unknown state: never reuse it
    if (stalled) throw new StallError(`no progress for ${timeoutMs} ms downloading ${remote}: ${errorMessage(err)}`);
    throw err;
  } finally {
    guard.stop();
  }
  if (n !== size) throw new Error(`downloaded ${n} bytes, the listing said ${size} (the file changed or the transfer was cut)`);
  return Buffer.concat(chunks, n);
}

/**
 * Streams one large file into a body handed to `take` (the content store drains it and checks its size) while the
 * transfer runs. When `take` answers that the body was not consumed, the transfer is cut; a transfer that failed
 * by itself throws its own error (it says more than the store's "stream ended early").
 */
export async function downloadStreaming(
  s: RemoteSession,
  remote: string,
  size: number,
  timeoutMs: number,
  take: (body: NewItem['body']) => Promise<boolean>,
): Promise<void> {
  const guard = stallGuard(timeoutMs, () => {
    body.destroy(new StallError(`no progress for ${timeoutMs} ms downloading ${remote}`));
    void s.close();
  });
  let body: Readable;
  let itemBody: NewItem['body'];
  let downloading: Promise<void>;
  if (s.downloadToBody) {
    const pooled = new DownloadBody(() => guard.tick());
    body = pooled;
    itemBody = { stream: pooled, size, recycle: pooled.recycle };
    downloading = s.downloadToBody(remote, pooled);
  } else {
    // one pass-through is both the download's target and the body the content store drains; it also
    // watches progress (a 'data' listener would start the body flowing before the store reads it)
    const passThrough = new Transform({
      highWaterMark: 1024 * 1024,
      transform(chunk, _enc, done) {
        guard.tick();
        done(null, chunk);
      },
    });
    body = passThrough;
    itemBody = { stream: passThrough, size };
    downloading = s.download(remote, passThrough);
  }
  let downloadError: unknown;
  const download = downloading.catch((err) => {
    downloadError = err;
    body.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  try {
    const taken = await take(itemBody);
    if (!taken && !downloadError) {
      // nothing drains the body any more: cut the transfer and drop this connection (its state is unknown)
      body.destroy();
      await download;
      await s.close();
      return;
    }
    await download;
    if (downloadError) {
      await s.close();
      throw downloadError;
    }
  } finally {
    guard.stop();
    if (!body.destroyed && !body.readableEnded) body.destroy();
  }
}
