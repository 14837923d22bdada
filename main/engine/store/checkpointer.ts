// WAL checkpoints whose fsyncs run off the engine's thread. SQLite's automatic checkpoint runs inside the
// commit that crosses its threshold: it copies the WAL's pages back into the database file and fsyncs that
// file on the engine's one thread, so an intake commit now and then waited 50–800 ms on a busy disk. Copying
// pages is cheap (the OS page cache takes them); the fsyncs are what wait. Here, once the WAL holds
// `minFrames` frames not yet copied back, a cycle:
//   1. pins the WAL: a read transaction on a second connection, so no writer (in this process or another)
//      can restart the WAL and overwrite its frames while the copies below are not yet on disk (SQLite only
//      restarts a WAL that no reader uses);
//   2. fsyncs the WAL on libuv's thread pool (commits made with synchronous=NORMAL, leases for example, are
//      then durable before pages built from them reach the database file);
//   3. copies the pinned frames into the database file with a PASSIVE checkpoint that does not fsync;
//   4. fsyncs the database file on the thread pool;
//   5. lets the pin go: the copied frames may now be overwritten.
// A power cut anywhere in between leaves every pinned frame in the WAL, from which SQLite recovers. The WAL
// only restarts when a writer finds every frame copied and nobody pinning; under steady intake new frames
// arrive during every fsync, so once the WAL holds `restartFrames` a cycle ends with an ordinary fsynced
// checkpoint of what arrived meanwhile (a small one) and the next commit starts the WAL from its beginning.
// No worker thread: a V8 isolate for checkpoints cost 16 MB of RSS.
import fs from 'node:fs';
import os from 'node:os';
import Database from 'better-sqlite3';
import type { Db } from './db.ts';

/** The longest wait between looks while nothing is committed. */
const IDLE_LOOK_MS = 1600;

