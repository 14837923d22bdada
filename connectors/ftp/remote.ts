// What FTP and SFTP have in common: a per-host connection pool, the scheduled remote-folder source (listing,
// completeness, streaming download, after-delivery on the server) and the upload-then-rename destination.
// The ftp and sftp connectors each supply a RemoteFs (how to connect, list, transfer, rename) and share this.
import crypto from 'node:crypto';
import path from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import picomatch from 'picomatch';
import { DownloadBody } from './download-body.ts';
import { z } from 'zod';
import {
  deadLetter,
  delivered,
  errorMessage,
  retryLater,
  sanitizeRelativePath,
  suffixedName,
  type CheckResult,
  type ConnectorLogger,
  type DeliveryOutcome,
  type Destination,
  type DestinationContext,
  type NewItem,
  type OutgoingItem,
  type SettledItem,
  type Source,
  type SourceContext,
  type SourceState,
} from '../contract.ts';

// ---------------------------------------------------------------- shared config pieces

const glob = z.string().min(1);
const remoteFolder = z
  .string()
  .min(1)
  .refine((s) => s.startsWith('/'), { error: (iss) => `expected an absolute remote path starting with "/", got ${JSON.stringify(iss.input)}` });

export const remoteAfterDeliverySchema = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('move'), to: remoteFolder.meta({ description: 'Remote folder the delivered file is renamed into (sub-folders kept; collisions get a suffix).' }) }),
    z.strictObject({ action: z.literal('delete') }),
    z.strictObject({ action: z.literal('keep') }),
  ], { error: (iss) => `expected { action: move, to: </remote/folder> } | { action: delete } | { action: keep }, got ${JSON.stringify((iss.input as any)?.action ?? iss.input)}` })
  .meta({ description: 'What happens to the remote file once its destination confirmed delivery.' });

/** Connection keys every remote connector has (host, port and credentials are added per protocol). */
export const connectionShape = {
  host: z.string().min(1).meta({ description: 'Server name or address.' }),
  username: z.string().min(1).meta({ description: 'Login name.' }),
  maxConnections: z.int().min(1).max(16).default(2).meta({ description: 'Connections kept to the server at once (each carries one transfer).' }),
  connectTimeoutMs: z.int().min(100).default(15_000).meta({ description: 'Time allowed to connect and log in.' }),
  timeoutMs: z.int().min(100).default(30_000).meta({ description: 'Time allowed without progress on a command or transfer; the connection is dropped and opened again.' }),
};

export const remoteSourceShape = {
  path: remoteFolder.meta({ description: 'Remote folder to take files from (absolute, e.g. /outgoing/orders).' }),
  include: z.array(glob).default(['**/*']).meta({ description: 'Globs (relative to path) of files to take.' }),
  exclude: z.array(glob).default([]).meta({ description: 'Globs of files to leave alone.' }),
  recursive: z.boolean().default(false).meta({ description: 'Look into sub-folders.' }),
  settleMs: z.int().min(0).default(5000).meta({
    description: 'A file is complete when two listings at least this far apart show the same size and time (0: take at first sight, for writers that use temp names).',
  }),
  readyMarker: z.string().includes('{name}', { error: 'expected a pattern containing {name}, e.g. "{name}.done"' }).optional().meta({
    description: 'Take a file only once a marker file exists, e.g. "{name}.done"; the marker goes with the file.',
  }),
  tempNames: z.array(glob).default(['*.part', '*.tmp', '~*', '*.partial']).meta({ description: 'Names of files still being written: never taken.' }),
  afterDelivery: remoteAfterDeliverySchema.default({ action: 'keep' }),
};

export const remoteDestinationShape = {
  path: remoteFolder.meta({ description: 'Remote folder to upload into (created when missing).' }),
  keepSubfolders: z.boolean().default(true).meta({ description: "Recreate the item's relative path under the folder." }),
  onCollision: z.enum(['suffix', 'overwrite', 'fail']).default('suffix').meta({ description: 'An existing file of the same name: "name (1).ext", replace it, or the item goes dead.' }),
};

