// The file-intake core shared by the folder, FTP and SFTP sources (after Airbyte's file-based connector kit):
// it decides which listed files are complete (settle time or ready marker), takes them (batched, under back
// pressure, with retries for files that cannot be read), remembers what it took, and runs after-delivery
// (after-delivery.ts). The storage supplies a StreamReader (reader.ts) and nothing else.
import path from 'node:path';
import { FILE_CHANGED, STORE_AHEAD_MIN_BYTES, type EmitResult, type NewItem, type SettledItem, type SourceContext } from '../contract.ts';
import { IntakeActivity } from './activity.ts';
import { AfterDelivery } from './after-delivery.ts';
import { FileBackoff } from './backoff.ts';
import { EmitQueue } from './emit-queue.ts';
import { TakenMemory, type FolderSweep, type TakenMemo } from './memory.ts';
import { FileRules, type RuleOptions } from './rules.ts';
import { FolderStamps } from './walk.ts';
import type { FileEntry, ListOptions, OpenedFile, StreamReader } from './reader.ts';

export interface IntakeOptions extends RuleOptions {
  /** A file is complete once it has shown the same size and time for this long (0: at first sight). */
  settleMs: number;
  afterDelivery: 'move' | 'delete' | 'keep';
  /** skip: the files there when the flow first started are left alone unless they change. */
  existingFiles?: 'process' | 'skip';
}

/**
 * Files looked at and taken at once. A burst or a large listing never holds more stats or bodies than this in
 * the taking step; bodies read in the same turn of the event loop go out in one emit (one transaction).
 */
export const WINDOW = 200;

/**
 * Candidates a listing round admits before it stops at a cursor (or, for a reader that cannot resume, stops
 * admitting): a backlog of a million files holds this many at a time, and the rest is listed once these drain.
 */
export const CANDIDATES = 1000;
/** Files change events may add on top (fresh arrivals always get in up to here; beyond, a listing finds them). */
export const EVENT_CAP = 4 * CANDIDATES;
/**
 * Items a backlog found by listing may have waiting in the queue before its intake pauses: a file that arrives
 * meanwhile (an event) is taken at once and waits behind at most this many, not behind the whole backlog.
 */
export const BACKLOG_AHEAD = 1000;
/**
 * The most backlog candidates held at once. Each must settle (settleMs) before it is taken, so the look-ahead
 * grows with the rate the backlog is taken at (a window per settle time), up to this.
 */
export const MAX_LOOKAHEAD = 50 * CANDIDATES;
/** Files of a listing page whose memos are read at once (an FTP folder comes as one page of any size). */
const MEMO_PAGE = 500;

interface Observation {
  /** Size and change token as seen ("" forces a fresh look: a marker event named the file). */
  version: string;
  /** When this version was first seen. */
  since: number;
  /** Found by a listing (a backlog) rather than by a change event (a fresh arrival). */
  listed?: boolean;
  /** The listing round that last saw it. */
  round?: number;
}

/** A file on its way into the queue. */
interface Taking {
  item: NewItem;
  file: FileEntry;
  memo: TakenMemo;
}

/**
 * A large file whose own time shows no write for this long is likely whole (renamed into the folder, or copied
 * with its times): it is worth storing ahead. A guess that missed costs one copy, dropped.
 */
const STORE_AHEAD_QUIET_MS = 200;
/** Large fresh files watched for storing ahead, at most. */
const STORE_AHEAD_CANDIDATES = 16;

const versionOf = (e: FileEntry) => `${e.size}|${e.token ?? e.mtimeMs}`;

/** What the watch (watch.ts) is told when the core parks a file it need not look at until something changes. */
export interface ParkHooks {
  /** The file waits for its ready marker: an event for the marker (or the next listing) brings it back. */
  waitingForMarker(rel: string): void;
  /** The file failed: it may be tried again at `until`. */
  retryAt(rel: string, until: number): void;
}