type Fsync = (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;

export interface CheckpointerOptions {
  /** How often to look for committed frames to copy back. */
  intervalMs?: number;
  /** WAL frames past which a cycle ends with an fsynced checkpoint, so the WAL restarts. */
  restartFrames?: number;
  /**
   * Frames not yet copied back that start a cycle (SQLite's own default threshold: 1,000 pages, 4 MB). Fewer
   * stay in the WAL, as with SQLite's automatic checkpoint: a page written again soon is copied back once.
   */
  minFrames?: number;
  /** The fsync used for the two files (tests hold it to look at the WAL in between). */
  fsync?: Fsync;
  /**
   * Told when a cycle fails (a full disk, a failed fsync), once until one succeeds again. Cycles go on; a copy
   * whose database fsync failed keeps the WAL pinned (never overwritten) until an fsync succeeds.
   */
  onError?: (err: Error) => void;
}

export interface CheckpointStats {
  /** Times the timer looked for committed frames. */
  looks: number;
  cycles: number;
  /** Frames copied back without blocking on an fsync. */
  framesCopied: number;
  /** Cycles that ended with an fsynced checkpoint (WAL restart points). */
  restartSteps: number;
  /** The longest the engine's thread spent in one copy or restart step, ms. */
  longestStepMs: number;
  /** The longest wait for the two fsyncs of one cycle (off the engine's thread), ms. */
  longestFsyncMs: number;
  /** The longest restart step (a checkpoint with its fsyncs on the thread), ms. */
  longestRestartMs: number;
}

export interface WalPosition {
  generation: number;
  frames: number;
}

interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export class Checkpointer {
  private readonly db: Db;
  private readonly pin: Db;
  private readonly walFd: number;
  private readonly dbFd: number;
  private readonly fsync: Fsync;
  private readonly restartFrames: number;
  private readonly minFrames: number;
  private readonly shmFd: number;
  private readonly shmHead = Buffer.alloc(4);
  private timer?: NodeJS.Timeout;
  private readonly intervalMs: number;
  /** The wait before the next look (see schedule). */
  private delayMs: number;
  /** data_version at the last look. */
  private lookedVersion = -1;
  private readonly stmts;
  /** The pin connection's data_version when the last cycle began (changes when another connection commits). */
  private seenVersion = -1;
  private running?: Promise<void>;
  private closed = false;
  /** The last cycle failed (told once until a cycle succeeds again). */
  private failing = false;
  /** A copy whose database fsync failed: its pin is held until an fsync succeeds. */
  private unsynced = false;
  /** The last cycle's checkpoint figures (frames in the WAL, frames copied): the next one's are counted from them. */
  private last = { log: 0, checkpointed: 0 };
  private readonly onError: (err: Error) => void;
  readonly stats: CheckpointStats = { looks: 0, cycles: 0, framesCopied: 0, restartSteps: 0, longestStepMs: 0, longestFsyncMs: 0, longestRestartMs: 0 };

  constructor(db: Db, opts: CheckpointerOptions = {}) {
    this.db = db;
    this.fsync = opts.fsync ?? fs.fsync;
    this.onError = opts.onError ?? (() => undefined);
    this.restartFrames = opts.restartFrames ?? 16_384;
    this.minFrames = opts.minFrames ?? 1000;
    const file = db.name;
    // SQLite no longer checkpoints inside commits on this connection: the cycles below do it
    db.pragma('wal_autocheckpoint = 0');
    this.pin = new Database(file, { fileMustExist: true });
    this.pin.pragma('busy_timeout = 10000');
    // fsync needs a handle that may write on Windows (FlushFileBuffers); nothing is written through these
    this.dbFd = fs.openSync(file, 'r+');
    this.walFd = fs.openSync(`${file}-wal`, fs.constants.O_RDWR | fs.constants.O_CREAT);
    // the wal-index (https://www.sqlite.org/walformat.html): frames in the WAL and frames copied back, read
    // without a checkpoint call; the pin connection has made it exist
    this.pin.prepare('SELECT 1 FROM sqlite_schema LIMIT 1').get();
    this.shmFd = fs.openSync(`${file}-shm`, 'r');
    this.stmts = {
      version: this.pin.prepare('PRAGMA data_version').pluck(),
      begin: this.pin.prepare('BEGIN'),
      // a read starts the transaction's snapshot: from here the pinned frames are those committed so far
      read: this.pin.prepare('SELECT 1 FROM sqlite_schema LIMIT 1'),
      end: this.pin.prepare('COMMIT'),
      syncOff: db.prepare('PRAGMA synchronous = OFF'),
      syncFull: db.prepare('PRAGMA synchronous = FULL'),
      checkpoint: db.prepare('PRAGMA wal_checkpoint(PASSIVE)'),
    };
    this.intervalMs = opts.intervalMs ?? 100;
    this.delayMs = this.intervalMs;
    this.schedule();
  }

  /**
   * Looks every intervalMs while commits come; after a look that finds none, twice as long each time, up to
   * IDLE_LOOK_MS: an idle engine is not woken ten times a second. The first commit after a quiet spell waits
   * at most that long to be seen (it is durable already: only its copy back into the database waits).
   */
  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.stats.looks++;
      const version = this.stmts.version.get() as number;
      const quiet = version === this.lookedVersion && !this.unsynced;
      this.lookedVersion = version;
      this.delayMs = quiet ? Math.min(IDLE_LOOK_MS, this.delayMs * 2) : this.intervalMs;
      void this.cycle();
      this.schedule();
    }, this.delayMs);
    this.timer.unref();
  }

  /**
   * Runs one cycle now unless one is running (then waits for it); resolves when its fsyncs are done. `minFrames`
   * below the usual threshold copies back smaller batches (background work between its steps: each copy and
   * each fsync stays short, and so does the WAL an intake commit must fsync with its own frames).
   */
  cycle(minFrames = this.minFrames): Promise<void> {
    if (this.running) return this.running;
    if (this.closed) return Promise.resolve();
    const version = this.stmts.version.get() as number;
    // nothing committed since the last cycle, and nothing left over from a failed one
    if (version === this.seenVersion && !this.unsynced) return Promise.resolve();
    if (!this.unsynced && this.uncopiedFrames() < minFrames) return Promise.resolve(); // looked at again next tick
    this.seenVersion = version;
    const running = this.copyBack()
      .then(() => {
        this.failing = false;
      })
      .catch((err: Error) => {
        this.seenVersion = -1; // tried again at the next tick
        if (!this.failing) this.onError(err); // once per spell of failures (a full disk fails every tick)
        this.failing = true;
      })
      .finally(() => (this.running = undefined));
    this.running = running;
    return running;
  }

  /** Resolves when no cycle is running (its fsyncs done). */
  settled(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async copyBack(): Promise<void> {
    this.stats.cycles++;
    if (this.unsynced) {
      // the last copy's database fsync failed: its pin is still held; the copy is on disk once one succeeds
      await this.fsyncOf(this.dbFd);
      this.unsynced = false;
      this.stmts.end.run();
      return;
    }
    this.stmts.begin.run();
    try {
      this.stmts.read.get();
      const t0 = performance.now();
      await this.fsyncOf(this.walFd);
      let fsyncMs = performance.now() - t0;
      if (this.closed) return;
      // a copy that fails (a full disk) leaves SQLite's record of copied frames as it was: tried again later
      const copied = this.step(() => this.checkpoint(false));
      // PASSIVE stops at the oldest frame a reader still needs: the pin's, or an older one in another process.
      // Its figures are totals for the WAL since it last restarted.
      const sameWal = copied.log >= this.last.log && copied.checkpointed >= this.last.checkpointed;
      this.stats.framesCopied += copied.checkpointed - (sameWal ? this.last.checkpointed : 0);
      this.last = copied;
      if (copied.checkpointed > 0) {
        const t1 = performance.now();
        try {
          await this.fsyncOf(this.dbFd);
        } catch (err) {
          // Copied pages may not be on disk: the pin stays until an fsync succeeds, so no writer overwrites
          // the frames they came from (SQLite recovers from the WAL after a power cut). The WAL grows meanwhile.
          this.unsynced = true;
          throw err;
        }
        fsyncMs += performance.now() - t1;
      }
      this.stats.longestFsyncMs = Math.max(this.stats.longestFsyncMs, fsyncMs);
    } finally {
      if (!this.unsynced) this.stmts.end.run();
    }
    if (this.closed || this.last.log < this.restartFrames) return;
    // what arrived during the fsyncs, copied and fsynced the ordinary way: every frame is then in the
    // database file, on disk, and the next commit starts the WAL from its beginning
    const t2 = performance.now();
    this.step(() => this.checkpoint(true));
    this.stats.restartSteps++;
    this.stats.longestRestartMs = Math.max(this.stats.longestRestartMs, performance.now() - t2);
  }

  /** mxFrame (offset 16 of the wal-index header) less nBackfill (offset 96). */
  private uncopiedFrames(): number {
    return Math.max(0, this.walIndexField(16) - this.walIndexField(96));
  }

  /**
   * Where writers are in the WAL: its generation (the first salt, which changes at each restart) and the frames
   * appended since that restart (mxFrame). Frames written between two looks are the difference of the frames
   * when the generation is the same, else the later count.
   */
  walPosition(): WalPosition {
    return this.closed ? { generation: 0, frames: 0 } : { generation: this.walIndexField(32), frames: this.walIndexField(16) };
  }

  /** A 32-bit field of the wal-index header, in the machine's byte order. */
  private walIndexField(offset: number): number {
    if (fs.readSync(this.shmFd, this.shmHead, 0, 4, offset) !== 4) return 0;
    return os.endianness() === 'LE' ? this.shmHead.readUInt32LE(0) : this.shmHead.readUInt32BE(0);
  }

  private checkpoint(synced: boolean): CheckpointResult {
    if (synced) return this.stmts.checkpoint.get() as CheckpointResult;
    this.stmts.syncOff.run();
    try {
      return this.stmts.checkpoint.get() as CheckpointResult;
    } finally {
      this.stmts.syncFull.run();
    }
  }

  private step<T>(fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.stats.longestStepMs = Math.max(this.stats.longestStepMs, performance.now() - t0);
    }
  }

  private fsyncOf(fd: number): Promise<void> {
    return new Promise((resolve, reject) => this.fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  /**
   * Stops the cycles and waits for the running one; closes the pin connection and the file handles. The
   * engine's connection then closes as the last one, which checkpoints the WAL (fsynced) and removes it.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
    // a copy whose fsync failed is still pinned: the engine's close then checkpoints with SQLite's own fsyncs
    if (this.pin.inTransaction) this.stmts.end.run();
    this.pin.close();
    fs.closeSync(this.dbFd);
    fs.closeSync(this.walFd);
    fs.closeSync(this.shmFd);
  }
}
