// One meaning of a cron expression for the scheduler, catch-up, the dashboard's preview and the status.
//
// cron-parser interprets: POSIX's rule when both day fields are restricted (a day matches when either matches:
// `0 6 1 * 1` runs on the 1st and on every Monday), and wall-clock DST as cron does (a time that a spring-forward
// gap skips runs at the gap's end; a time that a fall-back hour repeats runs once, the first time).
// node-cron keeps the clock: it wakes Ferry at every time that could be a tick (the expression's seconds and
// minutes of every hour), and a wake runs the flow only when the interpretation above names that very time.
// node-cron's own matching requires both day fields and skips or moves DST times differently, so it never
// decides alone.
import type { ScheduledTask } from 'node-cron';
import type { CronExpression } from 'cron-parser';
import { cronParserLib, nodeCronLib } from './optional-modules.ts';

/** Why an expression cannot be used, in one line; undefined when it is fine. */
export function cronProblem(expr: string): string | undefined {
  if (!expr.trim()) return 'expected a cron expression like "*/5 * * * *"';
  const v = nodeCronLib().validateDetailed(expr);
  if (!v.valid) return `expected a cron expression, got ${JSON.stringify(expr)} (${v.errors.map((e) => `${e.field}: ${e.message}`).join('; ')})`;
  try {
    cronParserLib().CronExpressionParser.parse(expr, { tz: 'UTC' });
  } catch (err) {
    return `expected a cron expression, got ${JSON.stringify(expr)} (${(err as Error).message})`;
  }
  return undefined;
}

/** True when `tz` is an IANA time zone this machine knows. */
export function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const HOUR = 3_600_000;
const QUARTER_HOUR = 900_000;
const offsetFormats = new Map<string, Intl.DateTimeFormat>();
/** Offsets by zone and quarter hour (zones change offset only on quarter hours); bounded. */
const offsetMemo = new Map<string, number>();

/** The zone's UTC offset at `at`, in minutes (+120 for Berlin in summer). */
export function utcOffsetMinutes(at: Date, timezone: string): number {
  const key = `${timezone} ${Math.floor(at.getTime() / QUARTER_HOUR)}`;
  const known = offsetMemo.get(key);
  if (known !== undefined) return known;
  let fmt = offsetFormats.get(timezone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone: timezone, timeZoneName: 'longOffset' });
    offsetFormats.set(timezone, fmt);
  }
  const name = fmt.formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  const minutes = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) : 0;
  if (offsetMemo.size >= 4096) offsetMemo.clear();
  offsetMemo.set(key, minutes);
  return minutes;
}

/** A cron expression in a time zone (default: the machine's), as Ferry interprets it everywhere. */
export class CronSchedule {
  readonly expr: string;
  readonly timezone: string;

  constructor(expr: string, timezone?: string) {
    const problem = cronProblem(expr);
    if (problem) throw new Error(problem);
    this.expr = expr;
    this.timezone = timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  }

  private parsed?: CronExpression;

  /** The parsed expression, moved to `after` (one instance: parsing costs more than the walk). */
  private iterator(after: Date): CronExpression {
    this.parsed ??= cronParserLib().CronExpressionParser.parse(this.expr, { currentDate: after, tz: this.timezone });
    this.parsed.reset(after);
    return this.parsed;
  }

  /**
   * The first tick strictly after `after`. cron-parser's answer depends on where it starts inside a DST change
   * (started in a repeated hour's second pass it names that pass's times; started just after a spring gap it
   * forgets the run the gap moved), so near a change the ticks are walked from three hours before: every caller
   * then sees the same ticks whatever time it asks at.
   */
  next(after: Date): Date {
    const candidate = this.iterator(after).next().toDate();
    const from = new Date(after.getTime() - 3 * HOUR);
    if (utcOffsetMinutes(from, this.timezone) === utcOffsetMinutes(candidate, this.timezone)) return candidate;

    const it = this.iterator(from);
    for (;;) {
      const t = it.next().toDate();
      if (t.getTime() > after.getTime()) return t;
    }
  }

  /** The next `count` ticks strictly after `after`. */
  nextRuns(after: Date, count: number): Date[] {
    const out: Date[] = [];
    let t = after;
    for (let i = 0; i < count; i++) out.push((t = this.next(t)));
    return out;
  }

  private hours?: Set<number>;

  /** True when `at` (whole seconds) is a tick. */
  isTick(at: Date): boolean {
    // cheap refusal of most wakes: away from a DST change a tick's local hour is one the expression names
    this.hours ??= new Set(cronParserLib().CronExpressionParser.parse(this.expr).fields.hour.values.map(Number));
    const offset = utcOffsetMinutes(at, this.timezone);
    const localHour = new Date(at.getTime() + offset * 60_000).getUTCHours();
    if (!this.hours.has(localHour) && offset === utcOffsetMinutes(new Date(at.getTime() - 3 * HOUR), this.timezone)) return false;
    return this.next(new Date(at.getTime() - 1000)).getTime() === at.getTime();
  }

  /** The tick a process that last ran at `since` has missed by `now`, if any (catch-up runs it once). */
  missedSince(since: Date, now: Date): Date | undefined {
    const first = this.next(since);
    return first.getTime() <= now.getTime() ? first : undefined;
  }

  /**
   * node-cron's wake-up pattern, in UTC: the expression's seconds and minutes of every hour (every minute in a
   * zone whose offset is not whole hours). Every tick is one of these times, and the gate in start() keeps only
   * the ticks. UTC, because node-cron in a local zone never wakes in the first pass of a repeated hour.
   */
  wakePattern(): string {
    const fields = cronParserLib().CronExpressionParser.parse(this.expr, { tz: this.timezone }).fields;
    const year = new Date().getUTCFullYear();
    const wholeHours = [0, 6].every((month) => utcOffsetMinutes(new Date(Date.UTC(year, month, 1)), this.timezone) % 60 === 0);
    return `${fields.second.values.join(',')} ${wholeHours ? fields.minute.values.join(',') : '*'} * * * *`;
  }

  /**
   * Calls `onTick` at every tick until the returned handle is stopped. node-cron's clock wakes at each
   * candidate time; a wake that is not a tick of this schedule does nothing.
   */
  start(onTick: (at: Date) => void, opts: { name?: string } = {}): RunningSchedule {
    const task: ScheduledTask = nodeCronLib().schedule(
      this.wakePattern(),
      (ctx) => {
        const at = new Date(Math.floor(ctx.date.getTime() / 1000) * 1000);
        if (this.isTick(at)) onTick(at);
      },
      { timezone: 'Etc/UTC', name: opts.name, noOverlap: true, suppressMissedWarning: true },
    );
    return {
      nextRun: () => this.next(new Date()),
      stop: async () => {
        await task.destroy();
      },
    };
  }
}

export interface RunningSchedule {
  /** The next tick after now. */
  nextRun(): Date;
  stop(): Promise<void>;
}
