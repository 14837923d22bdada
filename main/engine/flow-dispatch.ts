// A flow's dispatcher: leases ready items (ahead, in one transaction per batch), sends them through the
// destination within its concurrency, turns each outcome into a settlement (delivered, retry with backoff,
// dead, or released at shutdown), commits outcomes in groups, and sleeps while the queue has nothing ready.
import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage, type DeliveryOutcome, type Destination, type Source } from '../../connectors/contract.ts';
import type { FlowConfig } from './config/schema.ts';
import type { Logger } from './logger.ts';
import type { LeasedItem, LeaseOrdering, Settlement } from './store/queue.ts';
import { CircuitBreaker, nextAttemptAt } from './backoff.ts';
import { outcomeOfThrown } from './failures.ts';
import type { FlowCounters } from './telemetry.ts';
import { outgoingItem, parentAttributes, type LeasedRow } from './flow-items.ts';
import type { FlowDeps, FlowRuntimeState } from './flow.ts';
import type { SyncCallers } from './flow-sync-calls.ts';
import type { AfterDeliveryItem, AfterDeliveryRuns } from './flow-after-delivery.ts';

export const LEASE_MS = 10 * 60_000;
/** How soon a delivery outcome whose commit failed is written again. */
const OUTCOME_RETRY_MS = 2000;
const IDLE_POLL_MS = 1000;
/** An idle flow still looks at its queue this often, whatever else happened. */
const IDLE_RECHECK_MS = 10_000;
const PREFETCH = 16;
/**
 * Inline bodies of a leased batch are read with it, in one statement, up to this many bytes (the rest, and
 * bodies in the content store, are read when sent): reading them one by one cost a statement and a read
 * transaction per item.
 */
const LEASED_BODIES_BYTES = 4 * 1024 * 1024;

/** What the dispatcher needs of its flow. */
export interface DispatchHost {
  readonly name: string;
  readonly cfg: FlowConfig;
  readonly source: Source;
  readonly destination: Destination;
  readonly breaker: CircuitBreaker;
  readonly facts: FlowRuntimeState;
  readonly counters: FlowCounters;
  readonly log: Logger;
  readonly deps: FlowDeps;
  readonly paused: boolean;
  readonly stopping: boolean;
  /** Set when the flow has `process:` (parts of a file carry their parent's key). */
  readonly processes: boolean;
  /** Aborted when the flow stops taking new work. */
  readonly intakeSignal: AbortSignal;
  readonly callers: SyncCallers;
  readonly after: AfterDeliveryRuns;
  noteError(message: string): void;
  runAfterDelivery(item: AfterDeliveryItem): void;
  afterParentSettled(parentKey: string, name: string, attributes: Record<string, any>): void;
}

export class Dispatcher {
  private readonly host: DispatchHost;
  readonly concurrency: number;
  readonly ordering: LeaseOrdering;
  /** Items being sent now (a stop's grace period over, sendAbort interrupts them all). */
  private readonly inFlight = new Set<number>();
  /** Leased but not yet started. */
  private readonly buffered: LeasedRow[] = [];
  /** Aborted after the stop's grace period: deliveries still in flight are interrupted. */
  private readonly sendAbort = new AbortController();
  private wakeResolve?: () => void;
  /** Set while the queue had nothing ready: the data version then, since when, and the next retry's time. */
  private idle?: { version: number; since: number; retryAt?: number };

  constructor(host: DispatchHost) {
    this.host = host;
    this.concurrency = host.destination.concurrency ?? 1;
    // every delivery in flight listens to this one signal (up to the destination's concurrency, and sync calls)
    setMaxListeners(0, this.sendAbort.signal);
    this.ordering = host.cfg['fifo-by'] ? 'group' : host.cfg.ordering === 'fifo' ? 'fifo' : 'none';
  }

  /** True while the dispatcher found nothing ready and skips its lease transaction until a sign of new work. */
  get isIdle(): boolean {
    return this.idle !== undefined && this.buffered.length === 0 && this.inFlight.size === 0;
  }

  get runningCount(): number {
    return this.inFlight.size;
  }

  runningIds(): number[] {
    return [...this.inFlight, ...this.buffered.map((r) => r.id)];
  }

