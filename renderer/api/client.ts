// Typed functions for every admin API route. Only type imports cross into main/ (the renderer runs in a
// browser or a sandboxed Electron window). Auth: the desktop preload hands over a bearer token; in a browser
// the session cookie set by the one-time login link is sent automatically (same origin).
import type {
  ConfigSourceCheckReply,
  FleetReport,
  ActivityEvent,
  ActivityReply,
  ApiError,
  CheckReply,
  CheckRequest,
  ConfigChangeReply,
  ConfigView,
  ConnectionsReply,
  ConnectionView,
  ConsentReply,
  ConsentStartReply,
  DisconnectReply,
  DryRunReply,
  DryRunRequest,
  FlowActionReply,
  ItemDetail,
  NetworkTestReply,
  NetworkTestRequest,
  NetworkUpdate,
  NetworkView,
  QueueActionReply,
  QueueActionRequest,
  QueueList,
  QueueQuery,
  RawFlow,
  RawIntegration,
  ScheduleReply,
  SecretChangeReply,
  SecretInfo,
  SecretsReply,
  SettingsReply,
  SettingsUpdate,
  StatusReply,
  ValidateReply,
  ValidateRequest,
} from '../../main/engine/admin/types.ts';

export type * from '../../main/engine/admin/types.ts';

/** A non-2xx reply: `status`, the one-line `message` and, for validation failures, `problems` per field. */
export class ApiRequestError extends Error {
  readonly status: number;
  readonly problems: ApiError['problems'];
  constructor(status: number, body: ApiError) {
    super(body.error);
    this.name = 'ApiRequestError';
    this.status = status;
    this.problems = body.problems;
  }
}

export interface ClientOptions {
  /** Base URL, e.g. "http://127.0.0.1:7399" ('' = same origin, the served dashboard). */
  baseUrl?: string;
  /** Bearer token (desktop preload); omit in a browser that logged in through `ferry dashboard`. */
  token?: string;
  fetch?: typeof fetch;
}

const enc = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const q = Object.entries(params)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(String(v))}`)
    .join('&');
  return q ? `?${q}` : '';
}

export function createClient(opts: ClientOptions = {}) {
  const base = (opts.baseUrl ?? '').replace(/\/$/, '');
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => fetch(...a));
  const headers = (json: boolean): Record<string, string> => ({
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    ...(json ? { 'content-type': 'application/json' } : {}),
  });

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await doFetch(`${base}${path}`, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : undefined;
    if (!res.ok) throw new ApiRequestError(res.status, parsed ?? { error: `HTTP ${res.status}` });
    return parsed as T;
  }

  const flowPath = (integration: string, flow: string) => `/api/config/integrations/${enc(integration)}/flows/${enc(flow)}`;

  return {
    status: () => call<StatusReply>('GET', '/api/status'),
    fleet: () => call<FleetReport>('GET', '/api/fleet'),

    config: () => call<ConfigView>('GET', '/api/config'),
    validate: (req: ValidateRequest) => call<ValidateReply>('POST', '/api/config/validate', req),
    putIntegration: (name: string, integration: Omit<RawIntegration, 'name'> & { name?: string }) =>
      call<ConfigChangeReply>('PUT', `/api/config/integrations/${enc(name)}`, integration),
    deleteIntegration: (name: string) => call<ConfigChangeReply>('DELETE', `/api/config/integrations/${enc(name)}`),
    putFlow: (integration: string, flow: string, cfg: Omit<RawFlow, 'name'> & { name?: string }) => call<ConfigChangeReply>('PUT', flowPath(integration, flow), cfg),
    deleteFlow: (integration: string, flow: string) => call<ConfigChangeReply>('DELETE', flowPath(integration, flow)),
    checkConfigSource: () => call<ConfigSourceCheckReply>('POST', '/api/config/source/check'),

    queue: (q: QueueQuery = {}) => call<QueueList>('GET', `/api/queue${query({ ...q })}`),
    item: (id: number) => call<ItemDetail>('GET', `/api/queue/${id}`),
    /** URL to download an item's body (for an <a download> link; the session cookie authenticates it). */
    itemBodyUrl: (id: number) => `${base}/api/queue/${id}/body`,
    retry: (req: QueueActionRequest) => call<QueueActionReply>('POST', '/api/queue/retry', req),
    discard: (req: QueueActionRequest) => call<QueueActionReply>('POST', '/api/queue/discard', req),

    pause: (flow: string) => call<FlowActionReply>('POST', `/api/flows/${enc(flow)}/pause`),
    resume: (flow: string) => call<FlowActionReply>('POST', `/api/flows/${enc(flow)}/resume`),
    runNow: (flow: string) => call<FlowActionReply>('POST', `/api/flows/${enc(flow)}/run`),

    check: (req: CheckRequest) => call<CheckReply>('POST', '/api/check', req),
    dryRun: (req: DryRunRequest) => call<DryRunReply>('POST', '/api/dry-run', req),
    nextRuns: (cron: string, timezone?: string, count = 5) => call<ScheduleReply>('GET', `/api/schedule/next${query({ cron, timezone, count })}`),

    activity: (since?: number, limit?: number) => call<ActivityReply>('GET', `/api/activity${query({ since, limit })}`),
    /**
     * Subscribes to the live event stream, resuming after `since`. EventSource cannot send headers, so with a
     * bearer token the token goes in the URL's `token` parameter (the server accepts it only on this route).
     * Returns a function that closes the stream.
     */
    events(onEvent: (e: ActivityEvent) => void, since?: number, onError?: (e: Event) => void): () => void {
      const source = new EventSource(`${base}/api/events${query({ since, token: opts.token })}`);
      source.onmessage = (m) => onEvent(JSON.parse(m.data) as ActivityEvent);
      if (onError) source.onerror = onError;
      return () => source.close();
    },

    secrets: () => call<SecretsReply>('GET', '/api/secrets'),
    secret: (name: string) => call<SecretInfo>('GET', `/api/secrets/${enc(name)}`),
    setSecret: (name: string, value: string) => call<SecretChangeReply>('PUT', `/api/secrets/${enc(name)}`, { value }),
    deleteSecret: (name: string) => call<SecretChangeReply>('DELETE', `/api/secrets/${enc(name)}`),

    connections: () => call<ConnectionsReply>('GET', '/api/connections'),
    connection: (name: string) => call<ConnectionView>('GET', `/api/connections/${enc(name)}`),
    startConsent: (name: string) => call<ConsentStartReply>('POST', `/api/connections/${enc(name)}/connect`),
    completeConsent: (name: string, input: string) => call<ConsentReply>('POST', `/api/connections/${enc(name)}/callback`, { input }),
    disconnect: (name: string) => call<DisconnectReply>('POST', `/api/connections/${enc(name)}/disconnect`),

    settings: () => call<SettingsReply>('GET', '/api/settings'),
    updateSettings: (s: SettingsUpdate) => call<SettingsReply>('PUT', '/api/settings', s),

    network: () => call<NetworkView>('GET', '/api/network'),
    updateNetwork: (u: NetworkUpdate) => call<NetworkView>('PUT', '/api/network', u),
    testNetwork: (req: NetworkTestRequest) => call<NetworkTestReply>('POST', '/api/network/test', req),
  };
}

export type FerryClient = ReturnType<typeof createClient>;
