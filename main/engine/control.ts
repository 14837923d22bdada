// What the machine tells a running engine (the desktop's power events): it is going to sleep, it woke up.
// What a UI asks of it (pause, resume, sync now, recent problems) is in the engine API (./api/).
import path from 'node:path';
import type { Engine } from './engine.ts';
import { missedTick } from './catch-up.ts';

/** The machine is about to sleep: noted, so the wake-up can say how long it slept. */
export function noteSuspend(engine: Engine, now = Date.now()): void {
  engine.queue.addEvent('system', null, null, { action: 'suspend' });
  engine.log.info('the machine is going to sleep');
  suspendedAt.set(engine, now);
}

const suspendedAt = new WeakMap<Engine, number>();

/**
 * The machine woke up: file watchers may have missed changes while it slept (network shares drop them) and
 * timers did not fire. Every watched flow rescans its source; every scheduled flow with catchUp whose tick
 * passed while asleep runs it once now; retries that came due go out.
 */
export function resumeAfterSleep(engine: Engine, now = Date.now()): { rescanned: string[]; caughtUp: string[] } {
  const rescanned: string[] = [];
  const caughtUp: string[] = [];
  if (!engine.running) return { rescanned, caughtUp };
  for (const flow of engine.flows.values()) {
    if (!flow.cfg.enabled) continue;
    const trigger = flow.cfg.trigger;
    if ('on' in trigger) {
      void flow.runScan('rescan after sleep');
      rescanned.push(flow.name);
    } else if (trigger.catchUp) {
      const state = engine.flowStates.get(flow.name);
      const since = state?.last_run_at ?? state?.first_seen_at ?? now;
      if (missedTick(trigger.schedule, trigger.timezone, since, now) !== undefined) {
        void flow.runScan('catch-up after sleep');
        caughtUp.push(flow.name);
      }
    }
    flow.wake();
  }
  const slept = suspendedAt.get(engine);
  suspendedAt.delete(engine);
  engine.queue.addEvent('system', null, null, { action: 'resume', sleptMs: slept === undefined ? null : now - slept, rescanned, caughtUp });
  engine.log.info({ rescanned, caughtUp }, 'the machine woke up: sources rescanned, missed schedule ticks run');
  return { rescanned, caughtUp };
}


/** Where the engine writes its logs. */
export function logsDir(engine: Engine): string {
  return path.join(engine.dataDir, 'logs');
}
