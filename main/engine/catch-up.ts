// When a scheduled flow missed a tick: the first tick after its last run (or, never run, after it was first
// seen) that is already past. Used at start-up (Ferry was off) and on wake-up (the machine slept), through the
// one interpretation of a cron expression that the scheduler uses (schedule.ts).
import { CronSchedule } from './schedule.ts';

/** The missed tick (epoch ms) of `schedule` since `since`, or undefined when none is due by `now`. */
export function missedTick(schedule: string, timezone: string | undefined, since: number, now = Date.now()): number | undefined {
  return new CronSchedule(schedule, timezone).missedSince(new Date(since), new Date(now))?.getTime();
}
