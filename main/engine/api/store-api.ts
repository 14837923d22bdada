// The engine API on the database alone, for the CLI when no engine runs on the data dir: status, the queue
// and the activity log are read from SQLite, and the queue's repairs (retry, discard) are written there for
// the next start to act on. What needs a running engine (pause, run, config apply, checks) says so.
import type { LoadedConfig } from '../config/load.ts';
import { openStore } from '../engine.ts';
import { readStatus } from '../status.ts';
import { isDataDirLocked } from '../store/datadir.ts';
import { packageVersion } from '../paths.ts';
import type { ActivityEvent, QueueActionRequest, QueueQuery, StatusReply } from '../admin/types.ts';
import type { FerryApi } from './ferry-api.ts';
import { FerryApiError } from './errors.ts';
import { configSourceStatusOf } from '../config-source/describe.ts';
import { queueFlowNames } from '../alerts/names.ts';
import { actionFilters, itemBody, listQueue, recentDead, showItem } from './queue-ops.ts';
import { activity, subscribe } from './activity-ops.ts';
import { nextRuns } from './config-ops.ts';
import { readConnections } from '../oauth/state.ts';

type Store = ReturnType<typeof openStore>;

export class StoreApi implements FerryApi {
  private readonly loaded: LoadedConfig;
  private readonly store: Store;

  /** Opens the data dir's database (which must exist: a data dir Ferry never ran on has no queue). */
  constructor(loaded: LoadedConfig) {
    this.loaded = loaded;
    this.store = openStore(loaded.dataDir, { create: false });
  }

  close(): void {
    this.store.close();
  }

  /** The flows whose items are in the queue (configured flows and alert channels). */
  private flowNames(): string[] {
    return queueFlowNames(this.loaded.config);
  }

  private needsEngine(what: string): never {
    throw new FerryApiError(409, `${what} needs a running Ferry: none runs on ${this.loaded.dataDir} (\`ferry run --config ${this.loaded.file}\` starts it)`);
  }

  async status(): Promise<StatusReply> {
    const report = readStatus(this.loaded.config, this.store.queue, this.store.flowStates, isDataDirLocked(this.loaded.dataDir), readConnections(this.loaded.config, this.store.db));
    return { ...report, configSource: configSourceStatusOf(this.loaded), version: packageVersion(), adminUrl: '', pid: 0, startedAt: '' };
  }

  async metrics(): Promise<string> {
    throw new FerryApiError(409, 'metrics come from a running engine: start it with `ferry run`');
  }

  async fleet(): Promise<never> {
    throw new FerryApiError(409, 'the fleet view runs in a running engine: start it with `ferry run` (or use `ferry fleet status`)');
  }

  async listQueue(query: QueueQuery) {
    return listQueue(this.store.queue, query);
  }

  async showItem(id: number) {
    return showItem(this.store.queue, id);
  }

  async itemBody(id: number) {
    return itemBody(this.store.queue, this.store.content, id);
  }

  async retry(request: QueueActionRequest) {
    let count = 0;
    for (const f of actionFilters(this.flowNames(), request)) count += this.store.queue.retry(f);
    return { count };
  }

  async discard(request: QueueActionRequest) {
    let count = 0;
    for (const f of actionFilters(this.flowNames(), request)) {
      const rows = this.store.queue.discard(f);
      for (const r of rows) if (r.bodyFile) await this.store.content.remove(r.bodyFile);
      count += rows.length;
    }
    return { count };
  }

  async recentDead(limit = 5) {
    return recentDead(this.store.queue, limit);
  }

  async activity(query: { since?: number; limit?: number }) {
    return activity(this.store.db, this.store.queue, query);
  }

  subscribe(since: number | undefined, listener: (event: ActivityEvent) => void, onEnd?: () => void) {
    return subscribe(this.store.db, this.store.queue, since, listener, onEnd);
  }

  async nextRuns(cron: string, timezone?: string, count?: number) {
    return nextRuns(cron, timezone, count);
  }

  async pause(..._args: unknown[]): Promise<never> {
    return this.needsEngine('pausing a flow');
  }
  async resume(..._args: unknown[]): Promise<never> {
    return this.needsEngine('resuming a flow');
  }
  async runNow(..._args: unknown[]): Promise<never> {
    return this.needsEngine('running a flow');
  }
  async syncNow(..._args: unknown[]): Promise<never> {
    return this.needsEngine('sync now');
  }
  async getConfig(..._args: unknown[]): Promise<never> {
    return this.needsEngine('the config editor');
  }
  async validate(..._args: unknown[]): Promise<never> {
    return this.needsEngine('validating through the API (ferry validate works without one)');
  }
  async putIntegration(..._args: unknown[]): Promise<never> {
    return this.needsEngine('changing the config');
  }
  async deleteIntegration(..._args: unknown[]): Promise<never> {
    return this.needsEngine('changing the config');
  }
  async putFlow(..._args: unknown[]): Promise<never> {
    return this.needsEngine('changing the config');
  }
  async deleteFlow(..._args: unknown[]): Promise<never> {
    return this.needsEngine('changing the config');
  }
  async checkConfigSource(): Promise<never> {
    return this.needsEngine('checking the central configuration');
  }
  async check(..._args: unknown[]): Promise<never> {
    return this.needsEngine('a connection check through the API (ferry check works without one)');
  }
  async dryRun(..._args: unknown[]): Promise<never> {
    return this.needsEngine('a dry run');
  }
  async listSecrets(..._args: unknown[]): Promise<never> {
    return this.needsEngine('the secrets page (ferry secret list works without one)');
  }
  async showSecret(..._args: unknown[]): Promise<never> {
    return this.needsEngine('the secrets page');
  }
  async putSecret(..._args: unknown[]): Promise<never> {
    return this.needsEngine('setting a secret through the API (ferry secret set works without one)');
  }
  async deleteSecret(..._args: unknown[]): Promise<never> {
    return this.needsEngine('deleting a secret through the API');
  }
  async listConnections() {
    return { connections: readConnections(this.loaded.config, this.store.db).map((c) => ({ ...c, consentable: false, redirectUri: null, consent: null })), storage: 'read from the database (no engine running)' };
  }
  async showConnection(..._args: unknown[]): Promise<never> {
    return this.needsEngine('a connection\'s consent state');
  }
  async startConsent(..._args: unknown[]): Promise<never> {
    return this.needsEngine('a consent through the API (ferry connect works without one)');
  }
  async pasteConsent(..._args: unknown[]): Promise<never> {
    return this.needsEngine('a consent through the API (ferry connect works without one)');
  }
  async disconnect(..._args: unknown[]): Promise<never> {
    return this.needsEngine('disconnecting through the API (ferry disconnect works without one)');
  }
  async getSettings(..._args: unknown[]): Promise<never> {
    return this.needsEngine('the settings');
  }
  async putSettings(..._args: unknown[]): Promise<never> {
    return this.needsEngine('changing the settings');
  }
  async getNetwork(..._args: unknown[]): Promise<never> {
    return this.needsEngine('the network settings');
  }
  async putNetwork(..._args: unknown[]): Promise<never> {
    return this.needsEngine('changing the network settings');
  }
  async testNetwork(..._args: unknown[]): Promise<never> {
    return this.needsEngine('a network test through the API (ferry check --url works without one)');
  }
}
