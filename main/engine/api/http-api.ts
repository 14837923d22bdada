// The engine API over the admin HTTP API of a Ferry running on this machine (127.0.0.1, the token from its
// data dir): what the CLI uses when an engine runs, so a command acts through the engine (its status cache,
// its wake-ups, its activity records) instead of writing under it.
import { Readable } from 'node:stream';
import type {
  ActivityEvent,
  ActivityReply,
  ApplyReport,
  CheckReply,
  CheckRequest,
  ConfigChangeReply,
  ConfigSourceCheckReply,
  ConfigView,
  DryRunReply,
  DryRunRequest,
  FlowActionReply,
  ItemDetail,
  NetworkTestReply,
  NetworkTestRequest,
  NetworkUpdate,
  NetworkView,
  Problem,
  QueueActionReply,
  QueueActionRequest,
  QueueList,
  QueueQuery,
  ScheduleReply,
  SecretInfo,
  SecretsReply,
  SettingsReply,
  SettingsUpdate,
  StatusReply,
  ValidateReply,
  ValidateRequest,
  FleetReport,
} from '../admin/types.ts';
import type { FerryApi, ItemBody, RecentDeadItem } from './ferry-api.ts';
import type { ConnectionsReply, ConnectionView, ConsentReply, ConsentStartReply, DisconnectReply } from '../admin/connection-types.ts';
import { FerryApiError } from './errors.ts';

