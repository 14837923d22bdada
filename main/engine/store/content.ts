// The content store: item bodies too large to sit in a SQLite row live here as files, written to a temp
// name, fsynced and renamed before the row that points at them commits. Small bodies stay inline.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import type { NewItem } from '../../../connectors/contract.ts';

/** Bodies up to this size are stored inline in the items table (one fsync for a whole intake batch). */
export const INLINE_MAX_BYTES = 256 * 1024;

export interface StoredBody {
  size: number;
  sha256: string;
  inline?: Buffer;
  /** File name relative to the content folder. */
  file?: string;
}

export class ContentStore {
  readonly dir: string;
  constructor(dataDir: string) {
    this.dir = path.join(dataDir, 'content');
    fs.mkdirSync(path.join(this.dir, 'tmp'), { recursive: true });
  }

  pathOf(file: string): string {
    return path.join(this.dir, file);
  }

  /** Stores a body durably; small ones come back inline, large ones as a fsynced file. */
  async put(body: NewItem['body']): Promise<StoredBody> {
    if ('bytes' in body) return this.putBytes(body.bytes);
    if ('file' in body) {
      const handle = await fs.promises.open(body.file, 'r');
      try {
        const { size } = await handle.stat();
        if (size <= INLINE_MAX_BYTES) {
          const bytes = await handle.readFile();
          return this.putBytes(bytes);
        }
        return await this.putStream(handle.createReadStream({ autoClose: false }), size);
      } finally {
        await handle.close();
      }
    }
    return this.putStream(body.stream, body.size);
  }

  private async putBytes(bytes: Buffer): Promise<StoredBody> {
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    if (bytes.length <= INLINE_MAX_BYTES) return { size: bytes.length, sha256, inline: bytes };
    const file = this.newName();
    const tmp = path.join(this.dir, 'tmp', path.basename(file));
    const handle = await fs.promises.open(tmp, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await this.commitFile(tmp, file);
    return { size: bytes.length, sha256, file };
  }

  private async putStream(stream: Readable, expectedSize?: number): Promise<StoredBody> {
    const file = this.newName();
    const tmp = path.join(this.dir, 'tmp', path.basename(file));
    const hash = crypto.createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const out = fs.createWriteStream(tmp, { flags: 'wx' });
    try {
      await pipeline(stream, counter, out);
      if (expectedSize !== undefined && size !== expectedSize) {
        throw new Error(`body was ${size} bytes, expected ${expectedSize} (the file changed or the transfer was cut)`);
      }
      const handle = await fs.promises.open(tmp, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    await this.commitFile(tmp, file);
    return { size, sha256: hash.digest('hex'), file };
  }

  private async commitFile(tmp: string, file: string): Promise<void> {
    const dest = this.pathOf(file);
    await fs.promises.mkdir(path.dirname(dest), { recursive: true });
    await fs.promises.rename(tmp, dest);
  }

  private newName(): string {
    const id = crypto.randomUUID();
    return `${id.slice(0, 2)}/${id}`;
  }

  async remove(file: string): Promise<void> {
    await fs.promises.rm(this.pathOf(file), { force: true });
  }

  /** Deletes files no row points at (left by a crash between fsync and commit) and stale temp files. */
  async collectGarbage(isReferenced: (file: string) => boolean, olderThanMs = 60_000): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    for (const sub of await fs.promises.readdir(this.dir)) {
      const subDir = path.join(this.dir, sub);
      for (const name of await fs.promises.readdir(subDir).catch(() => [] as string[])) {
        const rel = sub === 'tmp' ? undefined : `${sub}/${name}`;
        const full = path.join(subDir, name);
        const st = await fs.promises.stat(full).catch(() => undefined);
        if (!st || st.mtimeMs > cutoff) continue;
        if (rel === undefined || !isReferenced(rel)) {
          await fs.promises.rm(full, { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}