export interface RemoteCommonConfig {
  host: string;
  username: string;
  maxConnections: number;
  connectTimeoutMs: number;
  timeoutMs: number;
}
export interface RemoteSourceConfig extends RemoteCommonConfig {
  path: string;
  include: string[];
  exclude: string[];
  recursive: boolean;
  settleMs: number;
  readyMarker?: string;
  tempNames: string[];
  afterDelivery: { action: 'move'; to: string } | { action: 'delete' } | { action: 'keep' };
}
export interface RemoteDestinationConfig extends RemoteCommonConfig {
  path: string;
  keepSubfolders: boolean;
  onCollision: 'suffix' | 'overwrite' | 'fail';
}

// ---------------------------------------------------------------- the protocol interface

export interface RemoteEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  size: number;
  /** Modification time in ms (0 when the server gives none). */
  mtimeMs: number;
  /** The server's own rendering of the time (LIST), so a change is seen even when it cannot be parsed. */
  rawTime: string;
}

/** One logged-in connection. Methods take absolute remote paths. */
export interface RemoteSession {
  readonly closed: boolean;
  list(dir: string): Promise<RemoteEntry[]>;
  /** Size and time of one file, or undefined when it does not exist. */
  stat(file: string): Promise<{ size: number; mtimeMs: number; type: RemoteEntry['type'] } | undefined>;
  /** A precise modification time when the protocol has a cheaper/better way than the listing (FTP MDTM). */
  preciseMtime?(file: string, listed: RemoteEntry): Promise<number>;
  download(file: string, into: Writable): Promise<void>;
  /** Downloads into a body that reuses its memory, then ends it (see download-body.ts); where offered, large files take this way. */
  downloadToBody?(file: string, body: DownloadBody): Promise<void>;
  /** Reads a whole small file of the listed size when the protocol has a quicker way than a stream (SFTP). */
  readSmall?(file: string, size: number): Promise<Buffer>;
  upload(from: Readable, file: string): Promise<void>;
  /** Renames; fails when the target exists (or replaces it: protocol-dependent, callers check first). */
  rename(from: string, to: string): Promise<void>;
  remove(file: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  close(): Promise<void>;
}

/** Why a remote operation failed, in the words `ferry check` prints, and whether retrying can help. */
export interface RemoteFailure {
  reason: string;
  /** The connection is unusable afterwards (drop, timeout): discard it. */
  broken: boolean;
  kind: 'unreachable' | 'auth' | 'hostkey' | 'tls' | 'permission' | 'missing' | 'timeout' | 'dropped' | 'other';
}

export interface RemoteFs {
  /** e.g. "sftp://ferry@files.example:22" (never with a password). */
  readonly label: string;
  connect(): Promise<RemoteSession>;
  classify(err: unknown, what?: string): RemoteFailure;
  /** Something `check` should add to an OK (e.g. an SFTP host key that is not pinned yet). */
  checkNote?(): string | undefined;
  /** Loads the protocol library (see Source.prepare). */
  load?(): Promise<unknown>;
  /**
   * Transfers one connection may carry at once (default 1: FTP runs one command at a time per connection; an
   * SFTP channel takes many requests in flight). The pool shares a connection only when all are open and busy.
   */
  readonly transfersPerConnection?: number;
}

// ---------------------------------------------------------------- pool

const IDLE_CLOSE_MS = 60_000;

/**
 * A tiny per-host pool: at most `max` sessions, each used by one caller at a time, or by up to
 * `fs.transfersPerConnection` callers when the protocol multiplexes (then only once all `max` are open and busy).
 */
export class SessionPool {
  private readonly fs: RemoteFs;
  private readonly max: number;
  private readonly shares: number;
  private readonly idle: RemoteSession[] = [];
  private readonly idleTimers = new Map<RemoteSession, NodeJS.Timeout>();
  /** Sessions in use and how many callers each one carries. */
  private readonly busy = new Map<RemoteSession, number>();
  private open = 0;
  private readonly waiters: Array<() => void> = [];
  private closing = false;