export class FileIntake {
  /** What the core looked at and decided (tests and diagnostics wait on it). */
  readonly activity = new IntakeActivity();
  readonly rules: FileRules;
  readonly reader: StreamReader;
  private readonly opts: IntakeOptions;
  private readonly memory: TakenMemory;
  private readonly after: AfterDelivery;
  private readonly backoff = new FileBackoff();
  /** Files seen and not taken yet. */
  readonly observed = new Map<string, Observation>();
  /** Set while a watch runs: files it need not sweep until an event or a timer. */
  park?: ParkHooks;
  private taking: Promise<void> = Promise.resolve();
  private baseline?: Promise<void>;
  /** The last listing's failure, so a schedule repeats neither the log line nor the event (see listingFailed). */
  private listingProblem?: string;
  /** The listing round under way (see walk.ts): its number, start, cursor, and the folders it did not read. */
  private round = { n: 0, started: 0, cursor: undefined as string | undefined, skipped: new Set<string>(), files: 0, uncounted: false };
  /** Wanted files the last round that read every folder saw (undefined until one ended). */
  filesInLastWholeRound: number | undefined;
  /** Change events were dropped (more fresh files than EVENT_CAP at once): a listing round must find them. */
  private overflowed = false;
  /** Backlog candidates held, as last counted (fresh arrivals are capped apart from them). */
  private listedCount = 0;
  /** Backlog files taken so far, and the rate they were taken at (sampled once a second). */
  private backlogTaken = 0;
  private readonly backlogRate = { at: Date.now(), taken: 0, perSec: 0 };
  /** Stamps of folders as of the last complete round (readers with a sortedWalk). */
  readonly stamps = new FolderStamps();

  constructor(reader: StreamReader, opts: IntakeOptions) {
    this.reader = reader;
    this.opts = opts;
    this.rules = new FileRules(opts);
    this.memory = new TakenMemory(opts.afterDelivery === 'keep' || reader.rereadCostly);
    this.after = new AfterDelivery(reader, this.rules, this.memory, opts.afterDelivery);
  }

  get settleMs(): number {
    return this.opts.settleMs;
  }

  /** Memos of taken files held in RAM now (a durable memory holds a bounded cache; the rest stays in the state). */
  get memosHeld(): number {
    return this.memory.held;
  }

  listOptions(onFolder?: ListOptions['onFolder']): ListOptions {
    return { descend: (d) => this.rules.descend(d), wants: (r) => this.rules.matters(r), onFolder };
  }

  /** Loads the memory of taken files and, for existingFiles: skip, the baseline (taken on the flow's first start). */
  async prepare(ctx: SourceContext): Promise<void> {
    this.memory.load(ctx.state);
    if (this.opts.existingFiles !== 'skip') return;
    this.baseline ??= (async () => {
      const reader = this.reader;
      const opts = this.listOptions();
      const wants = (e: FileEntry) => this.rules.wants(e.rel);
      const fresh = await this.memory.loadBaseline(ctx.state, async function* () {
        try {
          for await (const page of reader.list(opts)) yield page.filter(wants);
        } catch {
          // a folder that cannot be listed yet: nothing existed to leave alone
        }
      });
      if (fresh !== undefined) ctx.log.info({ files: fresh }, 'existing files left alone (existingFiles: skip)');
    })();
    await this.baseline;
  }

  /** Serialises takes, so a sweep, a scan and a reconcile never read the same file twice at once. */
  serial(fn: () => Promise<void>): Promise<void> {
    const next = this.taking.then(fn, fn);
    this.taking = next.catch(() => undefined);
    return next;
  }

  /** Resolves once the takes under way are done. */
  idle(): Promise<void> {
    return this.taking;
  }

  // ---------------------------------------------------------------- deciding

  /** Records a look at a file; true once this size and time have been seen for settleMs. */
  observe(e: FileEntry, now: number): boolean {
    const v = versionOf(e);
    const prev = this.observed.get(e.rel);
    if (!prev || prev.version !== v) {
      this.observed.set(e.rel, { version: v, since: now });
      return this.opts.settleMs === 0;
    }
    return now - prev.since >= this.opts.settleMs;
  }

  /**
   * Large fresh files that may be stored ahead once their own time shows no write for STORE_AHEAD_QUIET_MS
   * (see storeAhead): a few at a time, for files that arrive whole while others settle.
   */
  private readonly aheadCandidates = new Map<string, FileEntry>();
  /**
   * Files stored ahead once already: not again until taken or gone. A writer that pauses mid-file costs one
   * copy that goes unused, not one per pause.
   */
  private readonly aheadTried = new Set<string>();

