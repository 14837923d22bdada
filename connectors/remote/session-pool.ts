// A per-host connection pool: logged-in sessions are reused between transfers, at most `maxConnections` are
// open, and one that dropped or timed out is discarded (a call on a stale reused one runs again on a fresh one).
import type { RemoteFs, RemoteSession } from './protocol.ts';

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