const seg = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class HttpApi implements FerryApi {
  readonly baseUrl: string;
  private readonly token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new FerryApiError(503, `the running Ferry's admin API at ${this.baseUrl} did not answer: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    if (!res.ok) {
      const reply = (await res.json().catch(() => undefined)) as { error?: string; problems?: Problem[] } | undefined;
      throw new FerryApiError(res.status, reply?.error ?? `${method} ${path}: HTTP ${res.status}`, reply?.problems);
    }
    return res;
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.send(method, path, body)).json()) as T;
  }

  status() {
    return this.call<StatusReply>('GET', '/api/status');
  }

  async metrics() {
    return (await this.send('GET', '/metrics')).text();
  }

  fleet() {
    return this.call<FleetReport>('GET', '/api/fleet');
  }

  listQueue(q: QueueQuery) {
    return this.call<QueueList>('GET', `/api/queue${query({ flow: q.flow, state: q.state, limit: q.limit, offset: q.offset })}`);
  }
  showItem(id: number) {
    return this.call<ItemDetail>('GET', `/api/queue/${id}`);
  }
  async itemBody(id: number): Promise<ItemBody> {
    const detail = await this.showItem(id);
    const res = await this.send('GET', `/api/queue/${id}/body`);
    return { name: detail.item.name, size: detail.item.size, open: () => Readable.fromWeb(res.body as import('node:stream/web').ReadableStream) };
  }
  retry(request: QueueActionRequest) {
    return this.call<QueueActionReply>('POST', '/api/queue/retry', request);
  }
  discard(request: QueueActionRequest) {
    return this.call<QueueActionReply>('POST', '/api/queue/discard', request);
  }
  async recentDead(limit = 5): Promise<RecentDeadItem[]> {
    const list = await this.listQueue({ state: 'dead', limit });
    return list.items.map((i) => ({ flow: i.flow, itemId: i.id, name: i.name, message: i.lastError ?? 'could not be delivered' }));
  }

  async pause(flow?: string): Promise<FlowActionReply[]> {
    return flow === undefined ? this.call<FlowActionReply[]>('POST', '/api/flows/pause-all') : [await this.call<FlowActionReply>('POST', `/api/flows/${seg(flow)}/pause`)];
  }
  async resume(flow?: string): Promise<FlowActionReply[]> {
    return flow === undefined ? this.call<FlowActionReply[]>('POST', '/api/flows/resume-all') : [await this.call<FlowActionReply>('POST', `/api/flows/${seg(flow)}/resume`)];
  }
  runNow(flow: string) {
    return this.call<FlowActionReply>('POST', `/api/flows/${seg(flow)}/run`);
  }
  syncNow() {
    return this.call<{ flows: string[] }>('POST', '/api/sync-now');
  }

  getConfig() {
    return this.call<ConfigView>('GET', '/api/config');
  }
  validate(request: ValidateRequest) {
    return this.call<ValidateReply>('POST', '/api/config/validate', request);
  }
  putIntegration(name: string, integration: unknown) {
    return this.call<ConfigChangeReply>('PUT', `/api/config/integrations/${seg(name)}`, integration);
  }
  deleteIntegration(name: string) {
    return this.call<ConfigChangeReply>('DELETE', `/api/config/integrations/${seg(name)}`);
  }
  putFlow(integration: string, flow: string, body: unknown) {
    return this.call<ConfigChangeReply>('PUT', `/api/config/integrations/${seg(integration)}/flows/${seg(flow)}`, body);
  }
  deleteFlow(integration: string, flow: string) {
    return this.call<ConfigChangeReply>('DELETE', `/api/config/integrations/${seg(integration)}/flows/${seg(flow)}`);
  }
  checkConfigSource() {
    return this.call<ConfigSourceCheckReply>('POST', '/api/config/source/check');
  }

  check(request: CheckRequest) {
    return this.call<CheckReply>('POST', '/api/check', request);
  }
  dryRun(request: DryRunRequest) {
    return this.call<DryRunReply>('POST', '/api/dry-run', request);
  }
  nextRuns(cron: string, timezone?: string, count?: number) {
    return this.call<ScheduleReply>('GET', `/api/schedule/next${query({ cron, timezone, count })}`);
  }

  activity(q: { since?: number; limit?: number }) {
    return this.call<ActivityReply>('GET', `/api/activity${query({ since: q.since, limit: q.limit })}`);
  }
  /** Follows the activity log page by page (a CLI needs no SSE parser for this). */
  subscribe(since: number | undefined, listener: (event: ActivityEvent) => void, onEnd?: () => void): () => void {
    let stopped = false;
    let cursor = since;
    const loop = async () => {
      if (cursor === undefined) cursor = (await this.activity({ limit: 1 })).cursor;
      while (!stopped) {
        const page = await this.activity({ since: cursor, limit: 500 });
        for (const e of page.events) if (!stopped) listener(e);
        cursor = page.cursor;
        if (page.events.length < 500) await new Promise((r) => setTimeout(r, 500));
      }
    };
    loop().catch(() => {
      if (!stopped) onEnd?.();
    });
    return () => {
      stopped = true;
    };
  }

  listSecrets() {
    return this.call<SecretsReply>('GET', '/api/secrets');
  }
  showSecret(name: string) {
    return this.call<SecretInfo>('GET', `/api/secrets/${seg(name)}`);
  }
  putSecret(name: string, value: string) {
    return this.call<{ name: string; applied?: ApplyReport }>('PUT', `/api/secrets/${seg(name)}`, { value });
  }
  deleteSecret(name: string) {
    return this.call<{ name: string }>('DELETE', `/api/secrets/${seg(name)}`);
  }

  listConnections() {
    return this.call<ConnectionsReply>('GET', '/api/connections');
  }
  showConnection(name: string) {
    return this.call<ConnectionView>('GET', `/api/connections/${seg(name)}`);
  }
  startConsent(name: string) {
    return this.call<ConsentStartReply>('POST', `/api/connections/${seg(name)}/connect`);
  }
  pasteConsent(name: string, input: string) {
    return this.call<ConsentReply>('POST', `/api/connections/${seg(name)}/callback`, { input });
  }
  disconnect(name: string) {
    return this.call<DisconnectReply>('POST', `/api/connections/${seg(name)}/disconnect`);
  }

  getSettings() {
    return this.call<SettingsReply>('GET', '/api/settings');
  }
  putSettings(update: SettingsUpdate) {
    return this.call<SettingsReply>('PUT', '/api/settings', update);
  }
  getNetwork() {
    return this.call<NetworkView>('GET', '/api/network');
  }
  putNetwork(update: NetworkUpdate) {
    return this.call<NetworkView>('PUT', '/api/network', update);
  }
  testNetwork(request: NetworkTestRequest) {
    return this.call<NetworkTestReply>('POST', '/api/network/test', request);
  }
}
