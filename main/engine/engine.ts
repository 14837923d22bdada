// The engine: opens the data dir (lock, database, content store), builds each flow from its connectors,
// runs them, keeps the queue healthy (expired leases, after-delivery retries, pruning, disk floor) and stops
// cleanly. Plain Node: it never imports electron.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.ts';
import type { FerryConfig, FlowConfig } from './config/schema.ts';
import type { ApplyReport } from './admin/types.ts';
import { SecretStore } from './secrets.ts';
import { Scrubber } from './scrub.ts';
import { connectorOf } from './registry.ts';
import { openDatabase, type Db } from './store/db.ts';
import { Queue, type ItemFilter, type Settlement } from './store/queue.ts';
import { ContentStore } from './store/content.ts';
import { runInSteps, runPrunePass } from './store/retention.ts';
import { Checkpointer } from './store/checkpointer.ts';
import { FlowStates } from './store/state.ts';
import { DataDirError, dataDirExposure, freeBytes, lockDataDir, prepareDataDir } from './store/datadir.ts';
import { Batcher, type Taken } from './batcher.ts';
import { FlowRuntime, type FlowDeps, type IntakeResult, type IntakeWrite } from './flow.ts';
import { readStatus, type StatusReport } from './status.ts';
import { silentLogger, type Logger } from './logger.ts';
import { errorMessage } from '../../connectors/contract.ts';
import { collectStartupGarbage, favourSmallHeap } from './memory.ts';
import { AlertService, type AlertOptions } from './alerts/service.ts';
import { packageVersion } from './paths.ts';
import { ConnectionManager } from './oauth/connections.ts';
import { TokenStore } from './oauth/token-store.ts';
import { readConnections } from './oauth/state.ts';
import { Network, type NetDispatcher, type ProxyResolver } from '../../connectors/net/index.ts';
import { ConfigSourcePoller } from './config-source/poller.ts';
import { FerryMetrics } from './metrics/ferry-metrics.ts';
import { MetricsListener } from './metrics/listener.ts';
import { Fleet } from './fleet/fleet.ts';

const DAY = 86_400_000;
/** Between steps of pruning and key merges, WAL frames are copied back (and fsynced) from this many on. */
const BACKGROUND_COPY_FRAMES = 250;

export interface EngineOptions {
  log?: Logger;
  /** How long stop() lets in-flight deliveries finish. */
  stopGraceMs?: number;
  /** Store for ${secret:NAME}; applyConfig() and the admin API re-read configs through it. */
  secrets?: SecretStore;
  /**
   * OAuth tokens: encrypted in the data dir with the secret store's key (default), or 'memory' where no
   * protected key exists (the desktop app without an OS keystore).
   */
  tokenStorage?: 'memory';
  /** How often an idle flow looks at its queue with no sign of new work (default 10 s). */
  idleRecheckMs?: number;
  /** Removes credentials from what the engine writes and serves (default: one for this config and store). */
  scrubber?: Scrubber;
  /**
   * Per-URL proxy answers for `network.proxy: system`: the desktop app passes Electron's
   * session.resolveProxy, which evaluates PAC files. Headless, the OS settings are read instead.
   */
  resolveProxy?: ProxyResolver;
  /** Alerts' timings (tests shorten them). */
  alerts?: AlertOptions;
}

/** Opens the database of a data dir without the run lock (status and queue commands, other processes). */
export function openStore(dataDir: string, opts: { create?: boolean } = {}): { db: Db; queue: Queue; flowStates: FlowStates; content: ContentStore; close(): void } {
  // reading commands (status, queue) must not leave an empty data dir behind a typo'd or unused config
  if (opts.create === false && !fs.existsSync(path.join(dataDir, 'ferry.db'))) {
    throw new DataDirError(`no queue in ${dataDir} yet: Ferry has not run with this config (\`ferry run --config <file>\` starts it)`);
  }
  prepareDataDir(dataDir);
  const db = openDatabase(path.join(dataDir, 'ferry.db'));
  return { db, queue: new Queue(db), flowStates: new FlowStates(db), content: new ContentStore(dataDir), close: () => db.close() };
}

