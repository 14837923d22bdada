// One flow at run time: its source's intake (durable emit with back pressure, items committed with their
// checkpoints and handed to the dispatcher already leased) and its trigger (watch, or cron with catch-up).
// Its other parts have files of their own: the dispatcher (flow-dispatch.ts), synchronous callers
// (flow-sync-calls.ts), after-delivery steps (flow-after-delivery.ts), rows and outgoing items (flow-items.ts).
import { CronSchedule, type RunningSchedule } from './schedule.ts';
import { FlowCounters } from './telemetry.ts';
import type { FlowCounterSnapshot } from './status.ts';
import { errorMessage, type CallOutcome, type Destination, type EmitResult, type NewItem, type Source, type SourceContext } from '../../connectors/contract.ts';
import type { FlowConfig } from './config/schema.ts';
import type { Logger } from './logger.ts';
import { leasedItemOf, type NewRow, type Queue, type Settlement } from './store/queue.ts';
import type { ContentStore, StoredBody } from './store/content.ts';
import type { FlowStates } from './store/state.ts';
import { sourceState } from './store/state.ts';
import type { Db } from './store/db.ts';
import { CircuitBreaker } from './backoff.ts';
import type { Batcher } from './batcher.ts';
import { compileProcess } from './process/pipeline.ts';
import { ProcessIntake, type DeadItem } from './process/intake.ts';
import { rowFor, type LeasedRow } from './flow-items.ts';
import { Dispatcher, LEASE_MS, type DispatchHost } from './flow-dispatch.ts';
import { SyncCallers } from './flow-sync-calls.ts';
import { AfterDeliveryRuns, type AfterDeliveryItem } from './flow-after-delivery.ts';

const BODY_READ_CONCURRENCY = 8;

export interface IntakeWrite {
  rows: NewRow[];
  state: Array<{ flow: string; key: string; value: unknown }>;
}
export type IntakeResult = ReturnType<Queue['enqueue']>;

/** Shared engine parts a flow uses. */
export interface FlowDeps {
  db: Db;
  queue: Queue;
  content: ContentStore;
  flowStates: FlowStates;
  intake: Batcher<IntakeWrite, IntakeResult>;
  settle: Batcher<Settlement, void>;
  afterDone: Batcher<number, void>;
  log: Logger;
  /** False while the data dir is below its free-space floor (the reason is returned). */
  diskOk(): string | undefined;
  /** SQLite's data_version: changes when another process (`ferry queue retry`) committed to the database. */
  dataVersion?(): number;
  /** Why deliveries wait now (an OAuth connection needs consent): items stay queued, no attempt is used. */
  held?(): string | undefined;
  /** How often an idle flow looks at its queue with no sign of new work (default 10 s). */
  idleRecheckMs?: number;
}

/** Volatile per-flow facts, persisted to flow_state by the engine's maintenance tick. */
export interface FlowRuntimeState {
  lastDeliveryAt?: number;
  lastError?: string;
  lastErrorAt?: number;
  intakeBlocked?: string;
  /** Since when the scheduled scans have reported problems (the source's server down, a folder gone), and the latest. */
  sourceFailingSince?: number;
  sourceProblem?: string;
}

export class FlowRuntime implements DispatchHost {
  readonly name: string;
  readonly integration: string;
  readonly cfg: FlowConfig;
  readonly source: Source;
  readonly destination: Destination;
  readonly breaker: CircuitBreaker;
  readonly facts: FlowRuntimeState = {};
  /** What this flow did since the engine started (metrics read it; tests wait on it). */
  readonly counters = new FlowCounters();
  paused = false;
  readonly deps: FlowDeps;
  readonly log: Logger;
  readonly callers: SyncCallers;
  readonly after: AfterDeliveryRuns;
  private readonly dispatch: Dispatcher;
  /** Rows being inserted already leased to the dispatcher (their commit is pending). */
  private directPending = 0;
  private readonly intakeAbort = new AbortController();
  private teardown?: () => Promise<void>;
  private schedule?: RunningSchedule;
  private scanning?: Promise<void>;
  /** Problems the source reported so far, and the latest (a scan that added one leaves the source "failing"). */
  private problemsReported = 0;
  private latestProblem?: string;
  stopping = false;
  private dispatcher?: Promise<void>;
  /** True while the dispatcher found nothing ready and skips its lease transaction until a sign of new work. */
  get isIdle(): boolean {
    return this.dispatch.isIdle;
  }
  private backlog?: { n: number; bytes: number; at: number };
  /** Set when the flow has `process:`: items are parsed/transformed at intake into batches or records. */
  private readonly processor?: ProcessIntake;
  /** Source keys of parents being processed now: their after-delivery waits until all parts are queued. */
  private readonly processingParents = new Set<string>();
  /** Processed files whose every part is queued (known only to this run), waiting for their parts to settle. */
  private readonly completedParents = new Set<string>();

