// One flow at run time: its source's intake (durable emit with back pressure), its trigger (watch or
// cron with catch-up), and its dispatcher (lease → send → settle, with backoff and a circuit breaker).
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { CronSchedule, type RunningSchedule } from './schedule.ts';
import { FlowCounters } from './telemetry.ts';
import {
  errorMessage,
  type CallOutcome,
  type DeliveryOutcome,
  type Destination,
  type EmitResult,
  type NewItem,
  type OutgoingItem,
  type Source,
  type SourceContext,
} from '../../connectors/contract.ts';
import type { FlowConfig } from './config/schema.ts';
import type { Logger } from './logger.ts';
import { idempotencyKey, leasedItemOf, type LeasedItem, type LeaseOrdering, type NewRow, type Queue, type Settlement } from './store/queue.ts';
import type { ContentStore, StoredBody } from './store/content.ts';
import type { FlowStates } from './store/state.ts';
import { sourceState } from './store/state.ts';
import type { Db } from './store/db.ts';
import { CircuitBreaker, nextAttemptAt } from './backoff.ts';
import { outcomeOfThrown } from './failures.ts';
import type { Batcher } from './batcher.ts';
import { compileProcess } from './process/pipeline.ts';
import { ProcessIntake, type DeadItem } from './process/intake.ts';

const LEASE_MS = 10 * 60_000;
/** How soon a delivery outcome whose commit failed is written again. */
const OUTCOME_RETRY_MS = 2000;
const IDLE_POLL_MS = 1000;
/** An idle flow still looks at its queue this often, whatever else happened. */
const IDLE_RECHECK_MS = 10_000;
const BODY_READ_CONCURRENCY = 8;
const PREFETCH = 16;

/** A leased row; one leased at intake keeps its inline body, so delivery need not read it back. */
type LeasedRow = LeasedItem & { inline?: Buffer };

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

export class FlowRuntime {
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
  private readonly deps: FlowDeps;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly inFlight = new Map<number, AbortController>();
  /** Leased but not yet started. */
  private readonly buffered: LeasedRow[] = [];
  /** Rows being inserted already leased to this dispatcher (their commit is pending). */
  private directPending = 0;
  private readonly intakeAbort = new AbortController();
  private readonly sendAbort = new AbortController();
  private teardown?: () => Promise<void>;
  private schedule?: RunningSchedule;
  private scanning?: Promise<void>;
  /** Problems the source reported so far, and the latest (a scan that added one leaves the source "failing"). */
  private problemsReported = 0;
  private latestProblem?: string;
  private stopping = false;
  private wakeResolve?: () => void;
  /** Set while the queue had nothing ready: the data version then, since when, and the next retry's time. */
  private idle?: { version: number; since: number; retryAt?: number };
  private dispatcher?: Promise<void>;
  /** True while the dispatcher found nothing ready and skips its lease transaction until a sign of new work. */
  get isIdle(): boolean {
    return this.idle !== undefined && this.buffered.length === 0 && this.inFlight.size === 0;
  }
  private readonly pendingAfter = new Set<Promise<void>>();
  private readonly afterRunning = new Set<string>();
  private backlog?: { n: number; bytes: number; at: number };
  /** Set when the flow has `process:`: items are parsed/transformed at intake into batches or records. */
  private readonly processor?: ProcessIntake;
  /** Source keys of parents being processed now: their after-delivery waits until all parts are queued. */
  private readonly processingParents = new Set<string>();
  /** Processed files whose every part is queued (known only to this run), waiting for their parts to settle. */
  private readonly completedParents = new Set<string>();
  /** Synchronous callers waiting for an item's final outcome, by item id. */
  private readonly waiters = new Map<number, Set<(o: CallOutcome) => void>>();
  /** Outcomes already answered to a caller whose commit is still in the group-commit window. */
  private readonly uncommitted = new Map<number, CallOutcome>();
  private readonly ordering: LeaseOrdering;

  constructor(integration: string, cfg: FlowConfig, source: Source, destination: Destination, deps: FlowDeps) {
    this.integration = integration;
    this.name = cfg.name;
    this.cfg = cfg;
    this.source = source;
    this.destination = destination;
    this.deps = deps;
    this.log = deps.log.child({ flow: cfg.name });
    this.concurrency = destination.concurrency ?? 1;
    this.breaker = new CircuitBreaker(cfg.circuitBreaker);
    this.ordering = cfg['fifo-by'] ? 'group' : cfg.ordering === 'fifo' ? 'fifo' : 'none';
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
    return this.inFlight.size;
  }