export class Engine {
  /** The running config; replaced by applyConfig(). */
  config: FerryConfig;
  /** The loaded config file (path, folder, raw text's values) the running config came from. */
  loaded: LoadedConfig;
  readonly dataDir: string;
  readonly db: Db;
  readonly queue: Queue;
  readonly content: ContentStore;
  private readonly checkpointer: Checkpointer;
  readonly flowStates: FlowStates;
  /** OAuth connections: their tokens, health and consent. */
  readonly connections: ConnectionManager;
  /** The network setting every outbound HTTP(S) client uses (connectors get it in their ConnectorEnv). */
  network: Network;
  readonly flows = new Map<string, FlowRuntime>();
  readonly log: Logger;
  private readonly unlock: () => void;
  /** Replaces the values of ${env:…} / ${secret:…} by their names in every text the engine stores or serves. */
  readonly scrubber: Scrubber;
  private readonly stopGraceMs: number;
  private readonly opts: EngineOptions;
  /** Pulls the central configuration when the config has `configSource`; status() shows its state. */
  configSource?: ConfigSourcePoller;
  /** Run first when the engine stops (what a host started on top of it: the admin API). */
  private readonly stopHooks: Array<() => Promise<void>> = [];
  /** Messages to the admin (`alerts:`), each channel an internal flow of its own. */
  readonly alerts: AlertService;
  /** Where the dashboard is served, set by whatever started the admin API on top (alerts link to it). */
  dashboardUrl?: string;
  readonly startedAt = Date.now();
  private maintenance?: NodeJS.Timeout;
  private diskProblem: string | undefined;
  private lastPrune = 0;
  private lastSlow = 0;
  private readonly writtenFacts = new Map<string, string>();
  /** Maintenance passes run (every second): a pass has written the flows' facts and looked at leases and disk. */
  maintenanceRuns = 0;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';

