// Folder source: takes a file only once it is complete (size and mtime unchanged for settleMs across two
// observations, or its ready marker exists), queues it, and moves/deletes it only after delivery.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { watch as chokidarWatch } from 'chokidar';
import {
  containedPath,
  errorMessage,
  networkFileSystem,
  suffixedName,
  type CheckResult,
  type ConnectorEnv,
  type DryRunFile,
  type DryRunOptions,
  type DryRunResult,
  type NewItem,
  type SettledItem,
  type Source,
  type SourceContext,
} from '../contract.ts';
import type { FolderSourceConfig } from './schema.ts';
import { watchNative } from './native-watch.ts';
import { fileOps, type FileOps } from './file-ops.ts';

interface Observation {
  size: number;
  mtimeMs: number;
  /** When this size+mtime was first seen. */
  since: number;
}

interface Taken {
  size: number;
  mtimeMs: number;
  /** keep mode: hash of the content last queued, so a touched but unchanged file is not sent again. */
  sha256?: string;
}

const TAKE_CHUNK = 200;
/** On a local disk, files up to this size are read right when taken (one synchronous read). */
const SMALL_BODY = 256 * 1024;

export class FolderSource implements Source {
  private readonly cfg: FolderSourceConfig;
  private readonly root: string;
  private readonly isIncluded: (rel: string) => boolean;
  private readonly isExcluded: (rel: string) => boolean;
  private readonly markerMatcher?: (rel: string) => boolean;
  /** The move target when it lies inside the watched folder: never taken from. */
  private readonly ignoredDir?: string;
  private readonly observed = new Map<string, Observation>();
  /** Files queued (or recognised as already queued) in their current size+mtime: not read again. */
  private readonly taken = new Map<string, Taken>();
  /** Files that could not be read, with the time of the next try. */
  private readonly backoff = new Map<string, { until: number; delay: number }>();
  private taking = Promise.resolve();
  /** existingFiles: skip — the files found when the flow first started, never taken unless they change. */
  private readonly existing = new Map<string, Taken>();
  private baseline?: Promise<void>;
  /** Synchronous on a local disk, asynchronous on a share or with usePolling (chosen when watching/scanning starts). */
  private ops: FileOps = fileOps(false);
  private local = false;

  private chooseFileOps(): void {
    const local = !this.cfg.usePolling && networkFileSystem(this.root) === undefined;
    if (local === this.local) return;
    this.ops = fileOps(local);
    this.local = local;
  }

  constructor(cfg: FolderSourceConfig, _env: ConnectorEnv) {
    this.cfg = cfg;
    this.root = path.resolve(cfg.path);
    const opts = { dot: false };
    this.isIncluded = picomatch(cfg.include, opts);
    this.isExcluded = cfg.exclude.length ? picomatch(cfg.exclude, { dot: true }) : () => false;
    if (cfg.readyMarker) {
      const pattern = cfg.readyMarker.replace('{name}', '*');
      const m = picomatch(pattern, { dot: true, basename: true });
      this.markerMatcher = (rel) => m(path.posix.basename(rel));
    }
    if (cfg.afterDelivery.action === 'move') {
      const to = path.resolve(cfg.afterDelivery.to);
      const rel = path.relative(this.root, to);
      if (!rel.startsWith('..') && !path.isAbsolute(rel)) this.ignoredDir = rel.split(path.sep).join('/');
    }
  }

  /** Whether a file (relative path with "/") is one this source takes. */
  private wants(rel: string): boolean {
    if (this.ignoredDir !== undefined && (this.ignoredDir === '' || rel === this.ignoredDir || rel.startsWith(`${this.ignoredDir}/`))) return false;
    if (this.markerMatcher?.(rel)) return false;
    if (!this.cfg.recursive && rel.includes('/')) return false;
    if (this.cfg.depth !== undefined && rel.split('/').length - 1 > this.cfg.depth) return false;
    return this.isIncluded(rel) && !this.isExcluded(rel);
  }