  /**
   * Hands the engine the large fresh files that look complete, so it can copy them into its store while their
   * settle runs (SourceContext.storeAhead). The settle still decides when a file is taken; the store uses its
   * copy only if the file has not changed since the copy began.
   */
  storeAhead(ctx: SourceContext, now: number): void {
    if (this.aheadCandidates.size === 0) return;
    for (const [rel, e] of this.aheadCandidates) {
      const o = this.observed.get(rel);
      // taken, gone or changed meanwhile (a change noticed again replaces the entry)
      if (!o || o.version !== versionOf(e)) {
        this.aheadCandidates.delete(rel);
        continue;
      }
      if (now - e.mtimeMs < STORE_AHEAD_QUIET_MS) continue;
      this.aheadCandidates.delete(rel);
      const body = this.reader.fileBody?.(e);
      if (!body || !ctx.storeAhead) continue;
      // bounded: forgetting the tries only allows another one
      if (this.aheadTried.size >= STORE_AHEAD_CANDIDATES * 4) this.aheadTried.clear();
      this.aheadTried.add(rel);
      ctx.storeAhead(body);
    }
  }

  /** A file was noticed (an event, or a listing of a watched folder); a marker makes its file a candidate. */
  notice(rel: string, e?: FileEntry): void {
    if (this.rules.readyMarker && this.rules.isMarker(rel)) {
      const file = this.rules.fileOfMarker(rel);
      if (this.rules.wants(file)) this.observed.set(file, { version: '', since: Date.now() });
      return;
    }
    if (!e || !this.rules.wants(rel) || this.memory.has(e)) return;
    const o = this.observed.get(rel);
    if (!o && this.observed.size - this.listedCount >= EVENT_CAP) {
      // bounded: the next listing round finds it
      this.overflowed = true;
      this.stamps.leftSome();
      return;
    }
    // a backlog file that changes is a fresh arrival now
    if (o?.listed) o.listed = false;
    this.observe(e, Date.now());
    // worth copying during its settle (markers take a file at once, without a settle)
    if (e.size >= STORE_AHEAD_MIN_BYTES && this.opts.settleMs > STORE_AHEAD_QUIET_MS && !this.rules.readyMarker && this.reader.fileBody && !this.aheadTried.has(rel) && (this.aheadCandidates.size < STORE_AHEAD_CANDIDATES || this.aheadCandidates.has(rel))) {
      this.aheadCandidates.set(rel, e);
    }
    this.activity.decided(rel, 'settling');
  }

  /** A listing round stopped at its cursor, or events were dropped: there is more to list once candidates drain. */
  get moreToList(): boolean {
    return this.round.cursor !== undefined || this.overflowed;
  }

  /** Backlog candidates (found by a listing) not taken yet. */
  listedWaiting(): number {
    let n = 0;
    for (const o of this.observed.values()) if (o.listed) n++;
    return (this.listedCount = n);
  }

  /** How many backlog candidates to hold: enough to cover settleMs and a second at the rate the backlog goes. */
  backlogLookahead(): number {
    const now = Date.now();
    const r = this.backlogRate;
    if (now - r.at >= 1000) {
      r.perSec = ((this.backlogTaken - r.taken) * 1000) / (now - r.at);
      r.at = now;
      r.taken = this.backlogTaken;
    }
    return Math.min(MAX_LOOKAHEAD, Math.max(CANDIDATES, Math.ceil((r.perSec * (this.opts.settleMs + 1000)) / 1000)));
  }

  /**
   * Follows (onFolder) the folders a round has not reached yet: a round that stopped at its cursor would
   * otherwise not watch them, and a fresh file there would wait for the listing to get there. Reads no file.
   */
  async followRest(onFolder: NonNullable<ListOptions['onFolder']>): Promise<void> {
    if (this.round.cursor === undefined) return;
    const opts: ListOptions = { descend: (d) => this.rules.descend(d), wants: () => false, onFolder, after: this.round.cursor };
    for await (const _ of this.reader.list(opts)) void _; // yields no file
  }

  /** Whether the queue holds enough of the backlog for now (fresh files still go in). */
  private paced(ctx: SourceContext): boolean {
    return (ctx.waiting?.() ?? 0) >= BACKLOG_AHEAD;
  }

  /** A file (or folder) a watch saw go away. */
  gone(rel: string): void {
    this.observed.delete(rel);
    this.aheadCandidates.delete(rel);
    this.aheadTried.delete(rel);
    this.activity.decided(rel, 'vanished');
  }

  /**
   * Files a watch should look at now: settled long enough, or (with markers) any candidate. Fresh arrivals come
   * first, then the backlog found by listings.
   */
  due(now: number): string[] {
    const fresh: string[] = [];
    const listed: string[] = [];
    let held = 0;
    for (const [rel, o] of this.observed) {
      if (o.listed) held++;
      if (this.rules.readyMarker || now - o.since >= this.opts.settleMs) (o.listed ? listed : fresh).push(rel);
    }
    this.listedCount = held;
    return fresh.concat(listed);
  }

