// Ferry's Prometheus metrics (prom-client). Nothing here runs per item except one histogram observation per
// delivery attempt: the counters are the flows' own FlowCounters, read when Prometheus scrapes, and the
// gauges come from the queue and the flows' state at that moment.
import fs from 'node:fs';
import path from 'node:path';
import type { Histogram } from 'prom-client';
import type { Engine } from '../engine.ts';
import type { FlowRuntime } from '../flow.ts';
import type { FlowCounters } from '../telemetry.ts';
import { ITEM_STATES, type ItemState } from '../store/queue.ts';
import { freeBytes } from '../store/datadir.ts';
import { configVersion } from '../config/version.ts';
import { packageVersion } from '../paths.ts';

/** The text format's content type (0.0.4), what Prometheus asks for. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = { integration: string; flow: string };
type CounterField = 'taken' | 'delivered' | 'retries' | 'dead' | 'discarded' | 'bytesDelivered';
const COUNTER_FIELDS: CounterField[] = ['taken', 'delivered', 'retries', 'dead', 'discarded', 'bytesDelivered'];

/** Seconds: from a local API's few milliseconds to a slow upload. */
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** What one scrape reads, taken once and shared by every family's collect(). */
interface Snapshot {
  flows: Array<{
    labels: Labels;
    runtime: FlowRuntime;
    totals: Record<CounterField, number>;
    counts: Record<ItemState, number>;
    oldestWaitingAt: number | null;
    nextRunAt: number | null;
  }>;
}

type PromClient = typeof import('prom-client');

export class FerryMetrics {
  readonly registry: InstanceType<PromClient['Registry']>;
  private readonly engine: Engine;
  private snapshot: Snapshot = { flows: [] };
  /**
   * Per flow name: the runtime last seen and what earlier runtimes of that flow counted. A flow restarted by
   * a config change gets a fresh FlowCounters; its totals carry on, so Prometheus sees no counter reset.
   */
  private readonly carried = new Map<string, { runtime: FlowRuntime; base: Record<CounterField, number> }>();
  private readonly oldestStmt;
  private readonly histogram: Histogram<'integration' | 'flow'>;

  /** prom-client loads here, on first use: an agent nobody scrapes does not carry it. */
  static async create(engine: Engine): Promise<FerryMetrics> {
    return new FerryMetrics(engine, await import('prom-client'));
  }

