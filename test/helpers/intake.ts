// Watches what a file source's intake core looked at and decided (connectors/intake/activity.ts), so tests wait
// for "it looked and decided" instead of sleeping before a "nothing happened" check.
import type { IntakeActivity, IntakeDecision, IntakeEvent } from '../../connectors/intake/activity.ts';
import { waitFor } from './tmp.ts';

export interface IntakeRecorder {
  events: IntakeEvent[];
  /** The position now: waits can count only what happens after it. */
  mark(): number;
  /** The decisions made about one file, in order (from a mark). */
  decisions(rel: string, from?: number): IntakeDecision[];
  /** Waits until `rel` got `decision` `times` times after `from`. */
  decided(rel: string, decision: IntakeDecision, opts?: { from?: number; times?: number; timeoutMs?: number }): Promise<void>;
  /**
   * Waits until a listing after `from` found `rel` taken already: decided "remembered", or its folder skipped
   * as unchanged since all its files were found taken (see connectors/intake/clean-listings.ts).
   */
  foundTaken(rel: string, opts?: { from?: number; timeoutMs?: number }): Promise<void>;
  /** Folders skipped as unchanged after `from`. */
  unchangedFolders(from?: number): string[];
  /** Waits until `n` passes (of one kind, if given) ended after `from`; returns them. */
  passes(n: number, opts?: { from?: number; pass?: 'scan' | 'second-look' | 'sweep' | 'reconcile'; timeoutMs?: number }): Promise<Array<Extract<IntakeEvent, { type: 'pass' }>>>;
  /** Passes (of one kind, if given) that ended after `from`, so far. */
  passesSince(from: number, pass?: 'scan' | 'second-look' | 'sweep' | 'reconcile'): number;
  stop(): void;
}

/** Records a source's intake events from now on (`source.activity` of a folder, FTP or SFTP source). */
export function recordIntake(source: unknown): IntakeRecorder {
  const activity = (source as { activity: IntakeActivity }).activity;
  const events: IntakeEvent[] = [];
  const stop = activity.on((e) => events.push(e));
  const decisions = (rel: string, from = 0) =>
    events.slice(from).flatMap((e) => (e.type === 'decision' && e.rel === rel ? [e.decision] : []));
  const passesSince = (from: number, pass?: string) =>
    events.slice(from).filter((e): e is Extract<IntakeEvent, { type: 'pass' }> => e.type === 'pass' && (pass === undefined || e.pass === pass));
  const unchangedFolders = (from = 0) => events.slice(from).flatMap((e) => (e.type === 'unchanged-listing' ? [e.relDir] : []));
  return {
    events,
    unchangedFolders,
    async foundTaken(rel, opts = {}) {
      const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
      const found = () => decisions(rel, opts.from).includes('remembered') || unchangedFolders(opts.from).includes(dir);
      await waitFor(found, `${rel} found taken`, opts.timeoutMs ?? 30_000, 10);
    },
    mark: () => events.length,
    passesSince: (from, pass) => passesSince(from, pass).length,
    decisions,
    stop,
    async decided(rel, decision, opts = {}) {
      const times = opts.times ?? 1;
      await waitFor(() => decisions(rel, opts.from).filter((d) => d === decision).length >= times, `${rel} decided "${decision}"${times > 1 ? ` ${times} times` : ''}`, opts.timeoutMs ?? 30_000, 10);
    },
    async passes(n, opts = {}) {
      return waitFor(() => (passesSince(opts.from ?? 0, opts.pass).length >= n ? passesSince(opts.from ?? 0, opts.pass) : undefined), `${n} ${opts.pass ?? ''} passes`, opts.timeoutMs ?? 30_000, 10);
    },
  };
}