  /** The last sweep stopped because enough backlog waits in the queue (a watch looks again soon). */
  pacedOut = false;

  private async markerPresent(rel: string): Promise<boolean> {
    return (await this.reader.stat(this.rules.markerOf(rel)).catch(() => undefined)) !== undefined;
  }

  /**
   * Looks at files again, one by one, and takes the complete ones, a window at a time (readers with a cheap
   * stat: a folder's scan, its watch's sweeps). Returns the files still settling.
   */
  async sweep(ctx: SourceContext, rels: string[]): Promise<string[]> {
    const settling: string[] = [];
    this.pacedOut = false;
    for (let i = 0; i < rels.length && !ctx.signal.aborted; i += WINDOW) {
      let part = rels.slice(i, i + WINDOW);
      if (!ctx.hasCapacity()) {
        for (const rel of part) this.activity.decided(rel, 'deferred');
        continue;
      }
      // enough of the backlog waits in the queue: the backlog waits here, where fresh files overtake it
      if (this.paced(ctx)) {
        const fresh = part.filter((rel) => !this.observed.get(rel)?.listed);
        if (fresh.length < part.length) {
          this.pacedOut = true;
          if (fresh.length === 0) break; // fresh files come first (see due)
          part = fresh;
        }
      }
      await this.serial(async () => this.take(ctx, await this.look(ctx, part, settling)));
    }
    return settling;
  }

  /** Fresh looks at files: the complete ones. */
  private async look(ctx: SourceContext, rels: string[], settling: string[]): Promise<FileEntry[]> {
    const ready: FileEntry[] = [];
    for (const rel of rels) {
      const now = Date.now();
      const until = this.backoff.waitingUntil(rel, now);
      if (until !== undefined) {
        this.activity.decided(rel, 'backing-off');
        this.park?.retryAt(rel, until);
        continue;
      }
      const e = await this.reader.stat(rel).catch(() => undefined);
      if (!e) {
        this.observed.delete(rel);
        this.activity.decided(rel, 'vanished');
        continue;
      }
      if (this.memory.has(e)) {
        this.observed.delete(rel);
        this.activity.decided(rel, 'remembered');
        continue;
      }
      if (this.rules.readyMarker) {
        if (!(await this.markerPresent(rel))) {
          this.activity.decided(rel, 'waiting-for-marker');
          this.park?.waitingForMarker(rel);
          continue;
        }
      } else if (!this.observe(e, now)) {
        settling.push(rel);
        this.activity.decided(rel, 'settling');
        continue;
      }
      const busy = await this.reader.busy?.(rel);
      if (busy) {
        this.failed(ctx, rel, busy);
        continue;
      }
      ready.push(e);
    }
    return ready;
  }

  /** Decides on a listed file from the listing alone (readers without a cheap stat). */
  private decideListed(e: FileEntry, markers: Set<string>, now: number): 'ready' | 'settling' | 'waiting' | 'backing-off' {
    if (this.backoff.waitingUntil(e.rel, now) !== undefined) return 'backing-off';
    if (this.rules.readyMarker) return markers.has(this.rules.markerOf(e.rel)) ? 'ready' : 'waiting';
    return this.observe(e, now) ? 'ready' : 'settling';
  }

  // ---------------------------------------------------------------- scanning

  /**
   * One scan: list, take what is complete, and look once more after settleMs at what is still settling. A large
   * tree goes a window of candidates at a time (see walk.ts): the scan goes on from its cursor until the tree
   * is done, back pressure stops it (the next scan resumes there), or Ferry stops.
   */
  async scan(ctx: SourceContext): Promise<void> {
    await this.prepare(ctx);
    do {
      const settling = await this.listingPass(ctx, 'scan');
      if (!settling?.length || this.rules.readyMarker || this.opts.settleMs === 0 || ctx.signal.aborted) {
        if (settling === undefined) return;
        continue;
      }
      // Files not yet proven complete: look once more after settleMs; what still changes waits for the next run.
      await sleep(this.opts.settleMs, ctx.signal);
      if (ctx.signal.aborted) return;
      if (this.reader.cheapStat) {
        await this.sweep(ctx, settling);
        this.activity.passEnded('second-look', true);
      } else {
        await this.listingPass(ctx, 'second-look');
      }
    } while (this.round.cursor !== undefined && !ctx.signal.aborted && ctx.hasCapacity());
  }

