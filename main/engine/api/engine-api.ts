// The engine API in-process: FerryApi over a running Engine and its config file. The admin routes map HTTP
// onto it, the desktop's tray calls it directly; each operation is recorded in the activity log the same way
// whoever asked.
import type { Engine } from '../engine.ts';
import type { LoadedConfig } from '../config/load.ts';
import { packageVersion } from '../paths.ts';
import type {
  ActivityEvent,
  ApplyReport,
  CheckRequest,
  ConfigChangeReply,
  DryRunRequest,
  FlowActionReply,
  LogLevelName,
  NetworkTestRequest,
  NetworkUpdate,
  QueueActionRequest,
  QueueQuery,
  SettingsReply,
  SettingsUpdate,
  StatusReply,
  ValidateRequest,
} from '../admin/types.ts';
import type { FerryApi } from './ferry-api.ts';
import { ConfigFile, deleteFlow, deleteIntegration, putFlow, putIntegration, putSettings } from './config-file.ts';
import { FerryApiError } from './errors.ts';
import { queueFlowNames } from '../alerts/names.ts';
import { actionFilters, itemBody, knownFlow, listQueue, recentDead, showItem } from './queue-ops.ts';
import { check, dryRun, getConfig, nextRuns, validate } from './config-ops.ts';
import { assertLocallyEditable, checkConfigSource, managedBy } from './config-source-ops.ts';
import { activity, subscribe } from './activity-ops.ts';
import { checkedSecretName, listSecrets, secretStore, showSecret, storeFailure } from './secret-ops.ts';
import { getNetwork, putNetwork, testNetwork } from './network-ops.ts';
import { disconnect, listConnections, pasteConsent, showConnection, startConsent } from './connection-ops.ts';
import { readDesktopSettings, writeDesktopSettings } from './desktop-settings.ts';

/** While items keep changing, status is recounted at most this often (dashboards and trays poll it). */
const STATUS_MAX_AGE_MS = 250;

const VERSION = packageVersion();

type ConfigEdit = Parameters<ConfigFile['change']>[0];

export class EngineApi implements FerryApi {
  readonly engine: Engine;
  readonly configFile: ConfigFile;
  /** Where the admin API listens, for the status reply (set by whoever starts the admin server). */
  adminUrl = '';
  /** The last status reply, served again for STATUS_MAX_AGE_MS: the same object, so its serialized text can be reused too. */
  private statusCache?: { at: number; config: Engine['config']; adminUrl: string; reply: StatusReply };

  constructor(engine: Engine) {
    this.engine = engine;
    this.configFile = new ConfigFile(engine.loaded.file, engine.secrets?.lookup());
  }

  /** The next status() recounts (after an operation that changed what it shows). */
  private changed(): void {
    this.statusCache = undefined;
  }

  // ---------------------------------------------------------------- status

  async status(): Promise<StatusReply> {
    return this.statusNow();
  }

  async metrics(): Promise<string> {
    return (await this.engine.metrics()).render();
  }

  async fleet() {
    return this.engine.fleet.view();
  }

  /** status(), synchronously: the tray refreshes in one turn. */
  statusNow(): StatusReply {
    const now = Date.now();
    const c = this.statusCache;
    if (c && now - c.at < STATUS_MAX_AGE_MS && c.config === this.engine.config && c.adminUrl === this.adminUrl) return c.reply;
    const reply = { ...this.engine.status(), version: VERSION, adminUrl: this.adminUrl, pid: process.pid, startedAt: new Date(this.engine.startedAt).toISOString() };
    this.statusCache = { at: now, config: this.engine.config, adminUrl: this.adminUrl, reply };
    return reply;
  }

  // ---------------------------------------------------------------- queue

  async listQueue(query: QueueQuery) {
    return listQueue(this.engine.queue, query);
  }

  async showItem(id: number) {
    return showItem(this.engine.queue, id);
  }

  async itemBody(id: number) {
    return itemBody(this.engine.queue, this.engine.content, id);
  }

  async retry(request: QueueActionRequest) {
    let count = 0;
    for (const f of actionFilters(queueFlowNames(this.engine.config), request)) count += this.engine.retry(f);
    this.changed();
    return { count };
  }

  async discard(request: QueueActionRequest) {
    let count = 0;
    for (const f of actionFilters(queueFlowNames(this.engine.config), request)) count += await this.engine.discard(f);
    this.changed();
    return { count };
  }

