// The remote upload destination (FTP, SFTP): each item goes to a partial name named after its idempotency key,
// its size on the server is checked, and only then it is renamed to its final name (honouring onCollision),
// so a reader never sees a half file and a retry replaces its own partial.
import crypto from 'node:crypto';
import { Transform } from 'node:stream';
import { deadLetter, delivered, errorMessage, retryLater, suffixedName, type CheckResult, type DeliveryOutcome, type Destination, type DestinationContext, type OutgoingItem } from '../contract.ts';
import { posix, remoteContained, remoteFolder } from './paths.ts';
import type { RemoteFs, RemoteSession } from './protocol.ts';
import type { RemoteDestinationConfig } from './schemas.ts';
import { SessionPool } from './session-pool.ts';
import { stallGuard, StallError } from './stall-guard.ts';

export class RemoteDestination implements Destination {
  private readonly cfg: RemoteDestinationConfig;
  private readonly fs: RemoteFs;
  private readonly pool: SessionPool;
  private readonly root: string;
  readonly concurrency: number;
  /** Partial files a failed upload could not remove (the server was gone): removed on the next chance. */
  private readonly leftovers = new Set<string>();

  constructor(cfg: RemoteDestinationConfig, fs: RemoteFs) {
    this.cfg = cfg;
    this.fs = fs;
    this.pool = new SessionPool(fs, cfg.maxConnections);
    this.concurrency = cfg.maxConnections;
    this.root = remoteFolder(cfg.path);
  }

  async prepare(): Promise<void> {
    await this.fs.load?.();
  }

  async check(): Promise<CheckResult> {
    const pool = new SessionPool(this.fs, 1);
    const probe = posix.join(this.root, `.ferry-check-${crypto.randomBytes(6).toString('hex')}.partial`);
    let probeSent = false;
    try {
      await pool.use(async (s) => {
        await s.mkdirp(this.root);
        const { Readable } = await import('node:stream');
        probeSent = true;
        await s.upload(Readable.from([Buffer.from('ferry')]), probe);
        await s.remove(probe);
        probeSent = false;
      });
      const note = this.fs.checkNote?.();
      return { ok: true, message: `${this.fs.label}${this.root} is writable${note ? `; ${note}` : ''}` };
    } catch (err) {
      // a server may create the file before the transfer fails (e.g. on the data connection's TLS)
      if (probeSent) await pool.use(async (s) => void ((await s.stat(probe)) && (await s.remove(probe)))).catch(() => undefined);
      return { ok: false, message: this.fs.classify(err, this.root).reason };
    } finally {
      await pool.close();
    }
  }

  async send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome> {
    const rel = this.cfg.keepSubfolders ? String(item.attributes.relativePath ?? item.name) : item.name;
    let target: string;
    try {
      target = remoteContained(this.root, rel);
    } catch (err) {
      return deadLetter(errorMessage(err));
    }
    const dir = posix.dirname(target);
    // Named after the idempotency key: a retry (even after a restart) reuses, and so replaces, the same partial.
    const partial = posix.join(dir, `${posix.basename(target)}.${item.idempotencyKey.slice(0, 12)}.partial`);
    try {
      const final = await this.pool.use(async (s) => {
        await this.removeLeftovers(s);
        await s.mkdirp(dir);
        await this.upload(s, item, partial, ctx);
        const st = await s.stat(partial);
        if (!st || st.size !== item.size) {
          throw Object.assign(new Error(`the server holds ${st?.size ?? 'no'} bytes of ${partial}, expected ${item.size}`), { sizeMismatch: true });
        }
        return this.place(s, partial, target);
      });
      if (final === undefined) return deadLetter(`${this.fs.label}${target} exists and onCollision is "fail"`);
      return delivered(`${this.fs.label}${final}`);
    } catch (err) {
      await this.removePartial(partial);
      if (ctx.signal.aborted) return retryLater('upload interrupted (Ferry is stopping)');
      const f = this.fs.classify(err, target);
      const reason = `uploading ${target} failed: ${f.reason}`;
      return f.kind === 'permission' ? deadLetter(reason) : retryLater(reason);
    }
  }

  private async upload(s: RemoteSession, item: OutgoingItem, partial: string, ctx: DestinationContext): Promise<void> {
    const source = item.openBody();
    let stalled: StallError | undefined;
    const guard = stallGuard(this.cfg.timeoutMs, () => {
      stalled = new StallError(`no progress for ${this.cfg.timeoutMs} ms uploading ${partial}`);
      body.destroy(stalled);
      void s.close();
    });
    // progress is watched in a pass-through (a 'data' listener on the body would start it flowing too early)
    const body = new Transform({
      transform(chunk, _enc, done) {
        guard.tick();
        done(null, chunk);
      },
    });
    source.on('error', (err) => body.destroy(err));
    source.pipe(body);
    const onAbort = () => void s.close();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await s.upload(body, partial);
    } catch (err) {
      await s.close(); // never reuse a connection whose transfer was cut
      if (stalled) throw stalled; // closing the stalled connection fails the upload with the client's words, not the cause
      // the client's own idle timeout (also timeoutMs) may notice the same stall first: the same cause, told alike
      if (this.fs.classify(err, partial).kind === 'timeout') throw new StallError(`no progress for ${this.cfg.timeoutMs} ms uploading ${partial}: ${errorMessage(err)}`);
      throw err;
    } finally {
      guard.stop();
      ctx.signal.removeEventListener('abort', onAbort);
      source.destroy();
      body.destroy();
    }
  }

  /** Renames the verified partial to its final name, honouring onCollision; undefined: "fail" and taken. */
  private async place(s: RemoteSession, partial: string, target: string): Promise<string | undefined> {
    if (this.cfg.onCollision === 'overwrite') {
      if (await s.stat(target)) await s.remove(target);
      await s.rename(partial, target);
      return target;
    }
    for (let n = 0; n < 1000; n++) {
      const candidate = n === 0 ? target : posix.join(posix.dirname(target), suffixedName(posix.basename(target), n));
      if (await s.stat(candidate)) {
        if (this.cfg.onCollision === 'fail') {
          await s.remove(partial);
          return undefined;
        }
        continue;
      }
      await s.rename(partial, candidate);
      return candidate;
    }
    throw new Error(`no free name for ${target}`);
  }

  private async removePartial(partial: string): Promise<void> {
    try {
      await this.pool.use(async (s) => {
        if (await s.stat(partial)) await s.remove(partial);
      });
      this.leftovers.delete(partial);
    } catch {
      this.leftovers.add(partial);
    }
  }

  private async removeLeftovers(s: RemoteSession): Promise<void> {
    for (const p of [...this.leftovers]) {
      try {
        if (await s.stat(p)) await s.remove(p);
        this.leftovers.delete(p);
      } catch (err) {
        if (this.fs.classify(err).broken) throw err;
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