  constructor(integration: string, cfg: FlowConfig, source: Source, destination: Destination, deps: FlowDeps) {
    this.integration = integration;
    this.name = cfg.name;
    this.cfg = cfg;
    this.source = source;
    this.destination = destination;
    this.deps = deps;
    this.log = deps.log.child({ flow: cfg.name });
    this.breaker = new CircuitBreaker(cfg.circuitBreaker);
    this.callers = new SyncCallers(cfg.name, deps.queue, source.keepsReplies === true);
    this.after = new AfterDeliveryRuns(source, deps.afterDone, this.counters, this.log, (m) => this.noteError(m));
    this.dispatch = new Dispatcher(this);
    if (cfg.process) {
      this.processor = new ProcessIntake({
        flow: cfg.name,
        proc: compileProcess(cfg.process),
        onRecordError: cfg.onRecordError,
        content: deps.content,
        signal: this.intakeAbort.signal,
        commit: (items, checkpoint) => this.commitItems(items, checkpoint, true),
        commitDead: (items) => this.commitDead(items),
        waitForCapacity: () => this.waitForCapacity(),
        parentProcessing: (parent, active, completed) => {
          if (active) this.processingParents.add(parent.sourceKey);
          else {
            this.processingParents.delete(parent.sourceKey);
            if (completed && this.source.afterDelivery) this.completedParents.add(parent.sourceKey);
            this.afterParentSettled(parent.sourceKey, parent.name, parent.attributes ?? {});
          }
        },
        problem: (message) => {
          this.log.warn(message);
          this.noteError(message);
        },
        note: (message) => this.log.info(message),
      });
    }
  }

  get runningCount(): number {
    return this.dispatch.runningCount;
  }

  runningIds(): number[] {
    return this.dispatch.runningIds();
  }

  /** Set when the flow has `process:` (parts of a file carry their parent's key). */
  get processes(): boolean {
    return this.processor !== undefined;
  }

  get intakeSignal(): AbortSignal {
    return this.intakeAbort.signal;
  }

  // ---------------------------------------------------------------- intake

  private capacityProblem(): string | undefined {
    const disk = this.deps.diskOk();
    if (disk) return disk;
    const backlog = this.refreshBacklog();
    const { maxQueuedItems, maxQueuedBytes } = this.cfg.limits;
    if (backlog.n >= maxQueuedItems) return `queue full: ${backlog.n} items waiting (limits.maxQueuedItems ${maxQueuedItems})`;
    if (backlog.bytes >= maxQueuedBytes) return `queue full: ${backlog.bytes} bytes waiting (limits.maxQueuedBytes ${maxQueuedBytes})`;
    return undefined;
  }

  /** The flow's waiting items and bytes, counted again at most every 500 ms (commits add to it in between). */
  private refreshBacklog(): { n: number; bytes: number } {
    const now = Date.now();
    if (!this.backlog || now - this.backlog.at > 500) this.backlog = { ...this.deps.queue.backlog(this.name), at: now };
    return this.backlog;
  }

  private hasCapacity(): boolean {
    const problem = this.capacityProblem();
    if (problem !== this.facts.intakeBlocked) {
      if (problem) this.log.warn({ reason: problem }, 'intake paused: files stay where they are');
      else this.log.info('intake resumed');
      this.facts.intakeBlocked = problem;
    }
    return problem === undefined;
  }

  /** Queues what a source emits: as it is, or through the flow's `process:` steps. */
  private async emit(items: NewItem[], checkpoint?: { key: string; value: unknown }): Promise<EmitResult> {
    if (!this.hasCapacity()) return { queued: 0, duplicates: [], failed: [], refused: this.facts.intakeBlocked, deferred: items };
    if (this.processor) return this.processor.emit(items, checkpoint);
    return this.commitItems(items, checkpoint, false);
  }