  runningIds(): number[] {
    return [...this.inFlight.keys(), ...this.buffered.map((r) => r.id)];
  }

  // ---------------------------------------------------------------- intake

  private capacityProblem(): string | undefined {
    const disk = this.deps.diskOk();
    if (disk) return disk;
    const now = Date.now();
    if (!this.backlog || now - this.backlog.at > 500) this.backlog = { ...this.deps.queue.backlog(this.name), at: now };
    const { maxQueuedItems, maxQueuedBytes } = this.cfg.limits;
    if (this.backlog.n >= maxQueuedItems) return `queue full: ${this.backlog.n} items waiting (limits.maxQueuedItems ${maxQueuedItems})`;
    if (this.backlog.bytes >= maxQueuedBytes) return `queue full: ${this.backlog.bytes} bytes waiting (limits.maxQueuedBytes ${maxQueuedBytes})`;
    return undefined;
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
      rows.push({ ...this.rowFor(item, body), group: item.group, reason });
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
  private afterParentSettled(parentKey: string, name: string, attributes: Record<string, any>): void {
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
    if (deferred.length > 0) checkpoint = undefined; // a batch cursor must not move past items not queued

    const rows: NewRow[] = [];
    const state: IntakeWrite['state'] = [];
    const itemOfRow = new Map<NewRow, NewItem>();
    items.forEach((item, i) => {
      const body = stored[i];
      if (!body) return;
      const row = this.rowFor(item, body);
      rows.push(row);
      itemOfRow.set(row, item);
      if (item.checkpoint) state.push({ flow: this.name, ...item.checkpoint });
    });
    if (checkpoint) state.push({ flow: this.name, ...checkpoint });
    // While the dispatcher has room, new items are inserted already leased to it and handed over in memory:
    // no lease transaction, no re-read of rows and bodies.
    const leaseUntil = Date.now() + LEASE_MS;
    const direct = new Set(rows.slice(0, this.directLeaseRoom()));
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
    else if (result.ids.length > 0) this.nudge();
    const out: EmitResult = { queued: result.ids.length, duplicates: result.duplicates.map((d) => itemOfRow.get(d.row)!), failed };
    if (deferred.length > 0) {
      this.hasCapacity(); // records "queue full" for status
      out.refused = this.facts.intakeBlocked ?? `queue full (limits.maxQueuedItems ${this.cfg.limits.maxQueuedItems})`;
      out.deferred = deferred;
    }
    return out;
  }

  /** How many new items intake may insert already leased to this flow's dispatcher. */
  private directLeaseRoom(): number {
    if (this.stopping || this.paused || !this.cfg.enabled || this.ordering !== 'none' || this.breaker.state !== 'closed' || this.deps.held?.()) return 0;
    return Math.max(0, this.concurrency * (PREFETCH + 1) - this.buffered.length - this.inFlight.size - this.directPending);
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
    this.buffered.push(...leased);
    // stopping meanwhile: the dispatcher may be gone; give the leases back (a restart would too)
    if (this.stopping) this.releaseBuffered();
    return leased.length;
  }

  /** The queue row of a stored item; its idempotency key is flow + source identity + content hash. */
  private rowFor(item: NewItem, body: StoredBody, leaseUntil?: number): NewRow {
    return {
      flow: this.name,
      idemKey: idempotencyKey(this.name, item.sourceKey, body.sha256),
      sourceKey: item.sourceKey,
      name: item.name,
      attributes: item.attributes ?? {},
      size: body.size,
      sha256: body.sha256,
      inline: body.inline,
      bodyFile: body.file,
      group: this.groupOf(item, body),
      leaseUntil,
    };
  }

  /** The FIFO group of an item under `fifo-by`: an attribute, else a field of its JSON body, else the source's group. */
  private groupOf(item: NewItem, body: StoredBody): string | undefined {
    const field = this.cfg['fifo-by'];
    if (!field) return item.group;
    const attr = item.attributes?.[field];
    if (attr !== undefined && attr !== null) return String(attr);
    if (body.inline && body.inline.length > 0 && (body.inline[0] === 0x7b || body.inline[0] === 0x20 || body.inline[0] === 0x0a)) {
      try {
        let v: unknown = JSON.parse(body.inline.toString('utf8'));
        for (const k of field.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
        if (v !== undefined && v !== null && typeof v !== 'object') return String(v);
      } catch {
        // not JSON: the item falls into the group of items without the field
      }
    }
    return item.group ?? '';
  }

  private sourceContext(): SourceContext {
    return {
      flow: this.name,
      log: this.log,
      signal: this.intakeAbort.signal,
      state: sourceState(this.deps.db, this.name),
      emit: (items, checkpoint) => this.emit(items, checkpoint),
      hasCapacity: () => this.hasCapacity(),
      problem: (message, detail) => {
        this.log.warn(detail ?? {}, message);
        this.noteSourceProblem(message);
      },
      stillFailing: (message) => {
        this.problemsReported++;
        this.latestProblem = message;
      },
      call: (item, opts) => this.call(item, opts.timeoutMs),
      outcome: (ticket, opts) => this.outcome(ticket, opts?.waitMs ?? 0),
    };
  }

  // ---------------------------------------------------------------- synchronous calls (issue 5)

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
    const direct = !this.paused && this.cfg.enabled && this.ordering === 'none' && this.breaker.state === 'closed' && !this.deps.held?.();
    const row = this.rowFor(item, body, direct ? now + LEASE_MS : undefined);
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
        if (leased) this.deliver(leased);
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
    if (!/^\d{1,15}$/.test(ticket)) return Promise.resolve(undefined);
    const id = Number(ticket);
    if (!justQueued) {
      const now = this.settledOutcome(id);
      if (now === undefined || now.state !== 'pending' || waitMs <= 0) return Promise.resolve(now);
    }
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const done = (o: CallOutcome) => {
        clearTimeout(timer);
        set!.delete(done);
        if (set!.size === 0) this.waiters.delete(id);
        resolve(o);
      };
      const timer = setTimeout(() => done(this.settledOutcome(id) ?? { ticket, state: 'pending' }), waitMs);
      timer.unref(); // a waiting caller never keeps a stopping process alive
      set.add(done);
    });
  }

  /** Reads an item's outcome from the queue (pending while queued, in flight or retrying). */
  private settledOutcome(id: number): CallOutcome | undefined {
    const recent = this.uncommitted.get(id);
    if (recent) return recent;
    const row = this.deps.queue.get(id);
    if (!row || row.flow !== this.name) return undefined;
    const ticket = String(id);
    switch (row.state) {
      case 'delivered':
        return {
          ticket,
          state: 'delivered',
          reply: this.deps.queue.reply(id),
        };
      case 'dead':
        return { ticket, state: 'dead', reason: row.last_error ?? 'dead', status: row.last_status ?? undefined, response: row.last_response ?? undefined };
      case 'discarded':
        return { ticket, state: 'discarded' };
      default:
        return { ticket, state: 'pending', reason: row.last_error ?? undefined };
    }
  }

  /** Resolves the synchronous callers waiting for this item with its final outcome. */
  private answerWaiters(id: number, s: Settlement): void {
    const set = this.waiters.get(id);
    if ((!set || set.size === 0) && !this.source.keepsReplies) return;
    const ticket = String(id);
    let o: CallOutcome;
    if (s.kind === 'delivered') o = { ticket, state: 'delivered', reply: s.reply, detail: s.detail };
    else if (s.kind === 'dead') o = { ticket, state: 'dead', reason: s.reason, status: s.status, response: s.response };
    else return;
    // until the outcome commits, a GET by ticket reads it from here (the database still says in flight)
    if (this.source.keepsReplies) this.uncommitted.set(id, o);
    for (const w of [...(set ?? [])]) w(o);
  }

  private noteError(message: string): void {
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
      if (trigger.catchUp) {
        const since = fs0.last_run_at ?? fs0.first_seen_at;
        const missed = schedule.missedSince(new Date(since), new Date());
        if (missed) {
          this.log.info({ missed: missed.toISOString() }, 'running a schedule tick missed while Ferry was off');
          void this.runScan('catch-up');
        }
      }
    }
    this.dispatcher = this.dispatchLoop();
  }

  /** Stops intake now; lets deliveries in flight finish for up to graceMs, then interrupts them. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.intakeAbort.abort();
    await this.schedule?.stop();
    await this.teardown?.().catch((err) => this.log.warn({ err: errorMessage(err) }, 'closing the source failed'));
    await this.scanning;
    this.wake();
    const timer = setTimeout(() => this.sendAbort.abort(), graceMs);
    await this.dispatcher;
    clearTimeout(timer);
    // callers still waiting get "pending" with their ticket: the item stays queued for the next start
    for (const [id, set] of this.waiters) for (const w of [...set]) w({ ticket: String(id), state: 'pending', reason: 'Ferry is stopping' });
    // A delivery finishing during shutdown starts its after-delivery step only once its outcome committed:
    // wait until nothing new appears, or that step would run against a closed database.
    while (this.pendingAfter.size > 0) await Promise.all([...this.pendingAfter]);
    await this.source.close?.();
    await this.destination.close?.();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.deps.flowStates.update(this.name, { paused: paused ? 1 : 0 });
    this.wake();
  }

  // ---------------------------------------------------------------- dispatch

  /** There may be new work in the queue (items queued, retries rescheduled, another process wrote): look. */
  wake(): void {
    this.idle = undefined;
    this.nudge();
  }

  /** A delivery slot freed or leases were handed over: go on, but the queue itself holds nothing new. */
  private nudge(): void {
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

  /**
   * Leases ahead (up to PREFETCH × concurrency items per transaction) so a busy flow does not pay one
   * fsync'd lease per item; unstarted leases go back to the queue when the circuit opens or Ferry stops.
   */
  private async dispatchLoop(): Promise<void> {
    while (!this.stopping) {
      this.counters.dispatchTurns++;
      const now = Date.now();
      // Nothing leasable was left at the last look (and no retry is due yet): skip the lease transaction until
      // this process queues something, another process writes the database, a retry falls due, or
      // IDLE_RECHECK_MS passed (issue 6: idle CPU with many flows; issue 2: no empty lease per delivery).
      const quiet =
        this.idle !== undefined &&
        this.deps.dataVersion !== undefined &&
        this.deps.dataVersion() === this.idle.version &&
        now - this.idle.since < (this.deps.idleRecheckMs ?? IDLE_RECHECK_MS) &&
        (this.idle.retryAt === undefined || now < this.idle.retryAt);
      if (quiet && this.buffered.length === 0) {
        const untilRetry = this.idle!.retryAt === undefined ? IDLE_POLL_MS : this.idle!.retryAt - now;
        await this.sleep(Math.max(5, Math.min(untilRetry, IDLE_POLL_MS)));
        continue;
      }
      const versionBefore = quiet ? undefined : this.deps.dataVersion?.();
      if (this.paused || !this.cfg.enabled || this.deps.held?.()) {
        this.releaseBuffered();
        await this.sleep(IDLE_POLL_MS);
        continue;
      }
      const permits = this.breaker.permits(now, this.concurrency, this.inFlight.size);
      if (permits === 0) {
        if (this.breaker.state !== 'closed') this.releaseBuffered();
        await this.sleep(this.inFlight.size > 0 ? IDLE_POLL_MS : Math.max(10, Math.min(this.breaker.waitMs(now), IDLE_POLL_MS)));
        continue;
      }
      if (this.buffered.length < permits && !quiet) {
        const want = this.breaker.state === 'closed' ? permits + this.concurrency * PREFETCH - this.buffered.length : permits - this.buffered.length;
        let leased: LeasedItem[];
        try {
          leased = this.deps.queue.lease(this.name, want, LEASE_MS, now, this.ordering);
        } catch (err) {
          this.log.error({ err: errorMessage(err) }, 'leasing items failed');
          await this.sleep(IDLE_POLL_MS);
          continue;
        }
        this.buffered.push(...leased);
        if (leased.length < want && versionBefore !== undefined) {
          // the queue has nothing more ready now; remember when the next retry falls due
          this.idle = { version: versionBefore, since: Date.now(), retryAt: this.deps.queue.nextRetryAt(this.name) };
        }
      }
      if (this.buffered.length === 0) {
        const retryAt = this.idle?.retryAt ?? this.deps.queue.nextRetryAt(this.name);
        await this.sleep(retryAt === undefined ? IDLE_POLL_MS : Math.max(5, Math.min(retryAt - Date.now(), IDLE_POLL_MS)));
        continue;
      }
      for (const row of this.buffered.splice(0, permits)) this.deliver(row);
    }
    this.releaseBuffered();
    // Shutdown: wait for deliveries in flight (interrupted after the grace period by sendAbort).
    while (this.inFlight.size > 0) await this.sleep(50);
  }

  private releaseBuffered(): void {
    if (this.buffered.length === 0) return;
    this.idle = undefined; // these go back to the queue: the next look must find them
    const rows = this.buffered.splice(0);
    for (const row of rows) void this.deps.settle.push({ id: row.id, kind: 'release' }).catch(() => undefined);
  }

  private outgoing(row: LeasedRow, attributes: Record<string, any>): OutgoingItem {
    const content = this.deps.content;
    const queue = this.deps.queue;
    const file = row.body_file;
    const inline = () => row.inline ?? queue.body(row.id) ?? Buffer.alloc(0);
    return {
      id: row.id,
      flow: row.flow,
      name: row.name,
      idempotencyKey: row.idem_key,
      attributes,
      size: row.size,
      sha256: row.sha256,
      attempt: row.attempts,
      openBody: () => (file ? fs.createReadStream(content.pathOf(file)) : Readable.from([inline()])),
      readBody: async () => (file ? fs.promises.readFile(content.pathOf(file)) : inline()),
      bodyFile: file ? content.pathOf(file) : undefined,
    };
  }

  private deliver(row: LeasedRow): void {
    const abort = new AbortController();
    const onStop = () => abort.abort();
    this.sendAbort.signal.addEventListener('abort', onStop, { once: true });
    this.inFlight.set(row.id, abort);
    const started = Date.now();
    const attrs = JSON.parse(row.attrs) as Record<string, any>;
    // a part of a processed file: the file's after-delivery waits for all its parts
    const parentKey = this.processor && typeof attrs.parentKey === 'string' ? (attrs.parentKey as string) : undefined;
    const done = (async () => {
      let outcome: DeliveryOutcome;
      try {
        outcome = await this.destination.send(this.outgoing(row, { ...attrs }), { flow: this.name, log: this.log, signal: abort.signal, wantsReply: this.source.keepsReplies === true });
      } catch (err) {
        outcome = outcomeOfThrown(err);
      }
      const now = Date.now();
      const item = { flow: this.name, name: row.name };
      let settlement: Settlement;
      const held = outcome.kind === 'retry' ? this.deps.held?.() : undefined;
      if (abort.signal.aborted && outcome.kind !== 'delivered') {
        settlement = { id: row.id, kind: 'release' }; // interrupted by shutdown: not a failed attempt
      } else if (held) {
        settlement = { id: row.id, kind: 'release' }; // waits for consent, queued as it was: not a failed attempt
        if (this.facts.lastError !== held) this.noteError(held);
      } else if (outcome.kind === 'delivered') {
        this.breaker.success();
        this.facts.lastDeliveryAt = now;
        settlement = {
          id: row.id,
          kind: 'delivered',
          afterPending: this.source.afterDelivery !== undefined && parentKey === undefined,
          detail: outcome.detail,
          reply: this.source.keepsReplies ? outcome.reply : undefined,
          item,
        };
        this.log.debug({ item: row.id, name: row.name, ms: now - started }, 'delivered');
      } else if (outcome.kind === 'dead' || row.attempts >= this.cfg.retry.maxAttempts) {
        if (outcome.kind === 'retry') this.breaker.failure(now);
        else this.breaker.success(); // the destination answered: it is reachable
        const reason = outcome.kind === 'dead' ? outcome.reason : `gave up after ${row.attempts} attempts: ${outcome.reason}`;
        settlement = { id: row.id, kind: 'dead', reason, status: outcome.status, response: outcome.response, item };
        this.noteError(`${row.name}: ${reason}`);
        this.log.warn({ item: row.id, name: row.name, reason }, 'item is dead');
      } else {
        this.breaker.failure(now);
        const nextAt = nextAttemptAt(now, row.attempts, this.cfg.retry, outcome.retryAfterMs);
        settlement = { id: row.id, kind: 'retry', nextAt, reason: outcome.reason, status: outcome.status, response: outcome.response, item };
        this.noteError(`${row.name}: ${outcome.reason}`);
        this.log.info({ item: row.id, name: row.name, reason: outcome.reason, attempt: row.attempts, retryInMs: nextAt - now }, 'delivery failed; will retry');
      }
      const c = this.counters;
      if (settlement.kind === 'delivered') (c.delivered++, (c.bytesDelivered += row.size));
      else if (settlement.kind === 'dead') (c.dead++, c.errors.delivery++);
      else if (settlement.kind === 'retry') (c.retries++, c.errors.delivery++);
      if (settlement.kind !== 'release') c.onDeliveryTime?.((now - started) / 1000, settlement.kind);
      // A synchronous caller gets its answer now; the outcome's commit follows in the same group commit (a crash
      // in between re-sends the item later with the same idempotency key, as for any delivery).
      if (settlement.kind === 'delivered' || settlement.kind === 'dead') this.answerWaiters(row.id, settlement);
      // The slot frees now; the outcome commits with others in one transaction (group commit). The item stays
      // 'inflight' in the database until then, so it cannot be leased twice.
      this.sendAbort.signal.removeEventListener('abort', onStop);
      this.inFlight.delete(row.id);
      this.nudge();
      try {
        // A failed commit (Ferry's disk full) is tried again every 2 s: the item stays in flight in the database
        // meanwhile, and is sent again only if Ferry stops first (after the restart, with the same key).
        for (let attempt = 1; ; attempt++) {
          try {
            await this.deps.settle.push(settlement);
            break;
          } catch (err) {
            // once per item at error level: a full disk would otherwise log every in-flight item every 2 s
            this.log[attempt === 1 ? 'error' : 'debug']({ item: row.id, err: errorMessage(err), attempt }, 'recording a delivery outcome failed; trying again in 2 s');
            this.noteError(`recording a delivery outcome failed: ${errorMessage(err)}`);
            if (this.stopping) return;
            await delay(OUTCOME_RETRY_MS, undefined, { signal: this.intakeAbort.signal }).catch(() => undefined);
            if (this.stopping) return;
          }
        }
        // in order (fifo): the next item becomes leasable only now; given back: it is queued again
        if (this.ordering !== 'none' || settlement.kind === 'release') this.wake();
      } finally {
        this.uncommitted.delete(row.id);
      }
      // The retry time is in the database only now (this connection's own commit does not change
      // data_version): wake a dispatcher that went idle meanwhile, or the retry waits for IDLE_RECHECK_MS.
      if (settlement.kind === 'retry') this.wake();
      if (settlement.kind === 'delivered' && settlement.afterPending) {
        this.runAfterDelivery({ id: row.id, sourceKey: row.source_key, name: row.name, attributes: attrs });
      }
      if (parentKey !== undefined && (settlement.kind === 'delivered' || settlement.kind === 'dead')) {
        this.afterParentSettled(parentKey, String(attrs.fileName ?? row.name), parentAttributes(attrs));
      }
    })();
    this.track(done);
  }

  /** Keeps a promise until it settles, so stop() can wait for outcome commits and after-delivery steps. */
  private track(p: Promise<void>): void {
    this.pendingAfter.add(p);
    void p.finally(() => this.pendingAfter.delete(p));
  }

  /**
   * Moves/deletes the source original after a confirmed delivery; a failure is retried by maintenance.
   * At most one run per item at a time (delivery, duplicate detection and the retry sweep may all ask).
   */
  runAfterDelivery(item: { id?: number; sourceKey: string; name: string; attributes: Record<string, any> }): void {
    const key = item.id ? `id:${item.id}` : `src:${item.sourceKey}`;
    if (this.afterRunning.has(key)) return;
    this.afterRunning.add(key);
    const p = (async () => {
      try {
        await this.source.afterDelivery!({ id: item.id ?? 0, sourceKey: item.sourceKey, name: item.name, attributes: item.attributes, outcome: 'delivered' });
        if (item.id) await this.deps.afterDone.push(item.id);
      } catch (err) {
        this.counters.errors['after-delivery']++;
        const msg = `after-delivery step for ${item.name} failed: ${errorMessage(err)} (will retry)`;
        this.log.warn(msg);
        this.noteError(msg);
      } finally {
        this.afterRunning.delete(key);
      }
    })();
    this.track(p);
  }

  get afterDeliveryRunning(): number {
    return this.afterRunning.size;
  }
}

/** The attributes a processed file had when its source emitted it (kept on each of its parts). */
function parentAttributes(attrs: Record<string, any>): Record<string, any> {
  try {
    if (typeof attrs.parentAttributes === 'string') return JSON.parse(attrs.parentAttributes);
  } catch {
    // fall through: the part's own attributes carry the parent's too
  }
  return attrs;
}
