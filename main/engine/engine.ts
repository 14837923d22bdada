// The engine: opens the data dir (lock, database, content store), builds each flow from its connectors,
// runs them, keeps the queue healthy (expired leases, after-delivery retries, pruning, disk floor) and stops
// cleanly. Plain Node: it never imports electron.
import path from 'node:path';
import type { LoadedConfig } from './config/load.ts';
import type { FerryConfig } from './config/schema.ts';
import { connectorOf } from './registry.ts';
import { openDatabase, type Db } from './store/db.ts';
import { Queue, type ItemFilter, type Settlement } from './store/queue.ts';
import { ContentStore } from './store/content.ts';
import { FlowStates } from './store/state.ts';
import { freeBytes, lockDataDir, prepareDataDir } from './store/datadir.ts';
import { Batcher } from './batcher.ts';
import { FlowRuntime, type IntakeResult, type IntakeWrite } from './flow.ts';
import { readStatus, type StatusReport } from './status.ts';
import { silentLogger, type Logger } from './logger.ts';
import { errorMessage } from '../../connectors/contract.ts';

const DAY = 86_400_000;

export interface EngineOptions {
  log?: Logger;
  /** How long stop() lets in-flight deliveries finish. */
  stopGraceMs?: number;
}

/** Opens the database of a data dir without the run lock (status and queue commands, other processes). */
export function openStore(dataDir: string): { db: Db; queue: Queue; flowStates: FlowStates; content: ContentStore; close(): void } {
  prepareDataDir(dataDir);
  const db = openDatabase(path.join(dataDir, 'ferry.db'));
  return { db, queue: new Queue(db), flowStates: new FlowStates(db), content: new ContentStore(dataDir), close: () => db.close() };
}

export class Engine {
  readonly config: FerryConfig;
  readonly dataDir: string;
  readonly db: Db;
  readonly queue: Queue;
  readonly content: ContentStore;
  readonly flowStates: FlowStates;
  readonly flows = new Map<string, FlowRuntime>();
  readonly log: Logger;
  private readonly unlock: () => void;
  private readonly stopGraceMs: number;
  private maintenance?: NodeJS.Timeout;
  private diskProblem: string | undefined;
  private lastPrune = 0;
  private lastSlow = 0;
  private readonly writtenFacts = new Map<string, string>();
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  private constructor(loaded: LoadedConfig, opts: EngineOptions) {
    this.config = loaded.config;
    this.dataDir = loaded.dataDir;
    this.log = opts.log ?? silentLogger;
    this.stopGraceMs = opts.stopGraceMs ?? 10_000;
    prepareDataDir(this.dataDir);
    this.unlock = lockDataDir(this.dataDir);
    try {
      this.db = openDatabase(path.join(this.dataDir, 'ferry.db'));
    } catch (err) {
      this.unlock();
      throw err;
    }
    this.queue = new Queue(this.db);
    this.content = new ContentStore(this.dataDir);
    this.flowStates = new FlowStates(this.db);

    const intake = new Batcher<IntakeWrite, IntakeResult>((writes) => {
      const rows = writes.flatMap((w) => w.rows);
      const state = writes.flatMap((w) => w.state);
      const all = this.queue.enqueue(rows, state);
      // split the combined result back per caller
      const dupRows = new Set(all.duplicates.map((d) => d.row));
      let cursor = 0;
      return writes.map((w) => {
        const mine = w.rows.filter((r) => !dupRows.has(r));
        const ids = all.ids.slice(cursor, cursor + mine.length);
        cursor += mine.length;
        const own = new Set(w.rows);
        return { ids, duplicates: all.duplicates.filter((d) => own.has(d.row)) };
      });
    }, { maxBatch: 2000 });
    const settle = new Batcher<Settlement, void>((s) => {
      this.queue.settle(s);
      return s.map(() => undefined);
    }, { maxBatch: 1000, maxDelayMs: 15 });
    const afterDone = new Batcher<number, void>((ids) => {
      this.queue.markAfterDone(ids);
      return ids.map(() => undefined);
    }, { maxBatch: 1000, maxDelayMs: 50 });

    for (const integration of this.config.integrations) {
      for (const flowCfg of integration.flows) {
        const env = { configDir: loaded.dir, log: this.log.child({ flow: flowCfg.name }) };
        const { type: st, ...sourceCfg } = flowCfg.source as { type: string } & Record<string, unknown>;
        const { type: dt, ...destCfg } = flowCfg.destination as { type: string } & Record<string, unknown>;
        const source = connectorOf(st).createSource!(sourceCfg, env);
        const destination = connectorOf(dt).createDestination!(destCfg, env);
        this.flows.set(
          flowCfg.name,
          new FlowRuntime(integration.name, flowCfg, source, destination, {
            db: this.db,
            queue: this.queue,
            content: this.content,
            flowStates: this.flowStates,
            intake,
            settle,
            afterDone,
            log: this.log,
            diskOk: () => this.diskProblem,
          }),
        );
      }
    }
    this.batchers = [intake, settle, afterDone];
  }

  private readonly batchers: Array<{ flush(): void }>;

