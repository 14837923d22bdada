// Which native notifications to show, decided by a pure class fed with status reports (no electron import):
// new failures only (items that went dead since the last report, a destination unreachable for more than 5
// minutes) and an OAuth connection that needs new consent, at most one per flow (or connection) every 10
// minutes and three in all per 10 minutes, so a flapping destination or a burst of dead items does not bury
// the desktop in toasts.
import type { StatusReport } from '../engine/index.ts';

export interface DesktopNotice {
  /** What the notice is about, e.g. "dead:orders". */
  key: string;
  /** The flow it concerns: one notice per flow at most every `perFlowMs`. */
  flow?: string;
  title: string;
  body: string;
  /** Dashboard route opened when the notice is clicked. */
  route: string;
}

export interface NotifierOptions {
  /** How long a destination must be unreachable before it is worth a notice. */
  unreachableAfterMs?: number;
  /** Minimum gap between two notices about the same flow (default 10 minutes). */
  perFlowMs?: number;
  /** At most `maxPerWindow` notices per `windowMs`; the rest are folded into one summary notice later. */
  maxPerWindow?: number;
  windowMs?: number;
}

export class NotificationLimiter {
  private readonly unreachableAfterMs: number;
  private readonly perFlowMs: number;
  private readonly maxPerWindow: number;
  private readonly windowMs: number;
  /** Dead count per flow at the last report (undefined before the first report: no notice for old dead items). */
  private deadSeen: Map<string, number> | undefined;
  /** Flows whose current unreachable episode was already announced, with its start. */
  private readonly unreachableAnnounced = new Map<string, string>();
  /** Connections whose current "consent needed" episode was already announced. */
  private readonly consentAnnounced = new Set<string>();
  private readonly lastShown = new Map<string, number>();
  private shownAt: number[] = [];
  private suppressed = 0;

  constructor(opts: NotifierOptions = {}) {
    this.unreachableAfterMs = opts.unreachableAfterMs ?? 5 * 60_000;
    this.perFlowMs = opts.perFlowMs ?? 10 * 60_000;
    this.maxPerWindow = opts.maxPerWindow ?? 3;
    this.windowMs = opts.windowMs ?? 10 * 60_000;
  }

  /** Feeds one status report; returns the notices to show now. */
  observe(report: StatusReport, now = Date.now()): DesktopNotice[] {
    const candidates: DesktopNotice[] = [];
    const dead = new Map(report.flows.map((f) => [f.flow, f.counts.dead]));
    if (this.deadSeen) {
      for (const f of report.flows) {
        const added = f.counts.dead - (this.deadSeen.get(f.flow) ?? 0);
        if (added > 0) {
          candidates.push({
            key: `dead:${f.flow}`,
            flow: f.flow,
            title: `${f.flow}: ${added === 1 ? 'an item' : `${added} items`} could not be delivered`,
            body: f.lastError ? `Last error: ${f.lastError}` : 'Open the queue to see why and retry.',
            route: `#/queue?flow=${encodeURIComponent(f.flow)}&state=dead`,
          });
        }
      }
    }
    this.deadSeen = dead;

    for (const f of report.flows) {
      const since = f.destination.health === 'unreachable' ? f.destination.unreachableSince : null;
      if (!since) {
        this.unreachableAnnounced.delete(f.flow);
        continue;
      }
      if (this.unreachableAnnounced.get(f.flow) === since) continue;
      const forMs = now - Date.parse(since);
      if (forMs < this.unreachableAfterMs) continue;
      this.unreachableAnnounced.set(f.flow, since);
      candidates.push({
        key: `unreachable:${f.flow}`,
        flow: f.flow,
        title: `${f.flow}: destination unreachable for ${Math.floor(forMs / 60_000)} min`,
        body: f.lastError ?? `The ${f.destination.type} destination does not answer; items wait and are retried.`,
        route: `#/flows/${encodeURIComponent(f.flow)}`,
      });
    }
    // an OAuth connection that needs new consent: once per episode (it is announced again after a reconnect)
    for (const c of report.connections ?? []) {
      if (c.state !== 'consent_needed') {
        this.consentAnnounced.delete(c.name);
        continue;
      }
      if (this.consentAnnounced.has(c.name)) continue;
      this.consentAnnounced.add(c.name);
      candidates.push({
        key: `consent:${c.name}`,
        title: `Ferry: ${c.name} needs new consent`,
        body: `${c.usedBy.length ? `Deliveries of ${c.usedBy.join(', ')} wait (nothing is lost). ` : ''}Open Connections and click Connect.${c.reason ? ` ${c.reason}` : ''}`,
        route: '#/connections',
      });
    }
    return this.admit(candidates, now);
  }

  private admit(candidates: DesktopNotice[], now: number): DesktopNotice[] {
    this.shownAt = this.shownAt.filter((t) => now - t < this.windowMs);
    const out: DesktopNotice[] = [];
    for (const n of candidates) {
      const subject = n.flow ?? n.key;
      const last = this.lastShown.get(subject);
      // this flow's notice was shown recently: the tray and the dashboard show the rest (no summary either)
      if (last !== undefined && now - last < this.perFlowMs) continue;
      if (this.shownAt.length >= this.maxPerWindow) {
        this.suppressed++;
        continue;
      }
      this.lastShown.set(subject, now);
      this.shownAt.push(now);
      out.push(n);
    }
    // once the window has room again, say how many flows' notices the cap held back instead of replaying each
    if (out.length === 0 && candidates.length === 0 && this.suppressed > 0 && this.shownAt.length < this.maxPerWindow) {
      out.push({ key: 'summary', title: 'Ferry: more problems', body: `${this.suppressed} more notices were held back; open Ferry to see them.`, route: '#/' });
      this.shownAt.push(now);
      this.suppressed = 0;
    }
    return out;
  }
}
