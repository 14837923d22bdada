// One meaning of a cron expression: the scheduler (node-cron's clock, run here under fake timers), catch-up,
// the dashboard's preview (the engine API's nextRuns, which GET /api/schedule/next maps to) and the status's next run agree on every tick of a year, in two
// time zones, across both DST changes, and with both day fields restricted (POSIX: either day matches).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CronSchedule, cronProblem } from '../../main/engine/schedule.ts';
import { nextRuns } from '../../main/engine/api/config-ops.ts';

const YEAR_START = Date.parse('2026-01-01T00:00:00Z');
const YEAR_END = Date.parse('2027-01-01T00:00:00Z');

/** The dashboard's preview of the next `count` runs, computed at the (fake) current time. */
function preview(expr: string, timezone: string, count: number): string[] {
  const reply = nextRuns(expr, timezone, count);
  expect(reply.ok).toBe(true);
  return reply.times;
}

/** Runs the real scheduler over the year under fake timers; returns each tick's time and the next run reported after it. */
async function runYear(schedule: CronSchedule): Promise<Array<{ at: number; nextAfter: number }>> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(YEAR_START);
  const fired: Array<{ at: number; nextAfter: number }> = [];
  const running = schedule.start((at) => fired.push({ at: at.getTime(), nextAfter: running.nextRun().getTime() }));
  try {
    while (Date.now() < YEAR_END) await vi.advanceTimersToNextTimerAsync();
  } finally {
    await running.stop();
    vi.useRealTimers();
  }
  return fired.filter((f) => f.at < YEAR_END);
}

afterEach(() => vi.useRealTimers());

const cases: Array<[string, string, string]> = [
  ['0 6 1 * 1', 'Europe/Berlin', 'both day fields: the 1st and every Monday'],
  ['0 6 1 * 1', 'America/New_York', 'both day fields: the 1st and every Monday'],
  ['30 2 * * *', 'Europe/Berlin', '02:30 falls in the spring gap and repeats in the autumn'],
  ['30 2 * * *', 'America/New_York', '02:30 falls in the spring gap'],
  ['30 1 * * *', 'America/New_York', '01:30 repeats in the autumn'],
  ['*/20 2 * * 0', 'Europe/Berlin', 'every 20 minutes of 2 a.m. on Sundays, the days the clocks change'],
  ['15 0 3 * * *', 'America/New_York', 'six fields, with seconds'],
];

describe('a cron expression means one thing everywhere', () => {
  for (const [expr, tz, what] of cases) {
    it(`${expr} in ${tz}: ${what}`, async () => {
      const schedule = new CronSchedule(expr, tz);
      const expected: number[] = [];
      for (let t = schedule.next(new Date(YEAR_START)); t.getTime() < YEAR_END; t = schedule.next(t)) expected.push(t.getTime());
      expect(expected.length).toBeGreaterThan(12);

      const fired = await runYear(schedule);
      // the scheduler runs exactly the interpreted ticks, each once
      expect(fired.map((f) => new Date(f.at).toISOString())).toEqual(expected.map((t) => new Date(t).toISOString()));
      // the status's next run, written after each tick, is the following tick
      for (let i = 0; i + 1 < fired.length; i++) expect(fired[i].nextAfter).toBe(expected[i + 1]);

      vi.useFakeTimers({ toFake: ['Date'] });
      for (let i = 0; i + 1 < expected.length; i++) {
        // catch-up: a process that last ran at one tick and starts again at the next runs that one, not before
        expect(schedule.missedSince(new Date(expected[i]), new Date(expected[i + 1]))?.getTime()).toBe(expected[i + 1]);
        expect(schedule.missedSince(new Date(expected[i]), new Date(expected[i + 1] - 1000))).toBeUndefined();
        // the preview, asked just after a tick, lists the ticks that follow
        vi.setSystemTime(expected[i]);
        expect(preview(expr, tz, Math.min(3, expected.length - i - 1))).toEqual(expected.slice(i + 1, i + 4).map((t) => new Date(t).toISOString()));
      }
    });
  }

  it('runs a DST-skipped time at the gap\'s end and a repeated time once (as cron does)', () => {
    const berlin = new CronSchedule('30 2 * * *', 'Europe/Berlin');
    // 2026-03-29: clocks go 02:00 → 03:00; the 02:30 run happens at 03:30 CEST
    expect(berlin.next(new Date('2026-03-28T12:00:00Z')).toISOString()).toBe('2026-03-29T01:30:00.000Z');
    // 2026-10-25: 02:30 happens twice; it runs at the first (CEST)
    expect(berlin.nextRuns(new Date('2026-10-24T12:00:00Z'), 2).map((d) => d.toISOString())).toEqual(['2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
  });

  it('gives one clear reason for an expression it cannot use', () => {
    expect(cronProblem('* * * *')).toMatch(/expected 5 or 6 fields/);
    expect(cronProblem('61 * * * *')).toMatch(/minute/);
    expect(cronProblem('0 0 1W * *')).toMatch(/1W/);
    expect(cronProblem('')).toMatch(/expected a cron expression/);
    expect(cronProblem('0 6 1 * 1')).toBeUndefined();
  });
});