  /**
   * Lists the tree and takes what is complete, a window at a time while the listing goes on; at most
   * CANDIDATES files are admitted, then the pass stops at a cursor (readers with a sortedWalk; the round goes
   * on from there in the next pass) or admits no more (the next round finds the rest). Returns the files still
   * settling, or undefined when the listing failed (reported; a second look's failure is not: the next scan
   * says it). `skipUnchanged`: folders unchanged since the last complete round are not read (a watch, whose
   * events report changes in place).
   */
  async listingPass(
    ctx: SourceContext,
    pass: 'scan' | 'second-look' | 'reconcile',
    onFolder?: ListOptions['onFolder'],
    skipUnchanged = false,
  ): Promise<string[] | undefined> {
    // memos of files gone from a folder are forgotten as soon as the listing has read the folder whole
    const sweep = this.memory.sweep(Date.now());
    try {
      return await this.walkListing(ctx, pass, sweep, onFolder, skipUnchanged);
    } finally {
      sweep.end();
    }
  }

  private async walkListing(
    ctx: SourceContext,
    pass: 'scan' | 'second-look' | 'reconcile',
    sweep: FolderSweep,
    onFolder: ListOptions['onFolder'],
    skipUnchanged: boolean,
  ): Promise<string[] | undefined> {
    const inRound = pass !== 'second-look';
    const sorted = this.reader.sortedWalk === true;
    const round = this.round;
    const after = inRound && sorted ? round.cursor : undefined;
    if (inRound && after === undefined) {
      // a new round
      round.n++;
      round.started = Date.now();
      round.skipped.clear();
      round.files = 0;
      round.uncounted = false;
      this.overflowed = false;
    }
    if (inRound) round.cursor = undefined;
    // a walk in code-point order lists each folder's files in the order their memos are kept: read together
    if (sorted) sweep.mergeInOrder(after);
    const roundNo = round.n;
    const markers = new Set<string>();
    const settling: string[] = [];
    /** Files read in this pass go out through one queue: downloads go on while a window's last batch commits. */
    const emits = this.emitQueue(ctx);
    /** cheap stat: candidates to look at again; otherwise files complete by the listing. */
    let window: FileEntry[] = [];
    /** Files whose marker would lie in another folder: decided once the whole listing is known. */
    const markerElsewhere: FileEntry[] = [];
    /** Candidates admitted by this pass; at CANDIDATES it stops (sorted) or admits no more. */
    let admitted = 0;
    let full = false;
    /**
     * Readers without a cheap stat take complete files straight from the listing: while intake takes (no back
     * pressure), those are not held, so only the files that must wait (settling, markers, retries) count toward
     * CANDIDATES, and a backlog of ready files goes in one pass instead of one listing per CANDIDATES files.
     */
    let takingOn = !this.reader.cheapStat && pass !== 'reconcile' && ctx.hasCapacity();
    const flush = async () => {
      const part = window;
      window = [];
      if (part.length === 0 || pass === 'reconcile') return;
      if (this.reader.cheapStat) settling.push(...(await this.sweep(ctx, part.map((e) => e.rel))));
      else if (emits.refused || !ctx.hasCapacity()) for (const e of part) this.activity.decided(e.rel, 'deferred');
      else await this.serial(() => this.take(ctx, part, emits));
      if (takingOn && (emits.refused || !ctx.hasCapacity())) {
        // back pressure: what this window could not take stays a candidate, and from now on every file counts
        takingOn = false;
        for (const e of part) if (this.observed.has(e.rel)) admitted++;
      }
    };
    const opts = this.listOptions(onFolder);
    opts.folderListed = (relDir, subdirs, digest) => sweep.folderListed(relDir, subdirs, digest);
    if (this.memory.durable) {
      // folders whose listing is unchanged since every file in them was found taken are not read again
      opts.knownListing = (relDir) => this.memory.listings.get(relDir);
      opts.listingUnchanged = (relDir) => {
        if (inRound) {
          round.skipped.add(relDir);
          // its files are known by count (a record from before counts were kept leaves the round's total unknown)
          const files = this.memory.listings.get(relDir)?.files;
          if (files === undefined) round.uncounted = true;
          else round.files += files;
        }
        this.activity.unchangedListing(relDir);
      };
    }
    if (sorted && inRound) {
      opts.after = after;
      opts.folderRead = (relDir, stamp, settled) => this.stamps.listed(relDir, stamp, settled);
      if (skipUnchanged) {
        opts.unchanged = (relDir, stamp) => {
          const known = this.stamps.known(relDir);
          if (known?.stamp !== stamp) return undefined;
          round.skipped.add(relDir);
          round.uncounted = true;
          return known;
        };
      }
    }
    const pages = this.reader.list(opts)[Symbol.asyncIterator]();
    listing: for (;;) {
      let page: FileEntry[];
      try {
        const next = await pages.next();
        if (next.done) break;
        page = next.value;
      } catch (err) {
        this.listingFailed(ctx, err, pass);
        if (inRound && after !== undefined) round.cursor = after; // resume there once the folder is back
        await this.serial(() => emits.drain());
        return undefined;
      }
      // a turn of the event loop between pages: events (fresh files) and the engine's own work go on, and the
      // young generation's cap (main/engine/memory.ts) is re-applied between bursts
      await new Promise((r) => setImmediate(r));
      const now = Date.now();
      if (this.rules.readyMarker) for (const e of page) if (this.rules.isMarker(e.rel)) markers.add(e.rel);
      let prefetched = 0;
      // the reader yields only what listOptions().wants allows: without ready markers, wanted files alone
      const onlyWanted = !this.rules.readyMarker;
      for (let i = 0; i < page.length; i++) {
        const e = page[i];
        if (!onlyWanted && !this.rules.wants(e.rel)) continue;
        // the file is there: its memory stays (a changed file's key builds on the version queued before it)
        sweep.saw(e, roundNo);
        if (inRound) round.files++;
        if (full) {
          // a reader that cannot resume walks on (what it saw is remembered) and admits nothing more: whether
          // the file was taken need not be looked up
          const seen = this.observed.get(e.rel);
          if (seen) seen.round = roundNo;
          sweep.pending();
          continue;
        }
        // the memos of the next part of the page, in one look-up (a durable memory is not held in RAM), unless
        // they are read alongside the folder's listing
        if (i >= prefetched) {
          if (!sweep.merging) this.memory.prefetch(page.slice(i, i + MEMO_PAGE).map((x) => x.rel));
          prefetched = i + MEMO_PAGE;
        }
        if (sweep.has(e)) {
          if (this.observed.size > 0) this.observed.delete(e.rel);
          this.activity.decided(e.rel, 'remembered');
          continue;
        }
        sweep.pending();
        const seen = this.observed.get(e.rel);
        if (seen) seen.round = roundNo;
        if (pass === 'reconcile') {
          // a watch takes in its sweeps: a listing only brings files it has not noticed (missed events, a backlog)
          if (!seen) {
            this.observe(e, now);
            const o = this.observed.get(e.rel)!;
            o.listed = true;
            o.round = roundNo;
            this.activity.decided(e.rel, 'settling');
            admitted++;
          }
        } else if (this.reader.cheapStat) {
          this.observe(e, now);
          this.observed.get(e.rel)!.round = roundNo;
          window.push(e);
          admitted++;
        } else {
          const d = this.decideListed(e, markers, now);
          const o = this.observed.get(e.rel);
          if (o) o.round = roundNo;
          if (d !== 'ready' || !takingOn) admitted++;
          if (d === 'ready') window.push(e);
          else if (d === 'settling') (settling.push(e.rel), this.activity.decided(e.rel, 'settling'));
          else if (d === 'backing-off') this.activity.decided(e.rel, 'backing-off');
          else if (path.posix.dirname(this.rules.markerOf(e.rel)) !== path.posix.dirname(e.rel)) markerElsewhere.push(e);
          else this.activity.decided(e.rel, 'waiting-for-marker');
        }
        if (window.length >= WINDOW) await flush();
        if (admitted >= CANDIDATES) {
          if (inRound) this.stamps.leftSome();
          if (sorted && inRound) {
            round.cursor = e.rel;
            await pages.return?.();
            break listing;
          }
          full = true;
        }
      }
    }
    for (const e of markerElsewhere) {
      if (markers.has(this.rules.markerOf(e.rel))) window.push(e);
      else this.activity.decided(e.rel, 'waiting-for-marker');
    }
    await flush();
    await this.serial(() => emits.drain());
    if (this.listingProblem && pass !== 'second-look') {
      ctx.log.info({ source: this.reader.where() }, `listing ${this.reader.where()} works again`);
      this.listingProblem = undefined;
    }
    if (inRound && round.cursor === undefined) this.roundEnded(roundNo);
    this.activity.passEnded(pass, true);
    return settling;
  }