  constructor(fs: RemoteFs, max: number) {
    this.fs = fs;
    this.max = max;
    this.shares = Math.max(1, fs.transfersPerConnection ?? 1);
  }

  /** A session for one caller; `reused` when it was used before (it may have gone stale meanwhile). */
  private async acquire(): Promise<{ s: RemoteSession; reused: boolean }> {
    for (;;) {
      if (this.closing) throw new Error('connection pool is closed');
      while (this.idle.length > 0) {
        const s = this.idle.pop()!;
        clearTimeout(this.idleTimers.get(s));
        this.idleTimers.delete(s);
        if (!s.closed) {
          this.busy.set(s, 1);
          return { s, reused: true };
        }
        this.open--;
      }
      if (this.open < this.max) {
        this.open++;
        try {
          const s = await this.fs.connect();
          this.busy.set(s, 1);
          for (let i = 1; i < this.shares; i++) this.wakeOne(); // callers waiting for a share may take this one's
          return { s, reused: false };
        } catch (err) {
          this.open--;
          this.wakeOne();
          throw err;
        }
      }
      if (this.shares > 1) {
        let least: RemoteSession | undefined;
        for (const [s, n] of this.busy) if (!s.closed && n < this.shares && (!least || n < this.busy.get(least)!)) least = s;
        if (least) {
          this.busy.set(least, this.busy.get(least)! + 1);
          return { s: least, reused: true };
        }
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private release(s: RemoteSession, broken: boolean): void {
    const users = this.busy.get(s);
    if (users === undefined) {
      // already dropped by another caller sharing it
      this.wakeOne();
      return;
    }
    if (broken || s.closed || this.closing) {
      // the others sharing it fail on their own and find it gone
      this.busy.delete(s);
      this.open--;
      void s.close().catch(() => undefined);
    } else if (users > 1) {
      this.busy.set(s, users - 1);
    } else {
      this.busy.delete(s);
      this.idle.push(s);
      // servers drop idle logins after a while anyway: hang up first, politely
      const t = setTimeout(() => {
        this.idleTimers.delete(s);
        const i = this.idle.indexOf(s);
        if (i < 0) return;
        this.idle.splice(i, 1);
        this.open--;
        void s.close().catch(() => undefined);
      }, IDLE_CLOSE_MS);
      t.unref();
      this.idleTimers.set(s, t);
    }
    this.wakeOne();
  }

  private wakeOne(): void {
    this.waiters.shift()?.();
  }

  /** How many callers may run at once (connections × transfers each). */
  get capacity(): number {
    return this.max * this.shares;
  }

  /**
   * Runs fn on a session of its own (or a share of one). A connection that dropped or timed out is discarded;
   * when it was a reused (possibly stale) connection, fn runs once more on a fresh one.
   */
  async use<T>(fn: (s: RemoteSession) => Promise<T>, opts: { retryOnDrop?: boolean } = {}): Promise<T> {
    const retry = opts.retryOnDrop ?? true;
    for (let attempt = 0; ; attempt++) {
      const { s, reused } = await this.acquire();
      try {
        const v = await fn(s);
        this.release(s, false);
        return v;
      } catch (err) {
        const f = this.fs.classify(err);
        this.release(s, f.broken || s.closed);
        if (retry && attempt === 0 && reused && (f.broken || s.closed)) continue;
        throw err;
      }
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    const all = this.idle.splice(0);
    for (const t of this.idleTimers.values()) clearTimeout(t);
    this.idleTimers.clear();
    this.open -= all.length;
    while (this.waiters.length) this.wakeOne();
    await Promise.all(all.map((s) => s.close().catch(() => undefined)));
  }
}

// ---------------------------------------------------------------- helpers

export const posix = path.posix;

/** Joins a sanitised relative name under a remote folder; never escapes it. */
export function remoteContained(root: string, name: string): string {
  const rel = sanitizeRelativePath(name);
  if (!rel) throw new Error(`unusable file name ${JSON.stringify(name)}`);
  const base = posix.normalize(root.replace(/\/+$/, '') || '/');
  const full = posix.join(base, rel);
  if (full !== base && !full.startsWith(base === '/' ? '/' : `${base}/`)) throw new Error(`file name ${JSON.stringify(name)} escapes ${base}`);
  return full;
}

/** Fails a transfer that makes no progress for `ms` (the caller drops the connection). */
function stallGuard(ms: number, onStall: () => void): { tick(): void; stop(): void } {
  let last = Date.now();
  const t = setInterval(() => {
    if (Date.now() - last > ms) {
      clearInterval(t);
      onStall();
    }
  }, Math.min(1000, Math.max(50, Math.floor(ms / 4))));
  return { tick: () => (last = Date.now()), stop: () => clearInterval(t) };
}

class StallError extends Error {
  readonly code = 'ETIMEDOUT';
}

/** A failure this module diagnosed itself, already in check's words. */
export class RemoteProblem extends Error {
  readonly kind: RemoteFailure['kind'];
  constructor(kind: RemoteFailure['kind'], message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Bodies up to this size are read into memory (and stored inline by the engine); larger ones stream. */
const SMALL_BODY = 256 * 1024;
const EMIT_BATCH = 64;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}

// ---------------------------------------------------------------- source

interface Listed {
  rel: string;
  entry: RemoteEntry;
}
interface Observation {
  size: number;
  rawTime: string;
  since: number;
}
interface Taken {
  size: number;
  mtimeMs: number;
  rawTime?: string;
}

export class RemoteSource implements Source {
  private readonly cfg: RemoteSourceConfig;
  private readonly fs: RemoteFs;
  private readonly pool: SessionPool;
  private readonly log: ConnectorLogger;
  private readonly root: string;
  private readonly isIncluded: (rel: string) => boolean;
  private readonly isExcluded: (rel: string) => boolean;
  private readonly isTemp: (name: string) => boolean;
  private readonly isMarker?: (name: string) => boolean;
  /** The archive folder, relative to root, when it lies inside it: never taken from. */
  private readonly ignoredDir?: string;
  private readonly observed = new Map<string, Observation>();
  /** Files queued in their current size and time: not downloaded again (persisted as `taken:<rel>`). */
  private taken?: Map<string, Taken>;
  private state?: SourceState;
  private readonly backoff = new Map<string, { until: number; delay: number }>();
  private listingProblem?: string;

  constructor(cfg: RemoteSourceConfig, fs: RemoteFs, log: ConnectorLogger) {
    this.cfg = cfg;
    this.fs = fs;
    this.log = log;
    this.pool = new SessionPool(fs, cfg.maxConnections);
    this.root = posix.normalize(cfg.path.replace(/\/+$/, '') || '/');
    this.isIncluded = picomatch(cfg.include, { dot: false });
    this.isExcluded = cfg.exclude.length ? picomatch(cfg.exclude, { dot: true }) : () => false;
    this.isTemp = cfg.tempNames.length ? picomatch(cfg.tempNames, { dot: true }) : () => false;
    if (cfg.readyMarker) this.isMarker = picomatch(cfg.readyMarker.replace('{name}', '*'), { dot: true });
    if (cfg.afterDelivery.action === 'move') {
      const to = posix.normalize(cfg.afterDelivery.to.replace(/\/+$/, '') || '/');
      const rel = posix.relative(this.root, to);
      if (!rel.startsWith('..') && !posix.isAbsolute(rel)) this.ignoredDir = rel;
    }
  }

  private wants(rel: string): boolean {
    const name = posix.basename(rel);
    if (this.ignoredDir !== undefined && (this.ignoredDir === '' || rel === this.ignoredDir || rel.startsWith(`${this.ignoredDir}/`))) return false;
    if (this.isTemp(name) || this.isMarker?.(name)) return false;
    return this.isIncluded(rel) && !this.isExcluded(rel);
  }

  async prepare(): Promise<void> {
    await this.fs.load?.();
  }

  async check(): Promise<CheckResult> {
    const pool = new SessionPool(this.fs, 1);
    try {
      const n = await pool.use(async (s) => {
        const st = await s.stat(this.root);
        if (!st) throw new RemoteProblem('missing', `folder missing: ${this.fs.label}${this.root}`);
        if (st.type !== 'dir') throw new RemoteProblem('missing', `folder missing: ${this.fs.label}${this.root} is not a folder`);
        const entries = await s.list(this.root);
        if (this.cfg.afterDelivery.action === 'move') await s.mkdirp(this.cfg.afterDelivery.to);
        return entries.length;
      });
      const note = this.fs.checkNote?.();
      return { ok: true, message: `${this.fs.label}${this.root} is readable (${n} entries)${note ? `; ${note}` : ''}` };
    } catch (err) {
      return { ok: false, message: this.fs.classify(err, this.root).reason };
    } finally {
      await pool.close();
    }
  }

  /** Lists wanted files (and, with readyMarker, the marker names present). */
  private async walk(): Promise<{ files: Listed[]; markers: Set<string> }> {
    const files: Listed[] = [];
    const markers = new Set<string>();
    await this.pool.use(async (s) => {
      const visit = async (dir: string, relDir: string): Promise<void> => {
        let entries: RemoteEntry[];
        try {
          entries = await s.list(dir);
        } catch (err) {
          if (relDir === '') throw err;
          const f = this.fs.classify(err);
          if (f.broken) throw err;
          return; // a sub-folder removed or unreadable while walking
        }
        for (const e of entries) {
          if (e.name === '.' || e.name === '..' || sanitizeRelativePath(e.name) !== e.name) continue;
          const rel = relDir ? `${relDir}/${e.name}` : e.name;
          if (e.type === 'dir') {
            if (this.cfg.recursive && rel !== this.ignoredDir) await visit(posix.join(dir, e.name), rel);
          } else if (e.type === 'file') {
            if (this.isMarker?.(e.name)) markers.add(rel);
            else if (this.wants(rel)) files.push({ rel, entry: e });
          }
        }
      };
      await visit(this.root, '');
    });
    return { files, markers };
  }

  private markerRel(rel: string): string {
    const dir = posix.dirname(rel);
    const name = this.cfg.readyMarker!.replace('{name}', posix.basename(rel));
    return dir === '.' ? name : `${dir}/${name}`;
  }

  private loadTaken(ctx: SourceContext): Map<string, Taken> {
    this.state = ctx.state;
    if (!this.taken) {
      this.taken = new Map();
      for (const [key, value] of ctx.state.entries<Taken>('taken:')) this.taken.set(key.slice('taken:'.length), value);
    }
    return this.taken;
  }

  private isTaken(rel: string, e: RemoteEntry): boolean {
    const t = this.taken?.get(rel);
    return t !== undefined && t.size === e.size && (t.rawTime === undefined || t.rawTime === e.rawTime);
  }

  /** Records a listing; true when this size+time has been seen for settleMs. */
  private settled(rel: string, e: RemoteEntry, now: number): boolean {
    const prev = this.observed.get(rel);
    if (!prev || prev.size !== e.size || prev.rawTime !== e.rawTime) {
      this.observed.set(rel, { size: e.size, rawTime: e.rawTime, since: now });
      return this.cfg.settleMs === 0;
    }
    return now - prev.since >= this.cfg.settleMs;
  }

  private readyOf(listing: { files: Listed[]; markers: Set<string> }, now: number): Listed[] {
    const ready: Listed[] = [];
    const seen = new Set<string>();
    for (const f of listing.files) {
      seen.add(f.rel);
      if (this.isTaken(f.rel, f.entry)) {
        this.observed.delete(f.rel);
        continue;
      }
      const b = this.backoff.get(f.rel);
      if (b && b.until > now) continue;
      const ok = this.cfg.readyMarker ? listing.markers.has(this.markerRel(f.rel)) : this.settled(f.rel, f.entry, now);
      if (ok) ready.push(f);
    }
    for (const rel of this.observed.keys()) if (!seen.has(rel)) this.observed.delete(rel);
    return ready;
  }

  async scan(ctx: SourceContext): Promise<void> {
    this.loadTaken(ctx);
    let listing: { files: Listed[]; markers: Set<string> };
    try {
      listing = await this.walk();
      if (this.listingProblem) ctx.log.info({ server: this.fs.label }, `listing ${this.root} works again`);
      this.listingProblem = undefined;
      this.forgetVanished(ctx, listing.files);
    } catch (err) {
      // one clear line per new reason (a schedule every few seconds would otherwise repeat it each tick)
      const reason = `cannot list ${this.fs.label}${this.root}: ${this.fs.classify(err, this.root).reason}`;
      if (reason !== this.listingProblem) ctx.problem(reason);
      this.listingProblem = reason;
      return;
    }
    const ready = this.readyOf(listing, Date.now());
    await this.take(ctx, ready);
    // Files not yet proven complete: list once more after settleMs; what still changes waits for the next run.
    if (!this.cfg.readyMarker && this.cfg.settleMs > 0 && !ctx.signal.aborted) {
      const waiting = listing.files.filter((f) => this.observed.has(f.rel) && !ready.includes(f));
      if (waiting.length > 0) {
        await sleep(this.cfg.settleMs, ctx.signal);
        if (ctx.signal.aborted) return;
        const again = await this.walk().catch(() => undefined);
        if (again) await this.take(ctx, this.readyOf(again, Date.now()));
      }
    }
  }

  /** Drops the memory of taken files that are gone from the server (deleted or archived by someone else). */
  private forgetVanished(ctx: SourceContext, files: Listed[]): void {
    if (!this.taken || this.taken.size === 0) return;
    const present = new Set(files.map((f) => f.rel));
    for (const rel of [...this.taken.keys()]) {
      if (present.has(rel)) continue;
      this.taken.delete(rel);
      ctx.state.delete(`taken:${rel}`);
    }
  }

  private sourceKey(rel: string, mtimeMs: number): string {
    // keep: the path alone, so an unchanged file is never sent twice; move/delete: path and time, so the
    // same name dropped again later is a new delivery.
    return this.cfg.afterDelivery.action === 'keep' ? rel : `${rel}@${Math.trunc(mtimeMs)}`;
  }

  private noteFailure(ctx: SourceContext, rel: string, why: string): void {
    const prev = this.backoff.get(rel);
    const delay = Math.min((prev?.delay ?? 2500) * 2, 300_000);
    this.backoff.set(rel, { until: Date.now() + delay, delay });
    ctx.problem(`cannot take ${this.fs.label}${posix.join(this.root, rel)}: ${why}; retrying in ${Math.round(delay / 1000)} s`);
  }

  /** Downloads ready files over the pool's connections and queues them (small ones in batches). */
  private async take(ctx: SourceContext, files: Listed[]): Promise<void> {
    if (files.length === 0) return;
    let next = 0;
    let batch: Array<{ item: NewItem; f: Listed; mtimeMs: number }> = [];
    let stop = false;
    let flushing = Promise.resolve();

    const settle = (result: Awaited<ReturnType<SourceContext['emit']>>, entries: Array<{ item: NewItem; f: Listed; mtimeMs: number }>) => {
      // back pressure: what was not taken stays on the server and is offered again by a later run
      if (result.refused) stop = true;
      const deferred = new Set(result.deferred ?? (result.refused ? entries.map((e) => e.item) : []));
      const failed = new Map(result.failed.map((x) => [x.item, x.error]));
      for (const { item, f, mtimeMs } of entries) {
        if (deferred.has(item)) continue;
        const err = failed.get(item);
        if (err !== undefined) {
          this.noteFailure(ctx, f.rel, err);
          continue;
        }
        this.observed.delete(f.rel);
        this.backoff.delete(f.rel);
        this.taken!.set(f.rel, { size: f.entry.size, mtimeMs, rawTime: f.entry.rawTime });
      }
    };
    const flush = () => {
      const entries = batch;
      batch = [];
      if (entries.length === 0) return flushing;
      flushing = flushing.then(async () => {
        const result = await ctx.emit(entries.map((e) => e.item));
        settle(result, entries);
      });
      return flushing;
    };

    const worker = async () => {
      while (!stop && next < files.length && !ctx.signal.aborted) {
        if (!ctx.hasCapacity()) {
          stop = true;
          break;
        }
        const f = files[next++];
        const remote = posix.join(this.root, f.rel);
        try {
          await this.pool.use(async (s) => {
            const mtimeMs = s.preciseMtime ? await s.preciseMtime(remote, f.entry) : f.entry.mtimeMs;
            const attributes = {
              relativePath: f.rel,
              remotePath: remote,
              size: f.entry.size,
              mtime: new Date(mtimeMs).toISOString(),
              mtimeMs,
              rawTime: f.entry.rawTime,
              server: this.fs.label,
            };
            const base = {
              sourceKey: this.sourceKey(f.rel, mtimeMs),
              name: posix.basename(f.rel),
              attributes,
              checkpoint: { key: `taken:${f.rel}`, value: { size: f.entry.size, mtimeMs, rawTime: f.entry.rawTime } satisfies Taken },
            };
            if (f.entry.size <= SMALL_BODY) {
              const bytes = await this.downloadToMemory(s, remote, f.entry.size);
              batch.push({ item: { ...base, body: { bytes } }, f, mtimeMs });
              if (batch.length >= EMIT_BATCH) void flush();
            } else {
              await this.downloadStreaming(ctx, s, remote, f, base, mtimeMs, settle);
            }
          });
        } catch (err) {
          const failure = this.fs.classify(err, remote);
          if (failure.kind === 'missing') this.observed.delete(f.rel); // gone since the listing
          else this.noteFailure(ctx, f.rel, failure.reason);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.pool.capacity, files.length) }, worker));
    await flush();
  }

  private async downloadToMemory(s: RemoteSession, remote: string, size: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    let stalled = false;
    const guard = stallGuard(this.cfg.timeoutMs, () => {
      stalled = true;
      void s.close();
    });
    if (s.readSmall) {
      try {
        return await s.readSmall(remote, size);
      } catch (err) {
        // one request's failure (missing, denied, the size changed) leaves the connection usable (other transfers
        // may share it); a broken or stalled one is dropped
        if (stalled || this.fs.classify(err, remote).broken) await s.close();
        if (stalled) throw new StallError(`no progress for ${this.cfg.timeoutMs} ms downloading ${remote}: ${errorMessage(err)}`);
        throw err;
      } finally {
        guard.stop();
      }
    }
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
      if (stalled) throw new StallError(`no progress for ${this.cfg.timeoutMs} ms downloading ${remote}: ${errorMessage(err)}`);
      throw err;
    } finally {
      guard.stop();
    }
    if (n !== size) throw new Error(`downloaded ${n} bytes, the listing said ${size} (the file changed or the transfer was cut)`);
    return Buffer.concat(chunks, n);
  }

  /** Streams one large file straight into the engine's content store (which checks the size). */
  private async downloadStreaming(
    ctx: SourceContext,
    s: RemoteSession,
    remote: string,
    f: Listed,
    base: Omit<NewItem, 'body'>,
    mtimeMs: number,
    settle: (r: Awaited<ReturnType<SourceContext['emit']>>, e: Array<{ item: NewItem; f: Listed; mtimeMs: number }>) => void,
  ): Promise<void> {
    const guard = stallGuard(this.cfg.timeoutMs, () => {
      body.destroy(new StallError(`no progress for ${this.cfg.timeoutMs} ms downloading ${remote}`));
      void s.close();
    });
    let body: Readable;
    let item: NewItem;
    let downloading: Promise<void>;
    if (s.downloadToBody) {
      const pooled = new DownloadBody(() => guard.tick());
      body = pooled;
      item = { ...base, body: { stream: pooled, size: f.entry.size, recycle: pooled.recycle } };
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
      item = { ...base, body: { stream: passThrough, size: f.entry.size } };
      downloading = s.download(remote, passThrough);
    }
    let downloadError: unknown;
    const download = downloading.catch((err) => {
      downloadError = err;
      body.destroy(err instanceof Error ? err : new Error(String(err)));
    });
    try {
      const result = await ctx.emit([item]);
      const deferred = result.deferred ? result.deferred.includes(item) : result.refused !== undefined;
      if (deferred || (result.failed.length > 0 && !downloadError)) {
        // nothing drains the body any more: cut the transfer and drop this connection (its state is unknown)
        body.destroy();
        await download;
        await s.close();
        settle(result, [{ item, f, mtimeMs }]);
        return;
      }
      await download;
      if (downloadError) {
        await s.close();
        throw downloadError;
      }
      settle(result, [{ item, f, mtimeMs }]);
    } finally {
      guard.stop();
      if (!body.destroyed && !body.readableEnded) body.destroy();
    }
  }

  async afterDelivery(item: SettledItem): Promise<void> {
    const action = this.cfg.afterDelivery;
    const rel = String(item.attributes.relativePath ?? item.name);
    if (action.action === 'keep') return;
    const remote = remoteContained(this.root, rel);
    await this.pool.use(async (s) => {
      const st = await s.stat(remote);
      // Gone already (a repeat after a crash), or replaced by a newer file that is not the one delivered.
      const mtimeMs = Number(item.attributes.mtimeMs);
      const same = st && st.type === 'file' && st.size === Number(item.attributes.size) && (!st.mtimeMs || !mtimeMs || Math.abs(st.mtimeMs - mtimeMs) < 1000);
      if (same) {
        if (action.action === 'delete') await s.remove(remote);
        else await moveNoOverwrite(s, remote, remoteContained(action.to, rel));
        if (this.cfg.readyMarker) await s.remove(posix.join(this.root, this.markerRel(rel))).catch(() => undefined);
      }
    });
    this.taken?.delete(rel);
    this.state?.delete(`taken:${rel}`);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** Renames into the archive, never over an existing file (a " (n)" suffix instead). */
async function moveNoOverwrite(s: RemoteSession, from: string, to: string): Promise<string> {
  await s.mkdirp(posix.dirname(to));
  for (let n = 0; n < 1000; n++) {
    const target = n === 0 ? to : posix.join(posix.dirname(to), suffixedName(posix.basename(to), n));
    if (await s.stat(target)) continue;
    await s.rename(from, target);
    return target;
  }
  throw new Error(`no free name for ${to}`);
}

// ---------------------------------------------------------------- destination

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
    this.root = posix.normalize(cfg.path.replace(/\/+$/, '') || '/');
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
      throw stalled ?? err; // closing the stalled connection fails the upload with the client's words, not the cause
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

// ---------------------------------------------------------------- error words shared by both protocols

/** Network-level reasons common to FTP and SFTP (undefined when the error is not one of them). */
export function networkFailure(err: unknown, where: string): RemoteFailure | undefined {
  if (err instanceof RemoteProblem) return { kind: err.kind, broken: false, reason: err.message };
  const e = err as NodeJS.ErrnoException & { level?: string };
  const code = e?.code;
  const msg = errorMessage(err);
  switch (code) {
    case 'ECONNREFUSED':
      return { kind: 'unreachable', broken: true, reason: `host unreachable: connection refused by ${where}` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { kind: 'unreachable', broken: true, reason: `host unreachable: ${where} not found (DNS)` };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { kind: 'unreachable', broken: true, reason: `host unreachable: no route to ${where}` };
    case 'ECONNRESET':
    case 'EPIPE':
      return { kind: 'dropped', broken: true, reason: `connection to ${where} dropped (${code})` };
    case 'ETIMEDOUT':
      return { kind: 'timeout', broken: true, reason: `timed out talking to ${where}: ${msg}` };
    default:
      return undefined;
  }
}