  private constructor(engine: Engine, prom: PromClient) {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = prom;
    this.registry = new Registry();
    this.engine = engine;
    const registers = [this.registry];
    const snap = () => this.snapshot;
    this.oldestStmt = engine.db.prepare<[{ flow: string }], { t: number | null }>(
      `SELECT MIN(created_at) AS t FROM items WHERE id IN (
         SELECT MIN(id) FROM items WHERE flow = @flow AND state = 'queued'
         UNION ALL SELECT MIN(id) FROM items WHERE flow = @flow AND state = 'retrying'
         UNION ALL SELECT MIN(id) FROM items WHERE flow = @flow AND state = 'inflight')`,
    );

    // Per-flow families are plain collectors registered with prom-client's registry: they hand it the values
    // read now, with each flow's labels as one object whose text prom-client caches (no hashing, no reset).
    const family = (name: string, help: string, type: 'counter' | 'gauge', values: () => Array<{ value: number; labels?: Record<string, string>; sharedLabels: Labels }>) =>
      this.registry.registerMetric({ name, help, type, aggregator: 'sum', get: () => ({ name, help, type, aggregator: 'sum', values: values() }) } as never);
    const flowCounter = (name: string, help: string, field: CounterField) =>
      family(name, help, 'counter', () => snap().flows.map((f) => ({ value: f.totals[field], sharedLabels: f.labels })));
    flowCounter('ferry_items_taken_total', 'Items queued by the flow (counted since the engine started).', 'taken');
    flowCounter('ferry_items_delivered_total', 'Items the destination accepted.', 'delivered');
    flowCounter('ferry_delivery_retries_total', 'Failed delivery attempts that will be tried again.', 'retries');
    flowCounter('ferry_items_dead_total', 'Items that went dead (a permanent refusal, or out of attempts).', 'dead');
    flowCounter('ferry_items_discarded_total', 'Items an admin discarded.', 'discarded');
    flowCounter('ferry_bytes_delivered_total', 'Body bytes of delivered items.', 'bytesDelivered');

    const stateLabels = ITEM_STATES.map((state) => ({ state, labels: { state } }));
    family('ferry_items', 'Items in the queue by state (delivered and discarded ones are kept for retention.deliveredDays).', 'gauge', () =>
      snap().flows.flatMap((f) => stateLabels.map((s) => ({ value: f.counts[s.state], labels: s.labels, sharedLabels: f.labels }))),
    );
    const flowGauge = (name: string, help: string, value: (f: Snapshot['flows'][number]) => number | null) =>
      family(name, help, 'gauge', () => {
        const out = [];
        for (const f of snap().flows) {
          const v = value(f);
          if (v !== null) out.push({ value: v, sharedLabels: f.labels });
        }
        return out;
      });
    const now = () => Date.now();
    flowGauge('ferry_oldest_waiting_seconds', 'Age of the oldest item waiting (queued, retrying or in flight); 0 when none waits.', (f) => (f.oldestWaitingAt === null ? 0 : Math.max(0, (now() - f.oldestWaitingAt) / 1000)));
    flowGauge('ferry_source_failing', '1 while the scheduled scans of the source report a problem.', (f) => (f.runtime.facts.sourceFailingSince ? 1 : 0));
    flowGauge('ferry_circuit_open', "1 while the destination's circuit breaker is open or half-open (deliveries paused after failures).", (f) => (f.runtime.breaker.state === 'closed' ? 0 : 1));
    flowGauge('ferry_intake_paused', '1 while intake stops for back pressure (queue limits, disk floor).', (f) => (f.runtime.facts.intakeBlocked ? 1 : 0));
    flowGauge('ferry_deliveries_paused', '1 while an admin paused the deliveries of the flow.', (f) => (f.runtime.paused ? 1 : 0));
    flowGauge('ferry_flow_enabled', '0 for a flow disabled in the config.', (f) => (f.runtime.cfg.enabled ? 1 : 0));
    flowGauge('ferry_last_delivery_timestamp_seconds', 'When the flow last delivered an item (Unix time); absent before its first delivery.', (f) => (f.runtime.facts.lastDeliveryAt ? f.runtime.facts.lastDeliveryAt / 1000 : null));
    flowGauge('ferry_next_run_timestamp_seconds', 'Next schedule tick of a scheduled flow (Unix time).', (f) => (f.nextRunAt ? f.nextRunAt / 1000 : null));

    this.histogram = new Histogram({
      name: 'ferry_delivery_duration_seconds',
      help: 'Time of each delivery attempt, by its outcome counted in the flow counters.',
      labelNames: ['integration', 'flow'],
      buckets: DELIVERY_BUCKETS,
      registers,
    });

    // process: resident memory, CPU, event-loop lag, heap, GC, open files (ferry_process_*, ferry_nodejs_*)
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_', eventLoopMonitoringPrecision: 20 });

    const dataDir = engine.dataDir;
    new Gauge({
      name: 'ferry_data_dir_free_bytes',
      help: 'Free space on the disk of the data dir (intake stops below minFreeDiskMb).',
      registers,
      collect() {
        try {
          this.set(freeBytes(dataDir));
        } catch {
          this.reset(); // unreadable: no sample rather than a wrong one
        }
      },
    });
    const fileSize = (file: string) => fs.statSync(path.join(dataDir, file), { throwIfNoEntry: false })?.size ?? 0;
    new Gauge({ name: 'ferry_database_bytes', help: 'Size of the queue database file (ferry.db).', registers, collect() { this.set(fileSize('ferry.db')); } });
    new Gauge({ name: 'ferry_database_wal_bytes', help: 'Size of the database write-ahead log (ferry.db-wal).', registers, collect() { this.set(fileSize('ferry.db-wal')); } });
    new Gauge({
      name: 'ferry_build_info',
      help: "Ferry's version and the applied configuration's version (a short hash); always 1.",
      labelNames: ['version', 'config_version'],
      registers,
      collect() {
        this.reset();
        this.set({ version: packageVersion(), config_version: configVersion(engine.loaded) }, 1);
      },
    });
    new Counter({
      name: 'ferry_store_ahead_total',
      help: 'Large files copied into the store while they settled: started, used by their item, dropped (the file changed, went away or was not taken).',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        for (const [outcome, n] of Object.entries(engine.content.aheadCounts)) this.inc({ outcome }, n);
      },
    });
    new Gauge({ name: 'ferry_start_time_seconds', help: 'When this engine started (Unix time).', registers, collect() { this.set(engine.startedAt / 1000); } });

