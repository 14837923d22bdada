// When a scheduled flow missed a tick: the first tick after its last run (or, never run, after it was first
// seen) that is already past. Used at start-up (Ferry was off) and on wake-up (the machine slept), so both
// read the cron expression the same way the scheduler does (cron-parser, in the flow's time zone).
import { CronExpressionParser } from 'cron-parser';

/** The missed tick (epoch ms) of `schedule` since `since`, or undefined when none is due by `now`. */
export function missedTick(schedule: string, timezone: string | undefined, since: number, now = Date.now()): number | undefined {
  const next = CronExpressionParser.parse(schedule, { currentDate: new Date(since), tz: timezone }).next().getTime();
  return next <= now ? next : undefined;
}
