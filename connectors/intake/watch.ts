// Event-driven intake: a storage's change events (a folder's native watcher, or polling) feed the core, which
// sweeps the files that have settled and takes them; a periodic full listing (reconcile) catches what the
// events missed. A watched folder at rest costs no timer wake-ups: the sweep runs only while files settle,
// files waiting for a marker or a retry are parked until their event or their time.
import { errorMessage, type SourceContext } from '../contract.ts';
import type { FileIntake } from './core.ts';
import type { FileEntry } from './reader.ts';

/** What a feed tells the core. */
export interface FeedSink {
  /** Whether a name is worth a look (a wanted file or a marker): a feed may skip the rest without a stat. */
  matters(rel: string): boolean;
  /** A file changed; `entry` is the feed's own fresh look at it, when it has one. */
  changed(rel: string, entry?: FileEntry): void;
  gone(rel: string): void;
  /** Events may have been lost (a watcher failed or could not start): `reason` is reported, a listing follows. */
  rescan(reason: string): void;
  /** A problem of the feed itself. */
  problem(message: string): void;
}

/** A running feed of change events. */
export interface WatchFeed {
  /** A listing is about to read this folder (relative, "" = root): follow it from now on, so nothing falls between. */
  follow?(relDir: string, id: number): void;
  /** After each full listing: the folders that exist (relative, "" = root) with their identity; the others are dropped. */
  sync?(folders: Map<string, number>): void;
  close(): Promise<void>;
}

export interface WatchOptions {
  /** Full listing this often, for events a watcher missed. */
  reconcileMs: number;
  startFeed(sink: FeedSink): Promise<WatchFeed>;
  /**
   * A feed that polls (startFeed stats every file each interval) is started only for a tree of at most
   * `perFileUpTo` files, as the first listing round counts them. A larger tree is polled by folder instead:
   * every `everyMs` the stamps the last complete round recorded are looked at again (stampsOf), and a listing
   * round, which reads only the folders whose stamp changed (files added, removed or renamed there), runs when
   * one did. A file rewritten in place under its name is found by the next round that reads every folder
   * (FULL_ROUND_EVERY × reconcileMs).
   */
  poll?: {
    everyMs: number;
    perFileUpTo: number;
    /** Folders' stamps as the reader's listing gives them, in order (undefined for one that is gone). */
    stampsOf(relDirs: string[]): Promise<Array<string | undefined>>;
  };
}

/** Folder stamps asked for in one call. */
const STAMPS_PER_CALL = 1000;

/** Whether any folder's stamp differs from the one recorded (or the folder is gone). */
async function anyFolderChanged(known: ReadonlyMap<string, { stamp: string }>, stampsOf: (relDirs: string[]) => Promise<Array<string | undefined>>): Promise<boolean> {
  const all = [...known];
  for (let i = 0; i < all.length; i += STAMPS_PER_CALL) {
    const part = all.slice(i, i + STAMPS_PER_CALL);
    const stamps = await stampsOf(part.map(([rel]) => rel)).catch(() => undefined);
    if (!stamps || part.some(([, s], k) => stamps[k] !== s.stamp)) return true;
  }
  return false;
}

/** At most one extra listing a second, however many watchers complain at once. */
const RESCAN_GAP_MS = 1000;
/**
 * Reconcile rounds skip folders unchanged since the last complete round (a file changed in place raises an
 * event); every this many reconcile intervals one reads every folder, for events a watcher missed. That round
 * stats every file, but looks up no memo in a folder whose digest is the one it had when all its files were
 * found taken (clean-listings.ts).
 */
const FULL_ROUND_EVERY = 12;
/** While the backlog's pace holds intake, the sweep looks again this soon. */
const PACED_SWEEP_MS = 50;