  /** Waits (bounded by the flow stopping) until back pressure lets intake go on, e.g. in the middle of a big file. */
  private async waitForCapacity(): Promise<void> {
    while (!this.hasCapacity()) {
      if (this.intakeAbort.signal.aborted) throw new Error('interrupted: Ferry is stopping');
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Stores bodies and writes items straight into the dead state (bad records found at intake). */
  private async commitDead(items: DeadItem[]): Promise<void> {
    const rows: Array<NewRow & { reason: string }> = [];
    for (const { item, reason } of items) {
      const body = await this.deps.content.put(item.body);
      rows.push({ ...rowFor(this.name, this.cfg['fifo-by'], item, body), group: item.group, reason });
    }
    this.deps.intake.flush(); // keep the order: items queued before these dead ones commit first
    const result = this.deps.queue.enqueueDead(rows);
    this.counters.taken += result.ids.length;
    this.counters.duplicates += result.duplicates.length;
    for (const d of result.duplicates) if (d.row.bodyFile) await this.deps.content.remove(d.row.bodyFile);
  }

  /**
   * A part of a processed file settled (or the file finished processing): when nothing of the file is
   * still waiting, the source's after-delivery step (move/delete the original) runs once.
   */
  afterParentSettled(parentKey: string, name: string, attributes: Record<string, any>): void {
    // only a file wholly processed in this run: one cut short (a stop, a full disk) is taken again first
    if (!this.source.afterDelivery || this.processingParents.has(parentKey) || !this.completedParents.has(parentKey)) return;
    if (this.deps.queue.hasPendingWithPrefix(this.name, `${parentKey}#`)) return;
    this.completedParents.delete(parentKey);
    this.runAfterDelivery({ sourceKey: parentKey, name, attributes }); // runs once at a time per source key
  }


  /** Re-checks a blocked intake so status clears once the queue drained, even when no file is waiting. */
  refreshIntake(): void {
    if (this.facts.intakeBlocked) this.hasCapacity();
  }

  /** Stores bodies, then commits rows and checkpoints in one (grouped) transaction. */
  private async commitItems(allItems: NewItem[], checkpoint: { key: string; value: unknown } | undefined, derived: boolean): Promise<EmitResult> {
    if (!this.hasCapacity()) return { queued: 0, duplicates: [], failed: [], refused: this.facts.intakeBlocked, deferred: allItems };
    // Take no more than the room left under limits.maxQueuedItems; the rest stays at the source.
    const room = Math.max(0, this.cfg.limits.maxQueuedItems - (this.backlog?.n ?? 0));
    let items = allItems.length > room ? allItems.slice(0, room) : allItems;
    const stored: Array<StoredBody | undefined> = new Array(items.length);
    let failed: EmitResult['failed'] = [];
    let next = 0;
    const worker = async () => {
      while (next < items.length) {
        const i = next++;
        try {
          stored[i] = await this.deps.content.put(items[i].body);
        } catch (err) {
          failed.push({ item: items[i], error: errorMessage(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(BODY_READ_CONCURRENCY, items.length) }, worker));
    // Sizes are known now: stop at limits.maxQueuedBytes as well (the item crossing the limit is still taken).
    let waitingBytes = this.backlog?.bytes ?? 0;
    const cut = stored.findIndex((body) => {
      if (waitingBytes >= this.cfg.limits.maxQueuedBytes) return true;
      waitingBytes += body?.size ?? 0;
      return false;
    });
    if (cut >= 0) {
      await Promise.all(stored.slice(cut).map((b) => (b?.file ? this.deps.content.remove(b.file) : undefined)));
      const kept = new Set(items.slice(0, cut));
      failed = failed.filter((f) => kept.has(f.item));
      items = items.slice(0, cut);
    }
    const deferred = allItems.slice(items.length);
    // a batch cursor must not move past items not queued (deferred by back pressure, or whose body failed)
    if (deferred.length > 0 || failed.length > 0) checkpoint = undefined;

    const rows: NewRow[] = [];
    const state: IntakeWrite['state'] = [];
    const itemOfRow = new Map<NewRow, NewItem>();
    const hashes = new Map<NewItem, string>();
    const unchanged: NewItem[] = [];
    items.forEach((item, i) => {
      const body = stored[i];
      if (!body) return;
      if (item.unchangedFrom !== undefined) hashes.set(item, body.sha256);
      if (item.unchangedFrom === body.sha256) {
        // touched, not changed: nothing to queue; the source's memory of the new version is still written
        unchanged.push(item);
        if (item.checkpoint) state.push({ flow: this.name, ...item.checkpoint });
        if (body.file) void this.deps.content.remove(body.file);
        return;
      }
      const row = rowFor(this.name, this.cfg['fifo-by'], item, body);
      rows.push(row);
      itemOfRow.set(row, item);
      if (item.checkpoint) state.push({ flow: this.name, ...item.checkpoint });
    });
    if (checkpoint) state.push({ flow: this.name, ...checkpoint });
    // While the dispatcher has room, new items are inserted already leased to it and handed over in memory:
    // no lease transaction, no re-read of rows and bodies.
    const leaseUntil = Date.now() + LEASE_MS;
    const direct = new Set(rows.slice(0, this.dispatch.directLeaseRoom(this.directPending)));
    for (const row of direct) row.leaseUntil = leaseUntil;
    this.directPending += direct.size;
    let result: IntakeResult;
    try {
      result = await this.deps.intake.push({ rows, state });
    } catch (err) {
      // e.g. SQLITE_FULL: nothing was committed, the source keeps its files and tries again later
      await Promise.all(rows.map((r) => (r.bodyFile ? this.deps.content.remove(r.bodyFile) : undefined)));
      this.noteError(`queueing failed: ${errorMessage(err)}`);
      return { queued: 0, duplicates: [], failed: items.map((item) => ({ item, error: errorMessage(err) })) };
    } finally {
      this.directPending -= direct.size;
    }
    const handedOver = direct.size > 0 ? this.takeDirectLeases(rows, result, direct) : 0;
    this.counters.taken += result.ids.length;
    this.counters.duplicates += result.duplicates.length;
    this.counters.errors.intake += failed.length;
    for (const d of result.duplicates) {
      if (d.row.bodyFile) await this.deps.content.remove(d.row.bodyFile);
      // Already delivered (a crash between delivery and the after-delivery step): finish that step now.
      // (Parts of a processed file: their parent's after-delivery is run once the whole file is done.)
      if (!derived && (d.existing === undefined || d.existing.state === 'delivered') && this.source.afterDelivery) {
        this.runAfterDelivery({ id: d.existing?.id, sourceKey: d.row.sourceKey, name: d.row.name, attributes: d.row.attributes });
      }
    }
    if (this.backlog) {
      this.backlog.n += result.ids.length;
      const dup = new Set(result.duplicates.map((d) => d.row));
      this.backlog.bytes += rows.reduce((n, r) => (dup.has(r) ? n : n + r.size), 0);
    }
    // new items the dispatcher did not get directly are waiting in the queue: it must look there again
    if (result.ids.length > handedOver) this.wake();
    else if (result.ids.length > 0) this.dispatch.nudge();
    const out: EmitResult = { queued: result.ids.length, duplicates: result.duplicates.map((d) => itemOfRow.get(d.row)!), failed };
    if (unchanged.length > 0) out.unchanged = unchanged;
    if (hashes.size > 0) out.sha256 = hashes;
    if (deferred.length > 0) {
      this.hasCapacity(); // records "queue full" for status
      out.refused = this.facts.intakeBlocked ?? `queue full (limits.maxQueuedItems ${this.cfg.limits.maxQueuedItems})`;
      out.deferred = deferred;
    }
    return out;
  }

  /** Hands the rows inserted already leased (not duplicates) to the dispatcher, with their inline bodies; returns how many. */
  private takeDirectLeases(rows: NewRow[], result: IntakeResult, direct: Set<NewRow>): number {
    const dup = new Set(result.duplicates.map((d) => d.row));
    let k = 0;
    const leased: LeasedRow[] = [];
    for (const row of rows) {
      if (dup.has(row)) continue;
      const id = result.ids[k++];
      if (!direct.has(row)) continue;
      leased.push({ ...leasedItemOf(row, id), inline: row.inline });
    }
    this.dispatch.handOver(leased);
    return leased.length;
  }

  private sourceContext(): SourceContext {
    return {
      flow: this.name,
      log: this.log,
      signal: this.intakeAbort.signal,
      state: sourceState(this.deps.db, this.name),
      emit: (items, checkpoint) => this.emit(items, checkpoint),
      hasCapacity: () => this.hasCapacity(),
      waiting: () => this.refreshBacklog().n,
      // a processed flow reads the file itself, record by record: nothing to store ahead
      storeAhead: (body) => void (!this.processor && !this.stopping && this.hasCapacity() && this.deps.content.storeAhead(body)),
      problem: (message, detail) => {
        this.log.warn(detail ?? {}, message);
        this.noteSourceProblem(message);
      },
      failing: (reason) => {
        if (reason) {
          this.facts.sourceFailingSince ??= Date.now();
          this.facts.sourceProblem = reason;
        } else {
          this.facts.sourceFailingSince = undefined;
          this.facts.sourceProblem = undefined;
        }
      },
      stillFailing: (message) => {
        this.problemsReported++;
        this.latestProblem = message;
      },
      call: (item, opts) => this.call(item, opts.timeoutMs),
      outcome: (ticket, opts) => this.outcome(ticket, opts?.waitMs ?? 0),
    };
  }

  // ---------------------------------------------------------------- synchronous calls

  /**
   * Queues one item already leased, sends it at once (no dispatcher round trip) and waits up to timeoutMs
   * for its final outcome. The queue keeps the record: a crash mid-call leaves the item to the dispatcher.
   */
  async call(item: NewItem, timeoutMs: number): Promise<CallOutcome | { refused: string }> {
    if (this.stopping) return { refused: 'Ferry is stopping' };
    if (!this.hasCapacity()) return { refused: this.facts.intakeBlocked ?? 'intake paused' };
    const body = await this.deps.content.put(item.body);
    const now = Date.now();
    // Sent directly only when the dispatcher would send it now; otherwise it waits in the queue like any item.
    const direct = !this.paused && this.cfg.enabled && this.dispatch.ordering === 'none' && this.breaker.state === 'closed' && !this.deps.held?.();
    const row = rowFor(this.name, this.cfg['fifo-by'], item, body, direct ? now + LEASE_MS : undefined);
    let result: IntakeResult;
    try {
      result = await this.deps.intake.push({ rows: [row], state: [] });
    } catch (err) {
      if (row.bodyFile) await this.deps.content.remove(row.bodyFile);
      this.noteError(`queueing failed: ${errorMessage(err)}`);
      return { refused: `queueing failed: ${errorMessage(err)}` };
    }
    let id: number;
    if (result.ids.length === 1) {
      id = result.ids[0];
      if (this.backlog) this.backlog.n += 1;
      const waiting = this.outcome(String(id), timeoutMs, true);
      if (direct) {
        const leased = this.deps.queue.get(id);
        if (leased) this.dispatch.deliver(leased);
      } else this.wake();
      return (await waiting)!;
    }
    const dup = result.duplicates[0];
    if (dup?.row.bodyFile) await this.deps.content.remove(dup.row.bodyFile);
    if (!dup?.existing) return { ticket: '0', state: 'dead', reason: 'this call was already made and its record pruned (same idempotency key)' };
    id = dup.existing.id;
    return (await this.outcome(String(id), timeoutMs))!;
  }

  /** The outcome of the item named by ticket; waits up to waitMs while it is unfinished. */
  outcome(ticket: string, waitMs: number, justQueued = false): Promise<CallOutcome | undefined> {
    return this.callers.outcome(ticket, waitMs, justQueued);
  }

  noteError(message: string): void {
    this.facts.lastError = message;
    this.facts.lastErrorAt = Date.now();
    try {
      this.deps.queue.addEvent('problem', this.name, null, { message });
    } catch (err) {
      // reporting a problem must never become one (a full disk, a database closing at shutdown)
      this.log.warn({ err: errorMessage(err) }, 'could not record a problem event');
    }
  }

  private noteSourceProblem(message: string): void {
    this.noteError(message);
    this.problemsReported++;
    this.latestProblem = message;
  }

  /** The counters since the engine started, for the status. */
  counterSnapshot(): FlowCounterSnapshot {
    const c = this.counters;
    return { scans: c.scans, scanning: this.scanning !== undefined, taken: c.taken, duplicates: c.duplicates, delivered: c.delivered, retries: c.retries, dead: c.dead, sourcePasses: this.source.activity?.passes };
  }

  /** One scan of the source (a cron tick, catch-up, start-up or "run now"); never two at once. */
  runScan(reason: string): Promise<void> {
    if (this.scanning) return this.scanning;
    const started = Date.now();
    this.scanning = (async () => {
      this.log.debug({ reason }, 'scanning source');
      const problemsBefore = this.problemsReported;
      try {
        await this.source.scan(this.sourceContext());
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'scan failed');
        this.noteSourceProblem(`scan failed: ${errorMessage(err)}`);
      } finally {
        // a scan that reported a problem keeps the source "failing" (the tray asks for attention); a clean one ends it
        if (this.problemsReported > problemsBefore) {
          this.facts.sourceFailingSince ??= started;
          this.facts.sourceProblem = this.latestProblem;
        } else {
          this.facts.sourceFailingSince = undefined;
          this.facts.sourceProblem = undefined;
        }
        const next = this.schedule?.nextRun();
        this.deps.flowStates.update(this.name, { last_run_at: started, next_run_at: next ? next.getTime() : null });
        this.scanning = undefined;
        this.counters.scans++;
      }
    })();
    return this.scanning;
  }

  // ---------------------------------------------------------------- trigger

  async start(): Promise<void> {
    await Promise.all([this.source.prepare?.(), this.destination.prepare?.()]);
    const fs0 = this.deps.flowStates.ensure(this.name);
    this.paused = fs0.paused === 1;
    // the last delivery survives a restart (the tray and `ferry status` show it); errors are this run's own
    const lastDelivery = Math.max(fs0.last_delivery_at ?? 0, this.deps.queue.lastDeliveredAt(this.name) ?? 0);
    if (lastDelivery > 0) this.facts.lastDeliveryAt ??= lastDelivery;
    const trigger = this.cfg.trigger;
    if ('on' in trigger) {
      if (!this.source.watch) throw new Error(`flow ${this.name}: source has no change events`);
      this.teardown = await this.source.watch(this.sourceContext());
    } else {
      const schedule = new CronSchedule(trigger.schedule, trigger.timezone);
      this.schedule = schedule.start(() => void this.runScan('schedule'), { name: `ferry:${this.name}` });
      this.deps.flowStates.update(this.name, { next_run_at: this.schedule.nextRun().getTime() });
      if (this.source.scanOnStart) void this.runScan('start'); // what arrived while Ferry was off is taken now
      if (trigger.catchUp) {
        const since = fs0.last_run_at ?? fs0.first_seen_at;
        const missed = schedule.missedSince(new Date(since), new Date());
        if (missed) {
          this.log.info({ missed: missed.toISOString() }, 'running a schedule tick missed while Ferry was off');
          void this.runScan('catch-up');
        }
      }
    }
    this.dispatcher = this.dispatch.run();
  }

  /** Stops intake now; lets deliveries in flight finish for up to graceMs, then interrupts them. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.intakeAbort.abort();
    await this.schedule?.stop();
    await this.teardown?.().catch((err) => this.log.warn({ err: errorMessage(err) }, 'closing the source failed'));
    await this.scanning;
    this.wake();
    const timer = setTimeout(() => this.dispatch.interrupt(), graceMs);
    await this.dispatcher;
    clearTimeout(timer);
    // callers still waiting get "pending" with their ticket: the item stays queued for the next start
    this.callers.releaseAll();
    // A delivery finishing during shutdown starts its after-delivery step only once its outcome committed:
    // wait until nothing new appears, or that step would run against a closed database.
    await this.after.drain();
    await this.source.close?.();
    await this.destination.close?.();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.deps.flowStates.update(this.name, { paused: paused ? 1 : 0 });
    this.wake();
  }

  /** There may be new work in the queue (items queued, retries rescheduled, another process wrote): look. */
  wake(): void {
    this.dispatch.wake();
  }

  /** Moves/deletes the source original after a confirmed delivery (at most one run per item at a time). */
  runAfterDelivery(item: AfterDeliveryItem): void {
    this.after.run(item);
  }

  get afterDeliveryRunning(): number {
    return this.after.runningCount;
  }
}