  /** Opens the data dir (refusing network shares and a second engine on the same queue). */
  static open(loaded: LoadedConfig, opts: EngineOptions = {}): Engine {
    return new Engine(loaded, opts);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('engine already started');
    this.state = 'running';
    const requeued = this.queue.requeueAllInflight();
    if (requeued > 0) this.log.info({ items: requeued }, 'items in flight when Ferry last stopped are queued again');
    this.checkDisk();
    await this.prune().catch((err) => this.log.warn({ err: errorMessage(err) }, 'pruning failed'));
    await this.content.collectGarbage((f) => this.queue.isBodyFileReferenced(f)).catch((err) => this.log.warn({ err: errorMessage(err) }, 'content store clean-up failed'));
    for (const flow of this.flows.values()) {
      if (!flow.cfg.enabled) {
        this.flowStates.ensure(flow.name);
        continue;
      }
      try {
        await flow.start();
      } catch (err) {
        this.log.error({ flow: flow.name, err: errorMessage(err) }, 'flow failed to start');
        flow.facts.lastError = `failed to start: ${errorMessage(err)}`;
        flow.facts.lastErrorAt = Date.now();
      }
    }
    this.retryAfterDelivery();
    this.lastSlow = this.lastPrune = Date.now();
    this.maintenance = setInterval(() => this.maintain(), 1000);
    this.log.info({ flows: this.flows.size, dataDir: this.dataDir }, 'Ferry is running');
  }

  /** Every second: flow facts to flow_state; every 30 s: leases, after-delivery retries, disk; hourly: prune. */
  private maintain(): void {
    try {
      const now = Date.now();
      this.persistFacts();
      if (now - this.lastSlow >= 30_000) {
        this.lastSlow = now;
        const running = new Set([...this.flows.values()].flatMap((f) => f.runningIds()));
        this.queue.requeueExpired(now, running);
        this.retryAfterDelivery();
        this.checkDisk();
      }
      if (now - this.lastPrune >= 3600_000) {
        this.lastPrune = now;
        void this.prune(now);
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'maintenance failed');
    }
  }

  /** Writes what each flow knows (last delivery, last error, breaker) for other processes to read. */
  private persistFacts(): void {
    for (const flow of this.flows.values()) {
      flow.refreshIntake();
      const facts = {
        last_delivery_at: flow.facts.lastDeliveryAt,
        last_error: flow.facts.lastError,
        last_error_at: flow.facts.lastErrorAt,
        intake_blocked: flow.facts.intakeBlocked ?? null,
        unreachable_since: flow.breaker.state === 'closed' ? null : (flow.breaker.failingSince ?? null),
      };
      const key = JSON.stringify(facts);
      if (this.writtenFacts.get(flow.name) === key) continue; // idle: no write, no fsync
      this.flowStates.update(flow.name, facts);
      this.writtenFacts.set(flow.name, key);
    }
  }

  private checkDisk(): void {
    const floor = this.config.minFreeDiskMb * 1024 * 1024;
    let problem: string | undefined;
    try {
      const free = freeBytes(this.dataDir);
      if (free < floor) problem = `disk nearly full: ${Math.round(free / 1048576)} MB free in ${this.dataDir} (minFreeDiskMb ${this.config.minFreeDiskMb})`;
    } catch (err) {
      problem = `cannot read free space of ${this.dataDir}: ${errorMessage(err)}`;
    }
    if (problem !== this.diskProblem) {
      if (problem) this.log.warn(problem);
      this.diskProblem = problem;
    }
  }

  /** Re-runs after-delivery steps that did not finish (a crash, a locked file). */
  private retryAfterDelivery(): void {
    for (const row of this.queue.afterPending()) {
      const flow = this.flows.get(row.flow);
      if (!flow || !flow.source.afterDelivery) {
        this.queue.markAfterDone([row.id]);
        continue;
      }
      if (flow.afterDeliveryRunning > 100) continue;
      flow.runAfterDelivery({ id: row.id, sourceKey: row.source_key, name: row.name, attributes: JSON.parse(row.attrs) });
    }
  }

  async prune(now = Date.now()): Promise<number> {
    const r = this.config.retention;
    const result = this.queue.prune(now - r.deliveredDays * DAY, now - r.fingerprintDays * DAY, now - Math.max(r.deliveredDays, 1) * DAY);
    for (const f of result.bodyFiles) await this.content.remove(f);
    if (result.items > 0) this.log.info({ items: result.items }, 'pruned delivered items');
    return result.items;
  }

  status(): StatusReport {
    return readStatus(this.config, this.queue, this.flowStates, this.state === 'running');
  }

  flow(name: string): FlowRuntime {
    const f = this.flows.get(name);
    if (!f) throw new Error(`no flow named "${name}"`);
    return f;
  }

  retry(filter: ItemFilter): number {
    const n = this.queue.retry(filter);
    for (const f of this.flows.values()) f.wake();
    return n;
  }

  async discard(filter: ItemFilter): Promise<number> {
    const rows = this.queue.discard(filter);
    for (const r of rows) if (r.bodyFile) await this.content.remove(r.bodyFile);
    return rows.length;
  }

  /** Stops intake, lets in-flight deliveries finish (bounded), writes what is pending and closes the database. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    clearInterval(this.maintenance);
    this.log.info('stopping: intake closed, letting deliveries in flight finish');
    await Promise.all([...this.flows.values()].map((f) => f.stop(this.stopGraceMs)));
    for (const b of this.batchers) b.flush();
    this.persistFacts();
    this.db.close();
    this.unlock();
    this.state = 'stopped';
    this.log.info('stopped');
  }
}