  async recentDead(limit = 5) {
    return recentDead(this.engine.queue, limit);
  }

  // ---------------------------------------------------------------- flows

  async pause(flow?: string): Promise<FlowActionReply[]> {
    return this.setPaused(true, flow);
  }

  async resume(flow?: string): Promise<FlowActionReply[]> {
    return this.setPaused(false, flow);
  }

  /** Pauses or resumes deliveries of one flow, or of every flow (intake goes on; it persists across restarts). */
  setPaused(paused: boolean, name?: string): FlowActionReply[] {
    if (name !== undefined) knownFlow(this.engine.flowNames(), name);
    const changed: FlowActionReply[] = [];
    for (const flow of this.engine.flows.values()) {
      if (name !== undefined && flow.name !== name) continue;
      flow.setPaused(paused);
      changed.push({ flow: flow.name, paused: flow.paused });
    }
    if (name !== undefined && changed.length === 0) throw new FerryApiError(409, `flow ${name} is not loaded`);
    this.changed();
    this.engine.queue.addEvent('flow', name ?? null, null, { action: name ? (paused ? 'pause' : 'resume') : paused ? 'pause all' : 'resume all' });
    return changed;
  }

  async runNow(name: string): Promise<FlowActionReply> {
    knownFlow(this.engine.flowNames(), name);
    const flow = this.engine.flows.get(name);
    if (!flow) throw new FerryApiError(409, `flow ${name} is not loaded`);
    if (!flow.cfg.enabled) throw new FerryApiError(409, `flow ${name} is disabled (enabled: false); enable it first`);
    if (!this.engine.running) throw new FerryApiError(409, 'the engine is not running');
    this.changed();
    this.engine.queue.addEvent('flow', name, null, { action: 'run' });
    void flow.runScan('run now');
    return { flow: name, paused: flow.paused, running: true };
  }

  async syncNow(): Promise<{ flows: string[] }> {
    const flows: string[] = [];
    for (const flow of this.engine.flows.values()) {
      if (!flow.cfg.enabled || flow.paused) continue;
      void flow.runScan('sync now');
      flows.push(flow.name);
    }
    this.engine.retry({ state: 'retrying' });
    this.changed();
    this.engine.queue.addEvent('flow', null, null, { action: 'sync now', flows });
    return { flows };
  }

  // ---------------------------------------------------------------- config

  async getConfig() {
    const view = getConfig(this.configFile);
    const managed = managedBy(this.engine);
    // managed: the running combination of the local and the central file (templates, never secret values)
    return managed ? { ...view, config: this.engine.loaded.raw as typeof view.config, managedBy: managed } : view;
  }

  checkConfigSource() {
    return checkConfigSource(this.engine);
  }

  async validate(request: ValidateRequest) {
    return validate(this.configFile, request);
  }

  /** Validates and writes a change to the config file, then applies it to the running engine. */
  private async change(edit: ConfigEdit): Promise<ConfigChangeReply> {
    assertLocallyEditable(this.engine, 'integrations and flows');
    const applied: ApplyReport = await this.configFile.change(edit, (loaded: LoadedConfig) => this.engine.applyConfig(loaded));
    this.changed();
    return { ok: true, applied };
  }

  putIntegration(name: string, integration: unknown) {
    return this.change((doc) => putIntegration(doc, name, integration));
  }

  deleteIntegration(name: string) {
    return this.change((doc) => deleteIntegration(doc, name));
  }

  putFlow(integration: string, flow: string, body: unknown) {
    return this.change((doc) => putFlow(doc, integration, flow, body));
  }

  deleteFlow(integration: string, flow: string) {
    return this.change((doc) => deleteFlow(doc, integration, flow));
  }

  check(request: CheckRequest) {
    return check(this.engine, request);
  }

  dryRun(request: DryRunRequest) {
    return dryRun(this.engine, request);
  }

  async nextRuns(cron: string, timezone?: string, count?: number) {
    return nextRuns(cron, timezone, count);
  }

  // ---------------------------------------------------------------- activity

  async activity(query: { since?: number; limit?: number }) {
    return activity(this.engine.db, this.engine.queue, query);
  }

  subscribe(since: number | undefined, listener: (event: ActivityEvent) => void, onEnd?: () => void): () => void {
    return subscribe(this.engine.db, this.engine.queue, since, listener, onEnd);
  }

  // ---------------------------------------------------------------- secrets