  private rel(abs: string): string {
    return path.relative(this.root, abs).split(path.sep).join('/');
  }

  async check(): Promise<CheckResult> {
    try {
      const st = await fs.promises.stat(this.root);
      if (!st.isDirectory()) return { ok: false, message: `${this.root} is not a folder` };
      await fs.promises.access(this.root, fs.constants.R_OK | (this.cfg.afterDelivery.action === 'keep' ? 0 : fs.constants.W_OK));
      if (this.cfg.afterDelivery.action === 'move') {
        await fs.promises.mkdir(this.cfg.afterDelivery.to, { recursive: true });
        await fs.promises.access(this.cfg.afterDelivery.to, fs.constants.W_OK);
      }
      return { ok: true, message: `folder ${this.root} is readable` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: false, message: `folder missing: ${this.root}` };
      if (code === 'EACCES' || code === 'EPERM') return { ok: false, message: `permission denied: ${(err as NodeJS.ErrnoException).path ?? this.root}` };
      return { ok: false, message: errorMessage(err) };
    }
  }

  /**
   * What a scan would take now: files unchanged for settleMs (by their mtime, or by a second look after
   * waiting up to maxWaitMs) are complete; with a ready marker, a file is complete when its marker exists.
   */
  async dryRun(opts: DryRunOptions = {}): Promise<DryRunResult> {
    const maxFiles = opts.maxFiles ?? 1000;
    const maxWait = opts.maxWaitMs ?? 3000;
    try {
      const found = await this.walk();
      const rels = [...found.keys()].sort().slice(0, maxFiles);
      const files: DryRunFile[] = [];
      const recheck: string[] = [];
      const now = Date.now();
      for (const rel of rels) {
        const st = found.get(rel)!;
        const entry: DryRunFile = { relativePath: rel, size: st.size, mtime: new Date(st.mtimeMs).toISOString(), state: 'complete' };
        if (this.cfg.readyMarker) entry.state = (await this.markerPresent(rel)) ? 'complete' : 'writing';
        else if (now - st.mtimeMs < this.cfg.settleMs) recheck.push(rel);
        files.push(entry);
      }
      if (recheck.length > 0) {
        // Recently changed: look again once the settle time has passed (bounded), as a scan would.
        const newest = Math.max(...recheck.map((r) => found.get(r)!.mtimeMs));
        await sleep(Math.max(0, Math.min(maxWait, newest + this.cfg.settleMs - now)), opts.signal ?? new AbortController().signal);
        for (const rel of recheck) {
          const before = found.get(rel)!;
          const after = await fs.promises.stat(path.join(this.root, rel)).catch(() => undefined);
          const entry = files.find((f) => f.relativePath === rel)!;
          const unchanged = after !== undefined && after.size === before.size && after.mtimeMs === before.mtimeMs;
          entry.state = unchanged && Date.now() - before.mtimeMs >= this.cfg.settleMs ? 'complete' : 'writing';
          if (after) (entry.size = after.size), (entry.mtime = new Date(after.mtimeMs).toISOString());
        }
      }
      return { ok: true, files, truncated: found.size > maxFiles };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: false, message: `folder missing: ${this.root}` };
      if (code === 'EACCES' || code === 'EPERM') return { ok: false, message: `permission denied: ${this.root}` };
      return { ok: false, message: errorMessage(err) };
    }
  }

  /**
   * Lists wanted files with their stats (own walk: chokidar's initial scan does not cover scheduled runs).
   * With `dirs`, also records each folder walked (relative, "" = root) with its inode, for the native watcher.
   */
  private async walk(dirs?: Map<string, number>): Promise<Map<string, fs.Stats>> {
    const found = new Map<string, fs.Stats>();
    const maxDepth = this.cfg.recursive ? (this.cfg.depth ?? Infinity) : 0;
    const visit = async (dir: string, depth: number): Promise<void> => {
      let entries: fs.Dirent[];
      try {
        entries = await fs.promises.readdir(dir, { withFileTypes: true });
        if (dirs) dirs.set(this.rel(dir), (await fs.promises.stat(dir)).ino);
      } catch (err) {
        if (dir === this.root) throw err;
        return; // a sub-folder removed while walking
      }
      for (const e of entries) {
        const abs = path.join(dir, e.name);
        const rel = this.rel(abs);
        if (e.isDirectory()) {
          if (depth < maxDepth && !(this.ignoredDir !== undefined && rel === this.ignoredDir)) await visit(abs, depth + 1);
        } else if (e.isFile() && this.wants(rel)) {
          const st = await this.ops.stat(abs).catch(() => undefined);
          if (st) found.set(rel, st);
        }
      }
    };
    await visit(this.root, 0);
    return found;
  }

  /** Records an observation; returns true when the file has been unchanged for settleMs. */
  private observe(rel: string, st: { size: number; mtimeMs: number }, now: number): boolean {
    const prev = this.observed.get(rel);
    if (!prev || prev.size !== st.size || prev.mtimeMs !== st.mtimeMs) {
      this.observed.set(rel, { size: st.size, mtimeMs: st.mtimeMs, since: now });
      return this.cfg.settleMs === 0;
    }
    return now - prev.since >= this.cfg.settleMs;
  }

  private alreadyTaken(rel: string, st: { size: number; mtimeMs: number }): boolean {
    const t = this.taken.get(rel) ?? this.existing.get(rel);
    return t !== undefined && t.size === st.size && t.mtimeMs === st.mtimeMs;
  }

  /**
   * existingFiles: skip. On the flow's first start the files already there are recorded (size and mtime, in
   * the source state, so a restart keeps the same baseline); later runs leave exactly those alone.
   */
  private loadBaseline(ctx: SourceContext): Promise<void> {
    if (this.cfg.existingFiles !== 'skip') return Promise.resolve();
    this.baseline ??= (async () => {
      let saved = ctx.state.get<Record<string, [number, number]>>('existing-baseline');
      if (!saved) {
        const found = await this.walk().catch(() => new Map<string, fs.Stats>());
        saved = Object.fromEntries([...found].map(([rel, st]) => [rel, [st.size, st.mtimeMs] as [number, number]]));
        ctx.state.set('existing-baseline', saved);
        ctx.log.info({ files: found.size }, 'existing files left alone (existingFiles: skip)');
      }
      for (const [rel, [size, mtimeMs]] of Object.entries(saved)) this.existing.set(rel, { size, mtimeMs });
    })();
    return this.baseline;
  }

  private async markerPresent(rel: string): Promise<boolean> {
    if (!this.cfg.readyMarker) return true;
    const marker = this.markerPath(rel);
    return fs.promises.access(marker).then(() => true, () => false);
  }

  private markerPath(rel: string): string {
    const dir = path.posix.dirname(rel);
    const name = this.cfg.readyMarker!.replace('{name}', path.posix.basename(rel));
    return path.join(this.root, dir === '.' ? name : `${dir}/${name}`);
  }

  /** Windows: a file another program still holds open for writing cannot be opened for update. */
  private async isLocked(abs: string): Promise<boolean> {
    if (process.platform !== 'win32') return false;
    try {
      const h = await fs.promises.open(abs, 'r+');
      await h.close();
      return false;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EBUSY' || code === 'EPERM' || code === 'EACCES';
    }
  }

  private loadKeepMemory(ctx: SourceContext): void {
    if (this.cfg.afterDelivery.action !== 'keep' || this.taken.size > 0) return;
    for (const [key, value] of ctx.state.entries<Taken>('taken:')) this.taken.set(key.slice('taken:'.length), value);
  }

  /** Candidates that are complete and not yet queued, re-checked right now. */
  private async ready(ctx: SourceContext, rels: string[], now: number): Promise<Array<{ rel: string; st: fs.Stats }>> {
    const out: Array<{ rel: string; st: fs.Stats }> = [];
    for (const rel of rels) {
      const b = this.backoff.get(rel);
      if (b && b.until > now) continue;
      const abs = path.join(this.root, rel);
      const st = await this.ops.stat(abs).catch(() => undefined);
      if (!st || !st.isFile()) {
        this.observed.delete(rel);
        continue;
      }
      if (this.alreadyTaken(rel, st)) {
        this.observed.delete(rel);
        continue;
      }
      const settled = this.cfg.readyMarker ? await this.markerPresent(rel) : this.observe(rel, st, now);
      if (!settled) continue;
      if (await this.isLocked(abs)) {
        this.noteFailure(ctx, rel, 'file is locked by another program');
        continue;
      }
      out.push({ rel, st });
    }
    return out;
  }

  private noteFailure(ctx: SourceContext, rel: string, why: string): void {
    const prev = this.backoff.get(rel);
    // Ferry's own disk is full: not the file's fault, so no growing wait (the file goes as soon as there is room)
    const diskFull = /ENOSPC|SQLITE_FULL|disk is full|no space left/i.test(why);
    const delay = diskFull ? 2000 : Math.min((prev?.delay ?? 2500) * 2, 300_000);
    this.backoff.set(rel, { until: Date.now() + delay, delay });
    ctx.problem(`cannot take ${path.join(this.root, rel)}: ${why}; retrying in ${Math.round(delay / 1000)} s`, { file: path.join(this.root, rel) });
  }

  private sourceKey(rel: string, st: fs.Stats): string {
    // keep mode: the path plus the hash of the version queued before it, so a version is sent once, and a
    // file changed back to an earlier content (v1 → v2 → v1) is still a new version to send.
    // move/delete: path and mtime, so the same content dropped again later is a new delivery.
    return this.cfg.afterDelivery.action === 'keep' ? `${rel}#${this.taken.get(rel)?.sha256 ?? ''}` : `${rel}@${Math.trunc(st.mtimeMs)}`;
  }

  /** keep mode: drops files whose content equals what was last queued (only touched), remembering their new stat. */
  private async changedOnly(ctx: SourceContext, files: Array<{ rel: string; st: fs.Stats }>): Promise<Array<{ rel: string; st: fs.Stats; sha256: string }>> {
    const out: Array<{ rel: string; st: fs.Stats; sha256: string }> = [];
    for (const f of files) {
      let sha256: string;
      try {
        sha256 = await hashFile(path.join(this.root, f.rel));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.observed.delete(f.rel);
        else this.noteFailure(ctx, f.rel, errorMessage(err));
        continue;
      }
      const prev = this.taken.get(f.rel);
      if (prev?.sha256 === sha256) {
        const memo: Taken = { size: f.st.size, mtimeMs: f.st.mtimeMs, sha256 };
        this.taken.set(f.rel, memo);
        ctx.state.set(`taken:${f.rel}`, memo);
        this.observed.delete(f.rel);
        continue;
      }
      out.push({ ...f, sha256 });
    }
    return out;
  }

  /** Queues complete files in chunks; files stay in place (and are retried later) when intake is refused. */
  private async take(ctx: SourceContext, files: Array<{ rel: string; st: fs.Stats }>): Promise<void> {
    const keep = this.cfg.afterDelivery.action === 'keep';
    for (let i = 0; i < files.length; i += TAKE_CHUNK) {
      if (ctx.signal.aborted || !ctx.hasCapacity()) return;
      const candidates: Array<{ rel: string; st: fs.Stats; sha256?: string }> = keep ? await this.changedOnly(ctx, files.slice(i, i + TAKE_CHUNK)) : files.slice(i, i + TAKE_CHUNK);
      const chunk: Array<{ rel: string; st: fs.Stats; sha256?: string; body: NewItem['body'] }> = [];
      for (const f of candidates) {
        const file = path.join(this.root, f.rel);
        if (!this.local || f.st.size > SMALL_BODY) {
          chunk.push({ ...f, body: { file } });
          continue;
        }
        try {
          chunk.push({ ...f, body: { bytes: await this.ops.readFile(file) } });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.observed.delete(f.rel);
          else this.noteFailure(ctx, f.rel, errorMessage(err));
        }
      }
      if (chunk.length === 0) continue;
      const items: NewItem[] = chunk.map(({ rel, st, sha256, body }) => ({
        sourceKey: this.sourceKey(rel, st),
        name: path.posix.basename(rel),
        attributes: { relativePath: rel, size: st.size, mtime: new Date(st.mtimeMs).toISOString(), mtimeMs: st.mtimeMs, sourcePath: path.join(this.root, rel) },
        body,
        checkpoint: keep ? { key: `taken:${rel}`, value: { size: st.size, mtimeMs: st.mtimeMs, sha256 } satisfies Taken } : undefined,
      }));
      const result = await ctx.emit(items);
      const deferred = new Set(result.deferred ?? (result.refused ? items : []));
      const failed = new Map(result.failed.map((f) => [f.item, f.error]));
      chunk.forEach(({ rel, st, sha256 }, k) => {
        if (deferred.has(items[k])) return; // back pressure: the file stays and is offered again later
        const err = failed.get(items[k]);
        if (err !== undefined) {
          const code = /^([A-Z]+):/.exec(err)?.[1];
          if (code === 'ENOENT') this.observed.delete(rel);
          else this.noteFailure(ctx, rel, err);
          return;
        }
        this.observed.delete(rel);
        this.backoff.delete(rel);
        this.taken.set(rel, { size: st.size, mtimeMs: st.mtimeMs, sha256 });
      });
      if (result.refused) return;
    }
  }

  /** Serialises takes so a sweep and a reconcile never read the same file twice at once. */
  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.taking.then(fn, fn);
    this.taking = next.catch(() => undefined);
    return next;
  }

  async scan(ctx: SourceContext): Promise<void> {
    this.chooseFileOps();
    this.loadKeepMemory(ctx);
    await this.loadBaseline(ctx);
    const found = await this.walk();
    const rels = [...found.keys()].filter((rel) => !this.alreadyTaken(rel, found.get(rel)!));
    for (const rel of rels) this.observe(rel, found.get(rel)!, Date.now());
    await this.serial(async () => {
      let ready = await this.ready(ctx, rels, Date.now());
      await this.take(ctx, ready);
      // Files not yet proven complete: look once more after settleMs; what is still changing waits for the next run.
      const waiting = rels.filter((rel) => this.observed.has(rel));
      if (waiting.length > 0 && !ctx.signal.aborted && this.cfg.settleMs > 0) {
        await sleep(this.cfg.settleMs, ctx.signal);
        ready = await this.ready(ctx, waiting, Date.now());
        await this.take(ctx, ready);
      }
    });
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    this.chooseFileOps();
    this.loadKeepMemory(ctx);
    await this.loadBaseline(ctx);
    /** A file was seen (by an event or a scan) with these stats; a marker makes its data file a candidate. */
    const notice = (rel: string, st?: { size: number; mtimeMs: number }) => {
      if (this.markerMatcher?.(rel)) {
        const name = path.posix.basename(rel);
        const [pre, post] = this.cfg.readyMarker!.split('{name}');
        const dataRel = path.posix.join(path.posix.dirname(rel), name.slice(pre.length, name.length - post.length));
        if (this.wants(dataRel)) this.observed.set(dataRel, { size: -1, mtimeMs: -1, since: Date.now() });
        return;
      }
      if (!this.wants(rel) || !st) return;
      if (this.alreadyTaken(rel, st)) return;
      this.observe(rel, st, Date.now());
    };

    // The sweep runs only while files wait to settle: an idle watched folder costs no timer wake-ups.
    let sweeping = false;
    let sweepTimer: NodeJS.Timeout | undefined;
    const sweepEvery = Math.max(20, Math.min(250, Math.floor(this.cfg.settleMs / 4) || 20));
    const armSweep = (delay = sweepEvery) => {
      if (sweepTimer === undefined && !ctx.signal.aborted && this.observed.size > 0) sweepTimer = setTimeout(runSweep, delay);
    };
    const runSweep = () => {
      sweepTimer = undefined;
      if (ctx.signal.aborted || this.observed.size === 0) return;
      if (sweeping) return armSweep();
      // Under back pressure nothing can be taken: look again in a second instead of re-statting every file.
      if (!ctx.hasCapacity()) return armSweep(1000);
      sweeping = true;
      const now = Date.now();
      const due = [...this.observed.entries()]
        .filter(([, o]) => now - o.since >= this.cfg.settleMs || this.cfg.readyMarker)
        .map(([rel]) => rel);
      void this.serial(async () => {
        // chunk by chunk: the first files go out while later ones are still looked at, and little is held at once
        for (let i = 0; i < due.length && !ctx.signal.aborted && ctx.hasCapacity(); i += TAKE_CHUNK) {
          await this.take(ctx, await this.ready(ctx, due.slice(i, i + TAKE_CHUNK), Date.now()));
        }
      })
        .catch((err) => ctx.problem(`taking files from ${this.root} failed: ${errorMessage(err)}`))
        .finally(() => {
          sweeping = false;
          armSweep();
        });
    };

    const events = this.cfg.usePolling ? await this.pollWatch(ctx, notice, armSweep) : this.nativeWatch(ctx, notice, armSweep, () => void reconcile());

    let reconciling: Promise<void> | undefined;
    const reconcile = (): Promise<void> =>
      (reconciling ??= (async () => {
        const dirs = new Map<string, number>();
        try {
          const found = await this.walk(dirs);
          for (const [rel, st] of found) if (!this.observed.has(rel)) notice(rel, st);
        } catch (err) {
          ctx.problem(`scanning ${this.root} failed: ${errorMessage(err)}`);
        } finally {
          events.sync?.(dirs);
          reconciling = undefined;
        }
        armSweep();
      })());
    // Files already there at start-up, or that arrived while Ferry was stopped.
    await reconcile();
    const reconcileTimer = setInterval(() => void reconcile(), this.cfg.reconcileMs);

    return async () => {
      clearTimeout(sweepTimer);
      clearInterval(reconcileTimer);
      await events.close();
      await this.taking;
    };
  }

  /** Native events: each names an entry, which is statted once (events in one tick share one pass). */
  private nativeWatch(
    ctx: SourceContext,
    notice: (rel: string, st?: fs.Stats) => void,
    armSweep: () => void,
    rescan: () => void,
  ): { sync(dirs: Map<string, number>): void; close(): Promise<void> } {
    const pending = new Set<string>();
    let flushing = false;
    const flush = async () => {
      while (pending.size > 0 && !ctx.signal.aborted) {
        const batch = [...pending];
        pending.clear();
        for (let i = 0; i < batch.length; i += 64) {
          await Promise.all(batch.slice(i, i + 64).map(async (rel) => {
            // Not recursive: a name the globs do not want (and no marker) needs no look.
            if (!this.cfg.recursive && !this.wants(rel) && !this.markerMatcher?.(rel)) return;
            const st = await this.ops.stat(path.join(this.root, rel)).catch(() => undefined);
            if (!st) {
              this.observed.delete(rel);
              native.gone(rel);
            } else if (st.isDirectory()) native.dir(rel, st.ino);
            else if (st.isFile()) notice(rel, st);
          }));
        }
        armSweep();
      }
      flushing = false;
    };
    let lastRescan = 0;
    const native = watchNative({
      root: this.root,
      recursive: this.cfg.recursive,
      depth: this.cfg.depth,
      ignoredDir: this.ignoredDir,
      onPath: (rel) => {
        pending.add(rel);
        if (!flushing) {
          flushing = true;
          setImmediate(() => void flush());
        }
      },
      onRescan: (reason) => {
        ctx.problem(reason);
        // At most one extra scan a second, however many watchers complain at once.
        if (Date.now() - lastRescan < 1000) return;
        lastRescan = Date.now();
        setTimeout(rescan, 1000).unref();
      },
    });
    return { sync: (dirs) => native.sync(dirs), close: async () => native.close() };
  }

  /** Polling (network shares, mounted volumes): chokidar stats every file each interval. */
  private async pollWatch(
    ctx: SourceContext,
    notice: (rel: string, st?: fs.Stats) => void,
    armSweep: () => void,
  ): Promise<{ sync?: undefined; close(): Promise<void> }> {
    const ignoredAbs = this.ignoredDir !== undefined ? path.join(this.root, this.ignoredDir) : undefined;
    const watcher = chokidarWatch(this.root, {
      ignoreInitial: true,
      persistent: true,
      alwaysStat: true,
      depth: this.cfg.recursive ? this.cfg.depth : 0,
      usePolling: true,
      interval: this.cfg.pollIntervalMs,
      binaryInterval: this.cfg.pollIntervalMs,
      ignored: ignoredAbs ? (p: string) => p === ignoredAbs || p.startsWith(ignoredAbs + path.sep) : undefined,
    });
    const onFile = (abs: string, st?: fs.Stats) => {
      notice(this.rel(abs), st);
      armSweep();
    };
    watcher.on('add', onFile);
    watcher.on('change', onFile);
    watcher.on('unlink', (abs) => this.observed.delete(this.rel(abs)));
    watcher.on('error', (err) => ctx.problem(`watching ${this.root} failed: ${errorMessage(err)}`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    return { close: () => watcher.close() };
  }

  async afterDelivery(item: SettledItem): Promise<void> {
    const action = this.cfg.afterDelivery;
    if (action.action === 'keep') return;
    const rel = String(item.attributes.relativePath ?? item.name);
    const abs = containedPath(this.root, rel);
    const st = await this.ops.stat(abs);
    this.taken.delete(rel);
    // Gone already (a repeat after a crash), or replaced by a newer file that is not the one delivered.
    if (!st || Math.trunc(st.mtimeMs) !== Math.trunc(Number(item.attributes.mtimeMs)) || st.size !== Number(item.attributes.size)) return;
    if (action.action === 'delete') {
      await this.ops.unlink(abs).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    } else {
      await moveNoOverwrite(this.ops, abs, containedPath(path.resolve(action.to), rel));
    }
    if (this.cfg.readyMarker) await fs.promises.rm(this.markerPath(rel), { force: true });
  }
}

/** Renames src to dest (or dest with a " (n)" suffix when taken); copies across devices. */
async function moveNoOverwrite(ops: FileOps, src: string, dest: string): Promise<string> {
  await ops.ensureDir(path.dirname(dest));
  let recreated = false;
  for (let n = 0; n < 10_000; n++) {
    const target = n === 0 ? dest : path.join(path.dirname(dest), suffixedName(path.basename(dest), n));
    try {
      // link + unlink never replaces an existing file (rename would), and is atomic on one volume.
      await ops.link(src, target);
      await ops.unlink(src);
      return target;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // A crash between link and unlink left the same file in both places: finish the move.
        const [existing, st] = await Promise.all([ops.stat(target), ops.stat(src)]);
        if (existing && st && existing.ino === st.ino && existing.dev === st.dev && existing.ino !== 0) {
          await ops.unlink(src);
          return target;
        }
        continue;
      }
      if (code === 'ENOENT' && !recreated && (await ops.stat(src))) {
        // the target folder was removed since this process created it
        recreated = true;
        ops.forgetDir(path.dirname(dest));
        await ops.ensureDir(path.dirname(dest));
        n--;
        continue;
      }
      if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
        try {
          await fs.promises.copyFile(src, target, fs.constants.COPYFILE_EXCL);
        } catch (copyErr) {
          if ((copyErr as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw copyErr;
        }
        const h = await fs.promises.open(target, 'r+');
        await h.sync();
        await h.close();
        await ops.unlink(src);
        return target;
      }
      throw err;
    }
  }
  throw new Error(`no free name for ${dest}`);
}

async function hashFile(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