  /**
   * A round walked the whole tree: forget what it did not see (gone from the storage), except in folders it did
   * not read (unchanged) and what was noticed while it ran.
   */
  private roundEnded(roundNo: number): void {
    const { started, skipped } = this.round;
    if (!this.round.uncounted) this.filesInLastWholeRound = this.round.files;
    const unread = (rel: string) => skipped.size > 0 && skipped.has(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    this.memory.forgetUnseen(roundNo, started, unread);
    for (const [rel, o] of this.observed) if (o.round !== roundNo && o.since < started && !unread(rel)) this.observed.delete(rel);
    this.stamps.roundEnded(true);
  }

  /**
   * A listing failed. The first time for a reason it is a problem (logged, an event); the same reason again is
   * only counted, so the source stays "failing" without repeating the log line on every scheduled run.
   */
  private listingFailed(ctx: SourceContext, err: unknown, pass: 'scan' | 'second-look' | 'reconcile'): void {
    const reason = `cannot list ${this.reader.where()}: ${this.reader.classify(err).reason}`;
    this.activity.passEnded(pass, false, reason);
    if (pass === 'second-look') return;
    if (reason !== this.listingProblem) ctx.problem(reason);
    else ctx.stillFailing?.(reason);
    this.listingProblem = reason;
  }

  // ---------------------------------------------------------------- taking

  /** A file that could not be taken: reported with its reason, tried again after a wait. */
  private failed(ctx: SourceContext, rel: string, why: string): void {
    const delay = this.backoff.fail(rel, why);
    const where = this.reader.where(rel);
    ctx.problem(`cannot take ${where}: ${why}; retrying in ${Math.round(delay / 1000)} s`, { file: where });
    this.activity.decided(rel, 'failed', why);
    this.park?.retryAt(rel, Date.now() + delay);
  }

  private readFailed(ctx: SourceContext, rel: string, err: unknown): void {
    const f = this.reader.classify(err, rel);
    if (!f.missing) return this.failed(ctx, rel, f.reason);
    this.observed.delete(rel);
    this.activity.decided(rel, 'vanished');
  }

  private itemFor(f: FileEntry, opened: OpenedFile, sha256: string | undefined): Taking {
    const memo: TakenMemo = { size: f.size, mtimeMs: opened.mtimeMs };
    if (f.token !== undefined) memo.rawTime = f.token;
    if (sha256 !== undefined) memo.sha256 = sha256;
    // keep: one key per version. With a content hash, the path plus the hash of the version queued before it,
    // so a file changed back to an earlier content (v1 → v2 → v1) is still a new version to send; without one,
    // the path alone (the queue's dedupe then drops an unchanged content). move/delete: path and time, so the
    // same name dropped again later is a new delivery.
    const sourceKey =
      this.opts.afterDelivery === 'keep'
        ? this.reader.contentHash
          ? `${f.rel}#${this.memory.get(f.rel)?.sha256 ?? ''}`
          : f.rel
        : `${f.rel}@${Math.trunc(opened.mtimeMs)}`;
    const item: NewItem = { sourceKey, name: path.posix.basename(f.rel), attributes: opened.attributes, body: opened.body };
    const checkpoint = this.memory.checkpoint(f.rel, memo);
    if (checkpoint) item.checkpoint = checkpoint;
    return { item, file: f, memo };
  }

  /** Records what an emit did with each file: taken, deferred by back pressure, or failed (tried again later). */
  private settle(ctx: SourceContext, result: EmitResult, entries: Taking[]): void {
    const deferred = new Set(result.deferred ?? (result.refused ? entries.map((e) => e.item) : []));
    const failed = new Map(result.failed.map((x) => [x.item, x.error]));
    const unchanged = new Set(result.unchanged ?? []);
    for (const t of entries) {
      const rel = t.file.rel;
      const sha256 = result.sha256?.get(t.item);
      if (unchanged.has(t.item)) {
        // touched, not changed (found by the store's hash): remember this version, nothing was queued
        this.memory.refresh(rel, { ...t.memo, sha256: sha256! });
        this.observed.delete(rel);
        this.aheadTried.delete(rel);
        this.activity.decided(rel, 'unchanged');
        continue;
      }
      if (deferred.has(t.item)) {
        this.activity.decided(rel, 'deferred');
        continue;
      }
      const err = failed.get(t.item);
      if (err !== undefined) {
        if (/^ENOENT\b/.test(err)) {
          this.observed.delete(rel);
          this.activity.decided(rel, 'vanished');
        } else if (err.startsWith(FILE_CHANGED)) {
          // written to again after it settled: nothing was queued, it goes once it settles again
          ctx.log.info({ file: this.reader.where(rel) }, err);
          if (!this.observed.has(rel)) this.observed.set(rel, { version: '', since: Date.now() });
          this.activity.decided(rel, 'settling');
        } else this.failed(ctx, rel, err);
        continue;
      }
      if (this.observed.get(rel)?.listed) this.backlogTaken++;
      this.observed.delete(rel);
      this.backoff.clear(rel);
      this.aheadTried.delete(rel); // a later version may be stored ahead again
      if (sha256 !== undefined && t.memo.sha256 === undefined) {
        // hashed by the store: remember what was queued (the checkpoint written with the item could not say)
        this.memory.refresh(rel, { ...t.memo, sha256 });
      } else this.memory.remember(rel, t.memo);
      this.activity.decided(rel, 'taken');
    }
  }

  private emitQueue(ctx: SourceContext): EmitQueue<Taking> {
    return new EmitQueue<Taking>(ctx, (result, entries) => this.settle(ctx, result, entries));
  }

  /**
   * Reads complete files (as many at once as the reader allows) and queues them through `emits` (batched; see
   * emit-queue.ts); a streamed body is emitted on its own while its transfer runs. Back pressure stops the take:
   * what was not taken stays. With a queue of its own the take waits for its emits; a listing pass shares one
   * across its windows, so downloads go on while a window's last batch commits.
   */
  private async take(ctx: SourceContext, files: FileEntry[], shared?: EmitQueue<Taking>): Promise<void> {
    if (files.length === 0) return;
    const emits = shared ?? this.emitQueue(ctx);
    const hashFirst = this.opts.afterDelivery === 'keep' && this.reader.contentHash !== undefined;
    let next = 0;

    const takeOne = async (f: FileEntry) => {
      let sha256: string | undefined;
      // a body stored from its file is hashed as it is copied: an unchanged content is recognised then
      const hashAtStore = hashFirst && this.reader.bodyIsFile?.(f) === true;
      if (hashFirst && !hashAtStore) {
        try {
          sha256 = await this.reader.contentHash!(f.rel);
        } catch (err) {
          return this.readFailed(ctx, f.rel, err);
        }
        if (this.memory.get(f.rel)?.sha256 === sha256) {
          // touched, not changed: remember this version and send nothing
          this.memory.refresh(f.rel, { size: f.size, mtimeMs: f.mtimeMs, sha256 });
          this.observed.delete(f.rel);
          this.activity.decided(f.rel, 'unchanged');
          return;
        }
      }
      let streamed: { result: EmitResult; t: Taking } | undefined;
      try {
        await this.reader.read(f, async (opened) => {
          const t = this.itemFor(f, opened, sha256);
          if (hashAtStore) t.item.unchangedFrom = this.memory.get(f.rel)?.sha256 ?? '';
          if (!('stream' in opened.body)) {
            emits.add(t);
            return true;
          }
          const result = await ctx.emit([t.item]);
          streamed = { result, t };
          const deferred = result.deferred ? result.deferred.includes(t.item) : result.refused !== undefined;
          return !deferred && result.failed.length === 0;
        });
      } catch (err) {
        // the transfer's own error says more than the store's "stream ended early"
        return this.readFailed(ctx, f.rel, err);
      }
      if (streamed) {
        if (streamed.result.refused) emits.refused = true;
        this.settle(ctx, streamed.result, [streamed.t]);
      }
    };

    const worker = async () => {
      while (!emits.refused && next < files.length && !ctx.signal.aborted) {
        if (!ctx.hasCapacity()) {
          emits.refused = true;
          break;
        }
        await takeOne(files[next++]);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.reader.parallel, files.length)) }, worker));
    for (let i = next; i < files.length; i++) this.activity.decided(files[i].rel, 'deferred');
    if (!shared) await emits.drain();
  }

  /** After delivery: move or delete the original (see after-delivery.ts). Throwing makes the engine retry. */
  afterDelivery(item: SettledItem): Promise<void> {
    return this.after.run(item);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
