// Files that could not be taken wait before the next try: 5 s, doubling up to 5 minutes. A full disk on
// Ferry's side is not the file's fault, so that wait does not grow: the file goes as soon as there is room.
const FIRST_DELAY_MS = 5000;
const MAX_DELAY_MS = 300_000;
const DISK_FULL_DELAY_MS = 2000;
const DISK_FULL = /ENOSPC|SQLITE_FULL|disk is full|no space left/i;

export class FileBackoff {
  private readonly waits = new Map<string, { until: number; delay: number }>();

  /** Records a failure; returns the wait before the next try. */
  fail(rel: string, why: string, now = Date.now()): number {
    const prev = this.waits.get(rel);
    const delay = DISK_FULL.test(why) ? DISK_FULL_DELAY_MS : Math.min(prev ? prev.delay * 2 : FIRST_DELAY_MS, MAX_DELAY_MS);
    this.waits.set(rel, { until: now + delay, delay });
    return delay;
  }

  /** When the file may be tried again, if it is still waiting at `now`. */
  waitingUntil(rel: string, now = Date.now()): number | undefined {
    const w = this.waits.get(rel);
    return w && w.until > now ? w.until : undefined;
  }

  clear(rel: string): void {
    this.waits.delete(rel);
  }

  /** The earliest time a waiting file may be tried again. */
  nextTry(): number | undefined {
    let next: number | undefined;
    for (const { until } of this.waits.values()) if (next === undefined || until < next) next = until;
    return next;
  }
}