    for (const flow of engine.flows.values()) this.observe(flow);
  }

  /** Hooks a flow's delivery times into the histogram (called for every flow the engine builds). */
  observe(flow: FlowRuntime): void {
    const child = this.histogram.labels({ integration: flow.integration, flow: flow.name });
    flow.counters.onDeliveryTime = (seconds) => child.observe(seconds);
  }

  /** The whole text exposition, read from the engine now. */
  async render(): Promise<string> {
    this.snapshot = this.take();
    try {
      return await this.registry.metrics();
    } finally {
      this.snapshot = { flows: [] }; // no runtimes kept alive between scrapes
    }
  }

  private take(): Snapshot {
    const engine = this.engine;
    const zero = () => Object.fromEntries(ITEM_STATES.map((s) => [s, 0])) as Record<ItemState, number>;
    const counts = new Map<string, Record<ItemState, number>>();
    for (const c of engine.queue.counts()) {
      const entry = counts.get(c.flow) ?? zero();
      entry[c.state] = c.n;
      counts.set(c.flow, entry);
    }
    const nextRuns = new Map(engine.flowStates.all().map((s) => [s.flow, s.next_run_at]));
    const flows: Snapshot['flows'] = [];
    for (const runtime of engine.flows.values()) {
      const c = counts.get(runtime.name) ?? zero();
      const waiting = c.queued + c.retrying + c.inflight;
      flows.push({
        labels: this.labelsOf(runtime),
        runtime,
        totals: this.totals(runtime),
        counts: c,
        oldestWaitingAt: waiting > 0 ? (this.oldestStmt.get({ flow: runtime.name })?.t ?? null) : null,
        nextRunAt: 'schedule' in runtime.cfg.trigger && runtime.cfg.enabled ? (nextRuns.get(runtime.name) ?? null) : null,
      });
    }
    for (const name of this.carried.keys()) if (!engine.flows.has(name)) this.carried.delete(name);
    return { flows };
  }

  private readonly labelObjects = new WeakMap<FlowRuntime, Labels>();

  /** One labels object per flow runtime: prom-client caches its text by object. */
  private labelsOf(runtime: FlowRuntime): Labels {
    let l = this.labelObjects.get(runtime);
    if (!l) this.labelObjects.set(runtime, (l = { integration: runtime.integration, flow: runtime.name }));
    return l;
  }

  private totals(runtime: FlowRuntime): Record<CounterField, number> {
    let entry = this.carried.get(runtime.name);
    if (!entry) {
      entry = { runtime, base: Object.fromEntries(COUNTER_FIELDS.map((f) => [f, 0])) as Record<CounterField, number> };
      this.carried.set(runtime.name, entry);
    } else if (entry.runtime !== runtime) {
      // the old runtime is stopped: its counters are final
      for (const f of COUNTER_FIELDS) entry.base[f] += entry.runtime.counters[f];
      entry.runtime = runtime;
    }
    const counters: FlowCounters = runtime.counters;
    return Object.fromEntries(COUNTER_FIELDS.map((f) => [f, entry.base[f] + counters[f]])) as Record<CounterField, number>;
  }
}