  private constructor(loaded: LoadedConfig, opts: EngineOptions) {
    this.loaded = loaded;
    this.config = loaded.config;
    this.dataDir = loaded.dataDir;
    this.log = opts.log ?? silentLogger;
    this.stopGraceMs = opts.stopGraceMs ?? 10_000;
    this.opts = opts;
    prepareDataDir(this.dataDir);
    this.unlock = lockDataDir(this.dataDir);
    try {
      this.db = openDatabase(path.join(this.dataDir, 'ferry.db'));
    } catch (err) {
      this.unlock();
      throw err;
    }
    this.queue = new Queue(this.db);
    // WAL checkpoints with their fsyncs off the engine's thread (store/checkpointer.ts)
    this.checkpointer = new Checkpointer(this.db, { onError: (err) => this.log.warn({ err: errorMessage(err) }, 'copying the WAL back into the database failed; trying again') });
    this.content = new ContentStore(this.dataDir);
    this.flowStates = new FlowStates(this.db);
    this.network = this.networkOf(this.config);
    // A receiver may echo a credential in an error reply: credentials (OAuth tokens too) never reach the database.
    this.scrubber = opts.scrubber ?? new Scrubber({ store: opts.secrets });
    this.scrubber.addLoaded(loaded);
    this.queue.redact = this.scrubber.text;
    this.flowStates.redact = this.scrubber.text;
    this.connections = new ConnectionManager(
      {
        db: this.db,
        store: new TokenStore(this.dataDir, this.db, opts.tokenStorage ?? opts.secrets ?? new SecretStore(this.dataDir)),
        log: this.log,
        // token, discovery and revocation requests follow the network setting (proxy, trust, client certificate)
        dispatcherFor: (url) => this.dispatcherFor(url),
        onChange: (key, state) => {
          if (!this.connections) return; // still loading: the flows are not built yet
          const c = this.connections.get(key);
          this.queue.addEvent('connection', null, null, { name: c?.settings.title ?? key, action: state, reason: c?.health.reason ?? undefined });
          for (const name of this.connections.flowsUsing(key)) this.flows.get(name)?.wake();
        },
      },
      loaded.config.connections,
    );

    // Outcomes and after-delivery marks waiting for their own commit ride along with the next intake commit
    // (and after-delivery marks with the next outcome commit): during a burst one fsync serves all three.
    const riders = (taken: Array<Taken<unknown>>) => {
      for (const t of taken) {
        if (t.values.length === 0) continue;
        if (t.from === this.settleBatcher) this.queue.settle(t.values as Settlement[]);
        else this.queue.markAfterDoneIn(t.values as number[]);
      }
    };
    this.intake = new Batcher<IntakeWrite, IntakeResult>((writes, taken) => {
      const rows = writes.flatMap((w) => w.rows);
      const state = writes.flatMap((w) => w.state);
      const all = this.queue.together(() => {
        riders(taken);
        return this.queue.enqueue(rows, state);
      });
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
    this.settleBatcher = new Batcher<Settlement, void>((s, taken) => {
      this.queue.together(() => {
        riders(taken);
        this.queue.settle(s);
      });
      return s.map(() => undefined);
      // A delivery's slot frees before its outcome commits, so the window costs no throughput; each commit
      // blocks the event loop for its fsync, so in a burst fewer, larger commits leave more time to send.
    }, { maxBatch: 1000, maxDelayMs: 50 });
    this.afterDone = new Batcher<number, void>((ids) => {
      this.queue.markAfterDone(ids);
      return ids.map(() => undefined);
    }, { maxBatch: 1000, maxDelayMs: 50 });
    this.intake.ride(this.settleBatcher);
    this.intake.ride(this.afterDone);
    this.settleBatcher.ride(this.afterDone);

    for (const integration of this.config.integrations) {
      for (const flowCfg of integration.flows) this.flows.set(flowCfg.name, this.buildFlow(integration.name, flowCfg, loaded.dir));
    }
    this.batchers = [this.intake, this.settleBatcher, this.afterDone];
    this.alerts = new AlertService(
      {
        config: () => this.config,
        configDir: () => this.loaded.dir,
        status: () => {
          this.persistFacts(); // the flows' latest facts (last error, breaker), not those of the last maintenance pass
          return this.status();
        },
        facts: () => ({ diskProblem: this.diskProblem }),
        dashboardUrl: () => this.dashboardUrl,
        flowDeps: () => this.flowDeps(),
        log: this.log.child({ part: 'alerts' }),
        net: () => this.network,
        version: packageVersion(),
      },
      opts.alerts,
    );
  }

  private readonly intake: Batcher<IntakeWrite, IntakeResult>;
  private readonly settleBatcher: Batcher<Settlement, void>;
  private readonly afterDone: Batcher<number, void>;
  private readonly batchers: Array<{ flush(): void }>;

  /** A Network for a config's `network` block, with this engine's options (the desktop app's proxy resolver). */
  networkOf(config: Pick<FerryConfig, 'network'>): Network {
    return new Network(config.network, { resolveProxy: this.opts.resolveProxy, log: this.log.child({ component: 'network' }) });
  }

  /**
   * A dispatcher (undici) for the engine's own HTTP clients (config pull, relay polling): the network
   * setting's proxy, trust and client certificate, routed per request. Do not close it: the engine does.
   */
  dispatcherFor(url: string | URL): NetDispatcher {
    return this.network.dispatcherFor(url);
  }

  /** Builds one flow's runtime from its config (connectors through the registry). */
  private buildFlow(integration: string, flowCfg: FlowConfig, configDir: string): FlowRuntime {
    const env = { configDir, log: this.log.child({ flow: flowCfg.name }), net: this.network };
    const { type: st, ...sourceCfg } = flowCfg.source as { type: string } & Record<string, unknown>;
    const { type: dt, ...destCfg } = flowCfg.destination as { type: string } & Record<string, unknown>;
    this.connections.forgetFlow(flowCfg.name);
    const tokens = (role: 'source' | 'destination') => ({ ...env, tokens: (auth: Parameters<ConnectionManager['provider']>[0]) => this.connections.provider(auth, flowCfg.name, role) });
    const source = connectorOf(st).createSource!(sourceCfg, tokens('source'));
    const destination = connectorOf(dt).createDestination!(destCfg, tokens('destination'));
    const flow = new FlowRuntime(integration, flowCfg, source, destination, { ...this.flowDeps(), held: () => this.connections.holdReason(flowCfg.name) });
    this.metricsMade?.observe(flow);
    return flow;
  }

  /** The shared parts a flow runs on. */
  private flowDeps(): FlowDeps {
    return {
      db: this.db,
      queue: this.queue,
      content: this.content,
      flowStates: this.flowStates,
      intake: this.intake,
      settle: this.settleBatcher,
      afterDone: this.afterDone,
      log: this.log,
      diskOk: () => this.diskProblem,
      dataVersion: () => this.dataVersion(),
      idleRecheckMs: this.opts.idleRecheckMs,
    };
  }

  private metricsMade?: FerryMetrics;
  /** The listener of `metrics.port`, when configured. */
  metricsListener?: MetricsListener;
  /** Fleet heartbeats and the fleet view (`fleet:`); their broker never touches the data path. */
  readonly fleet = new Fleet(this);
  private metricsMaking?: Promise<FerryMetrics>;

  /** The Prometheus metrics, made on first use (a scrape, or the metrics listener at start). */
  metrics(): Promise<FerryMetrics> {
    this.metricsMaking ??= FerryMetrics.create(this).then((m) => (this.metricsMade = m));
    return this.metricsMaking;
  }

  private version = { value: 0, at: 0 };

  /**
   * SQLite's data_version, read at most every 50 ms: busy dispatchers ask on every turn. A value up to 50 ms old
   * can only make a dispatcher look at the queue once more than needed, never miss a change.
   */
  private dataVersion(): number {
    const now = Date.now();
    if (now - this.version.at >= 50) this.version = { value: this.queue.dataVersion(), at: now };
    return this.version.value;
  }

  /** Opens the data dir (refusing network shares and a second engine on the same queue). */
  static open(loaded: LoadedConfig, opts: EngineOptions = {}): Engine {
    return new Engine(loaded, opts);
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('engine already started');
    this.state = 'running';
    favourSmallHeap();
    this.metricsListener = await MetricsListener.apply(this, undefined);
    const requeued = this.queue.requeueAllInflight();
    if (requeued > 0) this.log.info({ items: requeued }, 'items in flight when Ferry last stopped are queued again');
    this.checkDisk();
    // in the background: a week of deliveries to prune must not hold up the start
    void this.prune();
    await this.content.collectGarbage((f) => this.queue.isBodyFileReferenced(f)).catch((err) => this.log.warn({ err: errorMessage(err) }, 'content store clean-up failed'));
    for (const key of this.connections.pruneUnused()) this.log.info({ connection: key }, 'removed the stored OAuth tokens of inline settings no flow uses any more');
    // what another process writes from here on wakes the flows (the dispatchers' first look sees what came before)
    this.watchedVersion = this.queue.dataVersion();
    for (const flow of this.flows.values()) await this.startFlow(flow);
    this.persistFacts(); // what the flows know from before (their last delivery) shows from the first status on
    await this.alerts.start();
    this.retryAfterDelivery();
    this.lastSlow = this.lastPrune = Date.now();
    this.maintenance = setInterval(() => this.maintain(), 1000);
    if (this.config.configSource) (this.configSource = new ConfigSourcePoller(this)).start();
    collectStartupGarbage();
    for (const w of this.loaded.warnings ?? []) this.log.warn(`config warning: ${w}`);
    const exposed = dataDirExposure(this.dataDir);
    if (exposed) this.log.warn(exposed);
    await this.fleet.apply();
    this.log.info({ flows: this.flows.size, dataDir: this.dataDir }, 'Ferry is running');
  }

  /** Every second: writes by other processes, flow facts to flow_state; every 30 s: leases, after-delivery retries, disk; hourly: prune. */
  private maintain(): void {
    this.maintenanceRuns++;
    try {
      const now = Date.now();
      this.wakeOnOutsideWrites();
      this.persistFacts();
      if (!this.mergingKeys && now >= this.keyMergeAfter && this.queue.keys.mergeDue()) void this.mergeKeys();
      if (now - this.lastSlow >= 30_000) {
        this.lastSlow = now;
        const running = new Set(this.allFlows().flatMap((f) => f.runningIds()));
        if (this.queue.requeueExpired(now, running) > 0) for (const f of this.flows.values()) f.wake();
        this.retryAfterDelivery();
        this.checkDisk();
      }
      if (now - this.lastPrune >= 3600_000) {
        this.lastPrune = now;
        void this.prune(now);
        // body files no row points at are only collected at start (a body is stored before its row commits)
        void this.content.removeStaleTemp().catch((err) => this.log.warn({ err: errorMessage(err) }, 'content store clean-up failed'));
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'maintenance failed');
    }
  }

  /** data_version when maintain last looked: it changes only when another connection (process) commits. */
  private watchedVersion?: number;

  /**
   * Idle dispatchers sleep until this process queues something, a retry falls due or their re-check: a write
   * by another process (a `ferry queue retry` on the database) wakes them here, one look for all flows.
   */
  private wakeOnOutsideWrites(): void {
    const version = this.queue.dataVersion();
    if (version === this.watchedVersion) return;
    this.watchedVersion = version;
    for (const flow of this.allFlows()) flow.wake();
  }

  /** The configured flows and the internal ones (alert channels). */
  private allFlows(): FlowRuntime[] {
    return [...this.flows.values(), ...this.alerts.runtimes()];
  }

  /** Writes what each flow knows (last delivery, last error, breaker) for other processes to read. */
  private persistFacts(): void {
    for (const flow of this.allFlows()) {
      flow.refreshIntake();
      const facts = {
        last_delivery_at: flow.facts.lastDeliveryAt,
        last_error: flow.facts.lastError,
        last_error_at: flow.facts.lastErrorAt,
        intake_blocked: flow.facts.intakeBlocked ?? null,
        source_failing_since: flow.facts.sourceFailingSince ?? null,
        source_problem: flow.facts.sourceProblem ?? null,
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

  /** Deletes what retention no longer keeps, in short steps (intake and deliveries go on in between). */
  async prune(now = Date.now()): Promise<number> {
    if (this.pruning) return this.pruning;
    this.pruning = this.pruneNow(now);
    try {
      return await this.pruning;
    } finally {
      this.pruning = undefined;
    }
  }

  private pruning?: Promise<number>;
  private mergingKeys?: Promise<void>;
  /** After a failed merge (a full disk), the next waits a minute: new keys stay in memory meanwhile. */
  private keyMergeAfter = 0;

  /** Merges the dedupe index's small level into its large one, in short steps (store/dedupe-keys.ts). */
  private mergeKeys(): Promise<void> {
    this.mergingKeys = (async () => {
      try {
        const pass = this.queue.keyMergePass({ walPosition: () => this.checkpointer.walPosition() });
        await runInSteps(() => pass.step().done, () => this.state !== 'running', () => this.checkpointer.cycle(BACKGROUND_COPY_FRAMES));
        this.log.debug({ keys: pass.total, steps: pass.steps, longestStepMs: Math.round(pass.longestStepMs), mostFrames: pass.mostFrames }, 'merged new idempotency keys into the dedupe index');
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, 'merging idempotency keys failed; trying again in a minute');
        this.keyMergeAfter = Date.now() + 60_000;
      } finally {
        this.mergingKeys = undefined;
      }
    })();
    return this.mergingKeys;
  }

  private async pruneNow(now: number): Promise<number> {
    try {
      const r = this.config.retention;
      const horizons = { settledBefore: now - r.deliveredDays * DAY, fingerprintsBefore: now - r.fingerprintDays * DAY, eventsBefore: now - Math.max(r.deliveredDays, 1) * DAY };
      const pass = this.queue.pruneSteps(horizons, { walPosition: () => this.checkpointer.walPosition() });
      const items = await runPrunePass(pass, this.content, () => this.state !== 'running', () => this.checkpointer.cycle(BACKGROUND_COPY_FRAMES));
      if (items > 0) this.log.info({ items, steps: pass.steps, longestStepMs: Math.round(pass.longestStepMs), mostFrames: pass.mostFrames, checkpoints: this.checkpointer.stats }, 'pruned delivered items');
      return items;
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'pruning failed');
      return 0;
    }
  }

  /** Runs `hook` when the engine stops (what a host started on top of it, such as the admin API). */
  onStop(hook: () => Promise<void>): void {
    this.stopHooks.push(hook);
  }

  /** The names of every configured flow. */
  flowNames(): string[] {
    return this.config.integrations.flatMap((i) => i.flows.map((f) => f.name));
  }

  status(): StatusReport {
    const report = readStatus(this.config, this.queue, this.flowStates, this.state === 'running', readConnections(this.config, this.db));
    for (const f of report.flows) {
      const flow = this.flows.get(f.flow);
      if (flow) f.counters = flow.counterSnapshot();
    }
    return this.configSource ? { ...report, configSource: this.configSource.status() } : report;
  }

  flow(name: string): FlowRuntime {
    const f = this.flows.get(name);
    if (!f) throw new Error(`no flow named "${name}"`);
    return f;
  }

  retry(filter: ItemFilter): number {
    const n = this.queue.retry(filter);
    for (const f of this.allFlows()) f.wake();
    return n;
  }

  async discard(filter: ItemFilter): Promise<number> {
    const rows = this.queue.discard(filter);
    for (const r of rows) {
      const counters = this.flows.get(r.flow)?.counters;
      if (counters) counters.discarded++;
      if (r.bodyFile) await this.content.remove(r.bodyFile);
    }
    return rows.length;
  }

  get secrets(): SecretStore | undefined {
    return this.opts.secrets;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Starts a flow; a flow that fails to start keeps the reason as its last error. */
  private async startFlow(flow: FlowRuntime): Promise<void> {
    if (!flow.cfg.enabled) {
      this.flowStates.ensure(flow.name);
      return;
    }
    try {
      await flow.start();
    } catch (err) {
      this.log.error({ flow: flow.name, err: errorMessage(err) }, 'flow failed to start');
      flow.facts.lastError = `failed to start: ${errorMessage(err)}`;
      flow.facts.lastErrorAt = Date.now();
    }
  }

  /**
   * Applies a new config to the running engine (admin API edits, secret changes): flows that were removed
   * or whose settings changed are stopped (deliveries in flight finish first), new and changed ones start.
   * Items queued for a changed flow stay queued and go out through its new settings. dataDir and the admin
   * port need a restart; they are reported, not applied.
   */
  applyConfig(loaded: LoadedConfig): Promise<ApplyReport> {
    // one change at a time (admin edits, secret changes and SIGHUP can arrive together)
    const next = this.applying.then(() => this.applyNow(loaded));
    this.applying = next.catch(() => undefined);
    return next;
  }

  private applying: Promise<unknown> = Promise.resolve();

  private async applyNow(loaded: LoadedConfig): Promise<ApplyReport> {
    if (this.state === 'stopping' || this.state === 'stopped') throw new Error('Ferry is stopping; the configuration change was saved and applies at the next start');
    const report: ApplyReport = { started: [], stopped: [], restarted: [], restartRequired: [] };
    if (path.resolve(loaded.dataDir) !== path.resolve(this.dataDir)) report.restartRequired.push('dataDir');
    if (loaded.config.admin.port !== this.config.admin.port) report.restartRequired.push('admin.port');
    const wanted = new Map<string, { integration: string; cfg: FlowConfig }>();
    for (const i of loaded.config.integrations) for (const f of i.flows) wanted.set(f.name, { integration: i.name, cfg: f });
    // A new logLevel in the config (a --log-level flag stays until then): flows log through child loggers
    // made at build time, so they are rebuilt too.
    const levelChanged = this.log.level !== 'silent' && loaded.config.logLevel !== this.config.logLevel;
    // a new network setting reaches every connector through its dispatcher: all flows are rebuilt
    const networkChanged = JSON.stringify(loaded.config.network) !== JSON.stringify(this.config.network);
    const same = (a: FlowRuntime, b: { integration: string; cfg: FlowConfig }) =>
      !levelChanged && !networkChanged && a.integration === b.integration && JSON.stringify(a.cfg) === JSON.stringify(b.cfg) && loaded.dir === this.loaded.dir;

    const toStop = [...this.flows.values()].filter((f) => !wanted.has(f.name) || !same(f, wanted.get(f.name)!));
    await Promise.all(toStop.map((f) => f.stop(this.stopGraceMs)));
    for (const f of toStop) {
      this.flows.delete(f.name);
      this.connections.forgetFlow(f.name);
      this.writtenFacts.delete(f.name);
      (wanted.has(f.name) ? report.restarted : report.stopped).push(f.name);
    }
    this.scrubber.addLoaded(loaded);
    this.loaded = loaded;
    this.config = loaded.config;
    this.connections.configure(loaded.config.connections);
    if (levelChanged) this.log.level = loaded.config.logLevel;
    if (networkChanged) {
      await this.network.close();
      this.network = this.networkOf(loaded.config);
    }
    if (this.state === 'running') {
      this.metricsListener = await MetricsListener.apply(this, this.metricsListener).catch((err) => {
        this.log.error({ err: errorMessage(err) }, 'metrics listener not started');
        return undefined;
      });
    }

    // Rebuild the map in config order, keeping the runtimes that did not change.
    const previous = new Map(this.flows);
    this.flows.clear();
    for (const [name, w] of wanted) {
      const kept = previous.get(name);
      if (kept) {
        this.flows.set(name, kept);
        continue;
      }
      const flow = this.buildFlow(w.integration, w.cfg, loaded.dir);
      this.flows.set(name, flow);
      if (this.state === 'running') await this.startFlow(flow);
      if (!report.restarted.includes(name)) report.started.push(name);
    }
    await this.alerts.apply(loaded.config);
    if (this.state === 'running') await this.fleet.apply();
    if (report.started.length + report.stopped.length + report.restarted.length > 0) {
      this.queue.addEvent('config', null, null, { started: report.started, stopped: report.stopped, restarted: report.restarted });
      this.log.info(report, 'configuration applied');
    }
    return report;
  }

  /**
   * Re-reads the config file (secrets included) and applies it (SIGHUP, an admin's hand edit). A file with
   * problems throws ConfigError and leaves the running flows as they are.
   */
  async reload(): Promise<ApplyReport> {
    let loaded: LoadedConfig;
    try {
      loaded = loadConfig(this.loaded.file, { secrets: this.secrets?.lookup() });
    } catch (err) {
      if (err instanceof ConfigError) this.alerts.configRefused(err.problems);
      throw err;
    }
    const report = await this.applyConfig(loaded);
    this.alerts.configAccepted();
    return report;
  }

  /** Stops intake, lets in-flight deliveries finish (bounded), writes what is pending and closes the database. */
  async stop(): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return;
    this.state = 'stopping';
    clearInterval(this.maintenance);
    for (const hook of this.stopHooks.splice(0)) await hook().catch((err) => this.log.warn({ err: errorMessage(err) }, 'stopping what ran on the engine failed'));
    await this.configSource?.stop();
    await this.metricsListener?.close();
    await this.fleet.stop();
    await this.applying; // a config change in progress finishes first
    this.log.info('stopping: intake closed, letting deliveries in flight finish');
    await Promise.all([...this.flows.values()].map((f) => f.stop(this.stopGraceMs)));
    this.content.dropAllAhead(); // copies of files not taken yet: the next start stores them afresh
    await this.pruning; // ends after its current step
    await this.mergingKeys; // likewise; a merge cut short runs again at the next start
    await this.alerts.stop();
    for (const b of this.batchers) b.flush();
    this.persistFacts();
    this.connections.close();
    await this.network.close().catch(() => undefined);
    await this.checkpointer.close();
    this.db.close();
    this.unlock();
    this.state = 'stopped';
    this.log.info('stopped');
  }
}
