// What a UI asks of a running engine (the tray's menu, the admin API's flow actions, the desktop's power
// events): pause or resume flows, scan now, wake up after sleep, read the recent problems. One place, so each
// action is recorded in the activity log the same way whoever asked, and no UI reaches into the flows itself.
import path from 'node:path';
import type { Engine } from './engine.ts';
import { missedTick } from './catch-up.ts';

/** Pauses or resumes deliveries of the named flows (all when none are named); returns the flows changed. */
export function setFlowsPaused(engine: Engine, paused: boolean, names?: string[]): string[] {
  const changed: string[] = [];
  for (const flow of engine.flows.values()) {
    if (names && !names.includes(flow.name)) continue;
    flow.setPaused(paused);
    changed.push(flow.name);
  }
  if (engine.admin) engine.admin.statusCache = undefined; // the next GET /api/status shows it
  const single = names?.length === 1 ? names[0] : null;
  engine.queue.addEvent('flow', single, null, { action: single ? (paused ? 'pause' : 'resume') : paused ? 'pause all' : 'resume all' });
  return changed;
}

/** Scans every enabled, unpaused flow now and retries what waits for a retry: the tray's "Sync now". */
export function syncNow(engine: Engine): string[] {
  const scanned: string[] = [];
  for (const flow of engine.flows.values()) {
    if (!flow.cfg.enabled || flow.paused) continue;
    void flow.runScan('sync now');
    scanned.push(flow.name);
  }
  engine.retry({ state: 'retrying' });
  engine.queue.addEvent('flow', null, null, { action: 'sync now', flows: scanned });
  return scanned;
}

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

/** The last dead items (newest first), for a tray's "last problems". */
export function recentDeadItems(engine: Engine, limit = 5): Array<{ flow: string; itemId: number; name: string; message: string }> {
  return engine.queue.list({ state: 'dead', limit }).map((i) => ({ flow: i.flow, itemId: i.id, name: i.name, message: i.last_error ?? 'could not be delivered' }));
}

/** Where the engine writes its logs. */
export function logsDir(engine: Engine): string {
  return path.join(engine.dataDir, 'logs');
}