  async listSecrets() {
    return listSecrets(secretStore(this.engine.secrets), this.configFile.raw());
  }

  async showSecret(name: string) {
    return showSecret(secretStore(this.engine.secrets), this.configFile.raw(), name);
  }

  async putSecret(name: string, value: string) {
    const store = secretStore(this.engine.secrets);
    checkedSecretName(name);
    if (typeof value !== 'string') throw new FerryApiError(400, 'value: expected a string', [{ path: 'value', message: 'expected a string' }]);
    storeFailure(() => store.set(name, value));
    this.engine.queue.addEvent('secret', null, null, { name, action: 'set' });
    return { name, applied: await this.reapply() };
  }

  async deleteSecret(name: string) {
    const store = secretStore(this.engine.secrets);
    if (!store.delete(name)) throw new FerryApiError(404, `no secret named "${name}"`);
    this.engine.queue.addEvent('secret', null, null, { name, action: 'delete' });
    return { name };
  }

  /** After a secret changed: re-read the config so flows that use it restart with the new value. */
  private async reapply(): Promise<ApplyReport | undefined> {
    const proposal = this.configFile.validateWhole(this.configFile.raw());
    if (!proposal.ok) return undefined; // e.g. another secret still missing: the running config stays
    const report = await this.engine.applyConfig(proposal.loaded);
    this.changed();
    return report;
  }

  // ---------------------------------------------------------------- OAuth connections

  /** Where the admin API listens (the provider sends the browser back to it), else the configured port. */
  private get callbackPort(): number {
    return this.adminUrl ? Number(new URL(this.adminUrl).port) : this.engine.config.admin.port;
  }

  async listConnections() {
    return listConnections(this.engine, this.callbackPort);
  }

  async showConnection(name: string) {
    return showConnection(this.engine, this.callbackPort, name);
  }

  async startConsent(name: string) {
    return startConsent(this.engine, this.callbackPort, name);
  }

  pasteConsent(name: string, input: string) {
    return pasteConsent(this.engine, name, input);
  }

  disconnect(name: string) {
    return disconnect(this.engine, name);
  }

  // ---------------------------------------------------------------- settings and network

  private settingsReply(restartRequired: string[] = []): SettingsReply {
    const raw = this.configFile.raw();
    const desktop = readDesktopSettings(this.engine.dataDir);
    const port = typeof raw.admin?.port === 'number' ? raw.admin.port : this.engine.config.admin.port;
    const pending = [...restartRequired];
    if (port !== this.engine.config.admin.port && !pending.includes('adminPort')) pending.push('adminPort');
    return {
      logLevel: this.engine.config.logLevel as LogLevelName,
      adminPort: port,
      dataDir: this.engine.dataDir,
      startAtLogin: desktop.startAtLogin,
      configFile: this.configFile.file,
      restartRequired: pending,
    };
  }

  async getSettings() {
    return this.settingsReply();
  }

  async putSettings(update: SettingsUpdate) {
    const restart: string[] = [];
    const fileSettings = { logLevel: update.logLevel, adminPort: update.adminPort, dataDir: update.dataDir };
    if (update.logLevel !== undefined && update.logLevel !== this.engine.config.logLevel) assertLocallyEditable(this.engine, 'logLevel');
    if (fileSettings.logLevel !== undefined || fileSettings.adminPort !== undefined || fileSettings.dataDir !== undefined) {
      try {
        const report = await this.configFile.change((doc) => putSettings(doc, fileSettings), (loaded) => this.engine.applyConfig(loaded));
        restart.push(...report.restartRequired.map((k) => (k === 'admin.port' ? 'adminPort' : k)));
      } catch (err) {
        if (err instanceof FerryApiError && err.problems) {
          // name the settings fields, not the config keys
          const rename = (p: string) => (p === 'admin.port' ? 'adminPort' : p);
          throw new FerryApiError(err.status, err.message, err.problems.map((p) => ({ ...p, path: rename(p.path) })));
        }
        throw err;
      }
    }
    if (typeof update.startAtLogin === 'boolean') writeDesktopSettings(this.engine.dataDir, { startAtLogin: update.startAtLogin });
    return this.settingsReply(restart);
  }

  getNetwork() {
    return getNetwork(this);
  }

  async putNetwork(update: NetworkUpdate) {
    const view = await putNetwork(this, update);
    this.changed();
    return view;
  }

  testNetwork(request: NetworkTestRequest) {
    return testNetwork(this, request);
  }
}