export async function watchFiles(core: FileIntake, ctx: SourceContext, opts: WatchOptions): Promise<() => Promise<void>> {
  await core.prepare(ctx);
  const settleMs = core.settleMs;
  const sweepEvery = Math.max(20, Math.min(250, Math.floor(settleMs / 4) || 20));
  let sweeping = false;
  let sweepTimer: NodeJS.Timeout | undefined;
  /** Files waiting for a retry, by the time they may be tried again. */
  const retries = new Map<string, number>();
  let retryTimer: NodeJS.Timeout | undefined;

  const armSweep = (delay = sweepEvery) => {
    if (sweepTimer === undefined && !ctx.signal.aborted && core.observed.size > 0) sweepTimer = setTimeout(runSweep, delay);
  };
  const runSweep = () => {
    sweepTimer = undefined;
    if (ctx.signal.aborted || core.observed.size === 0) return;
    if (sweeping) return armSweep();
    // Under back pressure nothing can be taken: look again in a second instead of re-statting every file.
    if (!ctx.hasCapacity()) return armSweep(1000);
    sweeping = true;
    core.storeAhead(ctx, Date.now());
    const due = core.due(Date.now());
    // a window at a time: the first files go out while later ones are still looked at, and little is held at once
    core
      .sweep(ctx, due)
      .then(
        () => core.activity.passEnded('sweep', true),
        (err) => {
          const problem = `taking files from ${core.reader.where()} failed: ${errorMessage(err)}`;
          core.activity.passEnded('sweep', false, problem);
          ctx.problem(problem);
        },
      )
      .finally(() => {
        sweeping = false;
        // the backlog drained below half its window: list the next part of the round
        if (core.moreToList && !reconciling && core.listedWaiting() < core.backlogLookahead()) void reconcile();
        armSweep(core.pacedOut ? PACED_SWEEP_MS : sweepEvery);
      });
  };

  const armRetry = () => {
    if (retryTimer !== undefined || retries.size === 0 || ctx.signal.aborted) return;
    const next = Math.min(...retries.values());
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      const now = Date.now();
      for (const [rel, until] of retries) {
        if (until > now) continue;
        retries.delete(rel);
        core.observed.set(rel, { version: '', since: 0 }); // due: look at it afresh
      }
      armSweep(0);
      armRetry();
    }, Math.max(0, next - Date.now()));
  };
  // Files that need no look until something happens leave the sweep.
  core.park = {
    waitingForMarker: (rel) => void core.observed.delete(rel),
    retryAt: (rel, until) => {
      core.observed.delete(rel);
      retries.set(rel, until);
      armRetry();
    },
  };

  let lastRescan = 0;
  const sink: FeedSink = {
    matters: (rel) => core.rules.matters(rel),
    changed: (rel, entry) => {
      core.notice(rel, entry);
      core.storeAhead(ctx, Date.now());
      armSweep();
    },
    gone: (rel) => core.gone(rel),
    rescan: (reason) => {
      ctx.problem(reason);
      fullRoundDue = true;
      if (Date.now() - lastRescan < RESCAN_GAP_MS) return;
      lastRescan = Date.now();
      setTimeout(() => void reconcile(), RESCAN_GAP_MS).unref();
    },
    problem: (message) => ctx.problem(message),
  };
  // a polling feed waits for the first round's count of files (see WatchOptions.poll); until then, no events
  let feed: WatchFeed = opts.poll ? { close: async () => undefined } : await opts.startFeed(sink);

  let reconciling: Promise<void> | undefined;
  /** The folders the listing round under way has walked (several passes when it stops at a cursor). */
  let roundFolders = new Map<string, number>();
  /** When the last round that read every folder ended (the next is due FULL_ROUND_EVERY × reconcileMs later). */
  let lastFullRound = 0;
  let fullRoundDue = true;
  /** The round under way reads every folder. */
  let fullRound = false;
  /** After a failed listing (the folder gone), the next one comes sooner than reconcileMs: 1 s, doubling. */
  let retryListingMs = 0;
  let retryListing: NodeJS.Timeout | undefined;
  const reconcile = (): Promise<void> =>
    (reconciling ??= (async () => {
      const resuming = core.moreToList && roundFolders.size > 0;
      if (!resuming) {
        roundFolders = new Map();
        fullRound = fullRoundDue || Date.now() - lastFullRound >= FULL_ROUND_EVERY * opts.reconcileMs;
        if (fullRound) {
          fullRoundDue = false;
          core.stamps.clear();
        }
      }
      let listed = false;
      const onFolder = (rel: string, id: number) => {
        roundFolders.set(rel, id);
        feed.follow?.(rel, id);
      };
      try {
        listed = (await core.listingPass(ctx, 'reconcile', onFolder, true)) !== undefined;
        // the round's first part stopped at its cursor: watch the folders it has not reached from now on
        if (listed && !resuming && core.moreToList) await core.followRest(onFolder).catch(() => undefined);
      } finally {
        // only a whole round knows every folder (a pass that stopped at its cursor walked a part)
        if (!core.moreToList || !listed) feed.sync?.(roundFolders);
        reconciling = undefined;
      }
      if (!listed) {
        roundFolders = new Map();
        fullRoundDue = true;
      } else if (fullRound && !core.moreToList) {
        // counted from its end: a round of a million files can take a minute, and the next full one is not due
        // the moment it ends
        lastFullRound = Date.now();
        fullRound = false;
      }
      clearTimeout(retryListing);
      retryListingMs = listed ? 0 : Math.min(Math.max(1000, retryListingMs * 2), opts.reconcileMs);
      if (!listed && !ctx.signal.aborted) retryListing = setTimeout(() => void reconcile(), retryListingMs);
      // a backlog: list on from the cursor while fewer candidates are held than its pace needs
      else if (core.moreToList && !ctx.signal.aborted && core.listedWaiting() < core.backlogLookahead()) setImmediate(() => void reconcile());
      armSweep();
    })());
  // Files already there at start-up, or that arrived while Ferry was stopped.
  await reconcile();
  const reconcileTimer = setInterval(() => void reconcile(), opts.reconcileMs);
  let folderPollTimer: NodeJS.Timeout | undefined;
  if (opts.poll && !ctx.signal.aborted) {
    const files = core.filesInLastWholeRound;
    if (files !== undefined && files <= opts.poll.perFileUpTo) {
      feed = await opts.startFeed(sink);
      // a file that came between the round and the feed's own first look
      void reconcile();
    } else {
      // files undefined: the first round stopped at its cursor (a backlog), so the tree is large too
      ctx.log.info(
        { source: core.reader.where(), files: files ?? null, perFileUpTo: opts.poll.perFileUpTo, fullListingEveryMs: FULL_ROUND_EVERY * opts.reconcileMs },
        'polling by folder: new, renamed and removed files are seen within pollIntervalMs, a file rewritten in place by the next full listing',
      );
      const { stampsOf } = opts.poll;
      let looking = false;
      // a round when a folder's stamp changed (or when some folder has no trusted stamp: it must be read)
      const pollFolders = async () => {
        if (looking || reconciling || ctx.signal.aborted) return;
        const known = core.stamps.everyFolder();
        if (!known || core.moreToList) return void reconcile();
        looking = true;
        try {
          if (await anyFolderChanged(known, stampsOf)) void reconcile();
        } finally {
          looking = false;
        }
      };
      folderPollTimer = setInterval(() => void pollFolders(), opts.poll.everyMs);
    }
  }

  return async () => {
    clearTimeout(sweepTimer);
    clearTimeout(retryTimer);
    clearTimeout(retryListing);
    clearInterval(reconcileTimer);
    clearInterval(folderPollTimer);
    core.park = undefined;
    await feed.close();
    await core.idle();
  };
}