  /** Interrupts the deliveries still in flight (the stop's grace period is over). */
  interrupt(): void {
    this.sendAbort.abort();
  }

  /** There may be new work in the queue (items queued, retries rescheduled, another process wrote): look. */
  wake(): void {
    this.idle = undefined;
    this.nudge();
  }

  /** A delivery slot freed or leases were handed over: go on, but the queue itself holds nothing new. */
  nudge(): void {
    const r = this.wakeResolve;
    this.wakeResolve = undefined;
    r?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeResolve = undefined;
        resolve();
      }, ms);
      this.wakeResolve = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** How many new items intake may insert already leased to this dispatcher (`pending` are being inserted). */
  directLeaseRoom(pending: number): number {
    const h = this.host;
    if (h.stopping || h.paused || !h.cfg.enabled || this.ordering !== 'none' || h.breaker.state !== 'closed' || h.deps.held?.()) return 0;
    return Math.max(0, this.concurrency * (PREFETCH + 1) - this.buffered.length - this.inFlight.size - pending);
  }

  /** Takes rows intake inserted already leased to this dispatcher (with their inline bodies). */
  handOver(leased: LeasedRow[]): void {
    this.buffered.push(...leased);
    // stopping meanwhile: the dispatcher may be gone; give the leases back (a restart would too)
    if (this.host.stopping) this.releaseBuffered();
  }

  /**
   * Leases ahead (up to PREFETCH × concurrency items per transaction) so a busy flow does not pay one
   * fsync'd lease per item; unstarted leases go back to the queue when the circuit opens or Ferry stops.
   */
  async run(): Promise<void> {
    const h = this.host;
    while (!h.stopping) {
      h.counters.dispatchTurns++;
      const now = Date.now();
      // Nothing leasable was left at the last look (and no retry is due yet): skip the lease transaction until
      // this process queues something, another process writes the database, a retry falls due, or
      // IDLE_RECHECK_MS passed (idle CPU stays low with many flows; no empty lease per delivery). It sleeps
      // until then: this process's commits wake it (wake), and the engine watches data_version once a second
      // for all flows and wakes them when another process wrote.
      const quiet =
        this.idle !== undefined &&
        h.deps.dataVersion !== undefined &&
        h.deps.dataVersion() === this.idle.version &&
        now - this.idle.since < (h.deps.idleRecheckMs ?? IDLE_RECHECK_MS) &&
        (this.idle.retryAt === undefined || now < this.idle.retryAt);
      if (quiet && this.buffered.length === 0) {
        await this.sleep(this.idleSleepMs(this.idle!, now));
        continue;
      }
      if (h.paused || !h.cfg.enabled || h.deps.held?.()) {
        this.releaseBuffered();
        // resuming wakes a paused flow (setPaused) and a config change replaces a disabled one; a flow held for
        // a connection's consent has no such signal and looks every second
        await this.sleep(h.paused || !h.cfg.enabled ? (h.deps.idleRecheckMs ?? IDLE_RECHECK_MS) : IDLE_POLL_MS);
        continue;
      }
      const permits = h.breaker.permits(now, this.concurrency, this.inFlight.size);
      if (permits === 0) {
        if (h.breaker.state !== 'closed') this.releaseBuffered();
        await this.sleep(this.inFlight.size > 0 ? IDLE_POLL_MS : Math.max(10, Math.min(h.breaker.waitMs(now), IDLE_POLL_MS)));
        continue;
      }
      if (this.buffered.length < permits && !quiet) {
        const want = h.breaker.state === 'closed' ? permits + this.concurrency * PREFETCH - this.buffered.length : permits - this.buffered.length;
        // read just before the lease, and only for one: a read transaction (two file locks) per delivery otherwise
        const versionBefore = h.deps.dataVersion?.();
        let leased: LeasedItem[];
        try {
          leased = h.deps.queue.lease(h.name, want, LEASE_MS, now, this.ordering);
        } catch (err) {
          h.log.error({ err: errorMessage(err) }, 'leasing items failed');
          await this.sleep(IDLE_POLL_MS);
          continue;
        }
        this.buffered.push(...this.withBodies(leased));
        if (leased.length < want && versionBefore !== undefined) {
          // the queue has nothing more ready now; remember when the next retry falls due
          this.idle = { version: versionBefore, since: Date.now(), retryAt: h.deps.queue.nextRetryAt(h.name) };
        }
      }
      if (this.buffered.length === 0) {
        if (this.idle) {
          await this.sleep(this.idleSleepMs(this.idle, Date.now()));
          continue;
        }
        const retryAt = h.deps.queue.nextRetryAt(h.name);
        await this.sleep(retryAt === undefined ? IDLE_POLL_MS : Math.max(5, Math.min(retryAt - Date.now(), IDLE_POLL_MS)));
        continue;
      }
      for (const row of this.buffered.splice(0, permits)) this.deliver(row);
    }
    this.releaseBuffered();
    // Shutdown: wait for deliveries in flight (interrupted after the grace period by sendAbort).
    while (this.inFlight.size > 0) await this.sleep(50);
  }

  /** How long an idle dispatcher sleeps unless woken: until the next retry falls due or its re-check. */
  private idleSleepMs(idle: { since: number; retryAt?: number }, now: number): number {
    const recheckAt = idle.since + (this.host.deps.idleRecheckMs ?? IDLE_RECHECK_MS);
    return Math.max(5, Math.min(idle.retryAt ?? recheckAt, recheckAt) - now);
  }

  /** The leased rows, with the inline bodies of as many as fit LEASED_BODIES_BYTES read in one statement. */
  private withBodies(leased: LeasedItem[]): LeasedRow[] {
    const ids: number[] = [];
    let bytes = 0;
    for (const row of leased) {
      if (row.body_file !== null || bytes + row.size > LEASED_BODIES_BYTES) continue;
      ids.push(row.id);
      bytes += row.size;
    }
    if (ids.length === 0) return leased;
    let bodies: Map<number, Buffer>;
    try {
      bodies = this.host.deps.queue.bodies(ids);
    } catch {
      return leased; // read again one by one when sent (and a failure reported there)
    }
    const rows = leased as LeasedRow[];
    for (const row of rows) row.inline = bodies.get(row.id);
    return rows;
  }

  private releaseBuffered(): void {
    if (this.buffered.length === 0) return;
    this.idle = undefined; // these go back to the queue: the next look must find them
    const rows = this.buffered.splice(0);
    for (const row of rows) void this.host.deps.settle.push({ id: row.id, kind: 'release' }).catch(() => undefined);
  }

  /** What an attempt's outcome means for the item: delivered, tried again later, dead, or given back. */
  private settlementOf(row: LeasedRow, outcome: DeliveryOutcome, interrupted: boolean, now: number, started: number, parentKey: string | undefined): Settlement {
    const h = this.host;
    const item = { flow: h.name, name: row.name };
    if (interrupted && outcome.kind !== 'delivered') return { id: row.id, kind: 'release' }; // interrupted by shutdown: not a failed attempt
    const held = outcome.kind === 'retry' ? h.deps.held?.() : undefined;
    if (held) {
      if (h.facts.lastError !== held) h.noteError(held);
      return { id: row.id, kind: 'release' }; // waits for consent, queued as it was: not a failed attempt
    }
    if (outcome.kind === 'delivered') {
      h.breaker.success();
      h.facts.lastDeliveryAt = now;
      h.log.debug({ item: row.id, name: row.name, ms: now - started }, 'delivered');
      return {
        id: row.id,
        kind: 'delivered',
        afterPending: h.source.afterDelivery !== undefined && parentKey === undefined,
        detail: outcome.detail,
        reply: h.source.keepsReplies ? outcome.reply : undefined,
        item,
      };
    }
    if (outcome.kind === 'dead' || row.attempts >= h.cfg.retry.maxAttempts) {
      if (outcome.kind === 'retry') h.breaker.failure(now);
      else h.breaker.success(); // the destination answered: it is reachable
      const reason = outcome.kind === 'dead' ? outcome.reason : `gave up after ${row.attempts} attempts: ${outcome.reason}`;
      h.noteError(`${row.name}: ${reason}`);
      h.log.warn({ item: row.id, name: row.name, reason }, 'item is dead');
      return { id: row.id, kind: 'dead', reason, status: outcome.status, response: outcome.response, item };
    }
    h.breaker.failure(now);
    const nextAt = nextAttemptAt(now, row.attempts, h.cfg.retry, outcome.retryAfterMs);
    h.noteError(`${row.name}: ${outcome.reason}`);
    h.log.info({ item: row.id, name: row.name, reason: outcome.reason, attempt: row.attempts, retryInMs: nextAt - now }, 'delivery failed; will retry');
    return { id: row.id, kind: 'retry', nextAt, reason: outcome.reason, status: outcome.status, response: outcome.response, item };
  }

  /** Sends one leased item now (also a synchronous call's, without a dispatcher turn). */
  deliver(row: LeasedRow): void {
    const h = this.host;
    // every delivery listens to the one stop signal: nothing else interrupts a single send
    const signal = this.sendAbort.signal;
    this.inFlight.add(row.id);
    const started = Date.now();
    const attrs = JSON.parse(row.attrs) as Record<string, any>;
    // a part of a processed file: the file's after-delivery waits for all its parts
    const parentKey = h.processes && typeof attrs.parentKey === 'string' ? (attrs.parentKey as string) : undefined;
    const done = (async () => {
      let outcome: DeliveryOutcome;
      try {
        outcome = await h.destination.send(outgoingItem(row, { ...attrs }, h.deps.content, h.deps.queue), { flow: h.name, log: h.log, signal, wantsReply: h.source.keepsReplies === true });
      } catch (err) {
        outcome = outcomeOfThrown(err);
      }
      const now = Date.now();
      const settlement = this.settlementOf(row, outcome, signal.aborted, now, started, parentKey);
      const c = h.counters;
      if (settlement.kind === 'delivered') (c.delivered++, (c.bytesDelivered += row.size));
      else if (settlement.kind === 'dead') (c.dead++, c.errors.delivery++);
      else if (settlement.kind === 'retry') (c.retries++, c.errors.delivery++);
      if (settlement.kind !== 'release') c.onDeliveryTime?.((now - started) / 1000, settlement.kind);
      // A synchronous caller gets its answer now; the outcome's commit follows in the same group commit (a crash
      // in between re-sends the item later with the same idempotency key, as for any delivery).
      if (settlement.kind === 'delivered' || settlement.kind === 'dead') h.callers.answer(row.id, settlement);
      // The slot frees now; the outcome commits with others in one transaction (group commit). The item stays
      // 'inflight' in the database until then, so it cannot be leased twice.
      this.inFlight.delete(row.id);
      this.nudge();
      try {
        // A failed commit (Ferry's disk full) is tried again every 2 s: the item stays in flight in the database
        // meanwhile, and is sent again only if Ferry stops first (after the restart, with the same key).
        for (let attempt = 1; ; attempt++) {
          try {
            await h.deps.settle.push(settlement);
            break;
          } catch (err) {
            // once per item at error level: a full disk would otherwise log every in-flight item every 2 s
            h.log[attempt === 1 ? 'error' : 'debug']({ item: row.id, err: errorMessage(err), attempt }, 'recording a delivery outcome failed; trying again in 2 s');
            h.noteError(`recording a delivery outcome failed: ${errorMessage(err)}`);
            if (h.stopping) return;
            await delay(OUTCOME_RETRY_MS, undefined, { signal: h.intakeSignal }).catch(() => undefined);
            if (h.stopping) return;
          }
        }
        // in order (fifo): the next item becomes leasable only now; given back: it is queued again
        if (this.ordering !== 'none' || settlement.kind === 'release') this.wake();
      } finally {
        h.callers.committed(row.id);
      }
      // The retry time is in the database only now (this connection's own commit does not change
      // data_version): wake a dispatcher that went idle meanwhile, or the retry waits for IDLE_RECHECK_MS.
      if (settlement.kind === 'retry') this.wake();
      if (settlement.kind === 'delivered' && settlement.afterPending) {
        h.runAfterDelivery({ id: row.id, sourceKey: row.source_key, name: row.name, attributes: attrs });
      }
      if (parentKey !== undefined && (settlement.kind === 'delivered' || settlement.kind === 'dead')) {
        h.afterParentSettled(parentKey, String(attrs.fileName ?? row.name), parentAttributes(attrs));
      }
    })();
    h.after.track(done);
  }
}
