// Folder destination: atomic writes (temp name in the target folder, fsync, rename, fsync of the folder),
// sub-folders kept, an existing file never overwritten unless configured. A body the engine stores as a file
// is hard-linked instead of copied when the target is on the same volume.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  containedPath,
  deadLetter,
  delivered,
  errorMessage,
  retryLater,
  suffixedName,
  type CheckResult,
  type DeliveryOutcome,
  type Destination,
  type OutgoingItem,
} from '../contract.ts';
import type { FolderDestinationConfig } from './schema.ts';

export class FolderDestination implements Destination {
  private readonly cfg: FolderDestinationConfig;
  private readonly root: string;
  readonly concurrency = 4;

  constructor(cfg: FolderDestinationConfig) {
    this.cfg = cfg;
    this.root = path.resolve(cfg.path);
  }

  async check(): Promise<CheckResult> {
    try {
      await fs.promises.mkdir(this.root, { recursive: true });
      const probe = path.join(this.root, `.ferry-check-${crypto.randomUUID()}`);
      await fs.promises.writeFile(probe, 'ferry');
      await fs.promises.rm(probe);
      return { ok: true, message: `folder ${this.root} is writable` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return { ok: false, message: `permission denied: cannot write into ${this.root}` };
      return { ok: false, message: errorMessage(err) };
    }
  }

  async send(item: OutgoingItem): Promise<DeliveryOutcome> {
    const rel = this.cfg.keepSubfolders ? String(item.attributes.relativePath ?? item.name) : item.name;
    let target: string;
    try {
      target = containedPath(this.root, rel);
    } catch (err) {
      return deadLetter(errorMessage(err));
    }
    const dir = path.dirname(target);
    const tmp = path.join(dir, `.${path.basename(target)}.${crypto.randomBytes(6).toString('hex')}.partial`);
    try {
      await fs.promises.mkdir(dir, { recursive: true });
      if (item.bodyFile) await this.linkOrCopy(item.bodyFile, tmp);
      else await this.write(item, tmp);
      const final = await this.place(tmp, target);
      if (final === undefined) {
        await fs.promises.rm(tmp, { force: true });
        return deadLetter(`${target} exists and onCollision is "fail"`);
      }
      await syncFolder(path.dirname(final));
      return delivered(final);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      const reason = `writing ${target} failed: ${errorMessage(err)}`;
      // a full disk or a missing network drive may come back; a permission problem usually needs an admin
      return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? deadLetter(reason) : retryLater(reason);
    }
  }

  /** Streams the body into the temp file and fsyncs it. */
  private async write(item: OutgoingItem, tmp: string): Promise<void> {
    const out = fs.createWriteStream(tmp, { flags: 'wx' });
    await pipeline(item.openBody(), out);
    await syncFile(tmp);
  }

  /**
   * A body the engine keeps as a file (already fsynced in the content store) gets a second name in the target
   * folder: a hard link writes no data, so a large file is not written (and fsynced) twice. The store's own name
   * stays until the engine removes it; the link stays when it does. When linking is impossible (another volume,
   * a file system without hard links, a share refusing them) the body is copied and fsynced.
   */
  private async linkOrCopy(bodyFile: string, tmp: string): Promise<void> {
    try {
      await fs.promises.link(bodyFile, tmp);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && !(await exists(bodyFile))) throw err; // the body itself is missing: copying cannot help
    }
    await fs.promises.copyFile(bodyFile, tmp, fs.constants.COPYFILE_EXCL | fs.constants.COPYFILE_FICLONE);
    await syncFile(tmp);
  }

  /** Moves the finished temp file to its final name, honouring onCollision. */
  private async place(tmp: string, target: string): Promise<string | undefined> {
    if (this.cfg.onCollision === 'overwrite') {
      await fs.promises.rename(tmp, target);
      // rename does nothing when both names are links to one file (the same body delivered again): drop tmp
      await fs.promises.rm(tmp, { force: true });
      return target;
    }
    for (let n = 0; n < 10_000; n++) {
      const candidate = n === 0 ? target : path.join(path.dirname(target), suffixedName(path.basename(target), n));
      try {
        // link fails with EEXIST instead of replacing, so a concurrent writer is never overwritten
        await fs.promises.link(tmp, candidate);
        await fs.promises.unlink(tmp);
        return candidate;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') {
          if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
            // file systems without hard links (FAT, some shares): check-then-rename
            if (await fs.promises.access(candidate).then(() => true, () => false)) {
              if (this.cfg.onCollision === 'fail') return undefined;
              continue;
            }
            await fs.promises.rename(tmp, candidate);
            return candidate;
          }
          throw err;
        }
        if (this.cfg.onCollision === 'fail') return undefined;
      }
    }
    throw new Error(`no free name for ${target}`);
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.promises.access(file).then(() => true, () => false);
}

async function syncFile(file: string): Promise<void> {
  const h = await fs.promises.open(file, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Makes a new name in a folder durable (the file's data is already synced). Windows cannot open folders for it;
 * some shares refuse it and a drop folder may be write-only: only an I/O error counts as a failed write.
 */
async function syncFolder(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const h = await fs.promises.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EIO') throw err;
  }
}
