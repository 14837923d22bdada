// Folder destination: atomic writes (temp name in the target folder, fsync, rename), sub-folders kept,
// an existing file never overwritten unless configured.
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
      const out = fs.createWriteStream(tmp, { flags: 'wx' });
      await pipeline(item.openBody(), out);
      const h = await fs.promises.open(tmp, 'r+');
      try {
        await h.sync();
      } finally {
        await h.close();
      }
      const final = await this.place(tmp, target);
      if (final === undefined) {
        await fs.promises.rm(tmp, { force: true });
        return deadLetter(`${target} exists and onCollision is "fail"`);
      }
      return delivered(final);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      const reason = `writing ${target} failed: ${errorMessage(err)}`;
      // a full disk or a missing network drive may come back; a permission problem usually needs an admin
      return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? deadLetter(reason) : retryLater(reason);
    }
  }

  /** Moves the finished temp file to its final name, honouring onCollision. */
  private async place(tmp: string, target: string): Promise<string | undefined> {
    if (this.cfg.onCollision === 'overwrite') {
      await fs.promises.rename(tmp, target);
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
