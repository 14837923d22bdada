// The admin API's one route table: every route with its method, path, summary and the FerryApi operation it
// maps to (HTTP in, the operation's reply out). The OpenAPI document (/api/openapi.json) is generated from it.
// Request/reply shapes: ./types.ts; what each operation does: ../api/.
import type http from 'node:http';
import type { FerryApi } from '../api/ferry-api.ts';
import { FerryApiError } from '../api/errors.ts';
import { wholeNumber, itemState } from '../api/input.ts';
import { Reply, STREAMED } from './http.ts';
import type { BodyName } from './schemas.ts';
import type { ReplyOf, ReplyRef } from './reply-schemas.ts';
import { packageVersion } from '../paths.ts';
import type { ConsentPasteRequest } from './connection-types.ts';
import { writeMetrics } from '../metrics/listener.ts';
import type { CheckRequest, DryRunRequest, HttpMethod, NetworkTestRequest, NetworkUpdate, QueueActionRequest, QueueList, SecretPutRequest, SettingsUpdate, ValidateRequest } from './types.ts';

export interface RouteContext {
  api: FerryApi;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  req: http.IncomingMessage;
  res: http.ServerResponse;
  /** Registers an open stream so the server's close() ends it; returns its removal. */
  trackStream(end: () => void): () => void;
  /** Removes credentials from text the handler writes itself (JSON replies are scrubbed by the server). */
  scrub(text: string): string;
}

interface RouteBase {
  method: HttpMethod;
  /** `:name` segments are path parameters. */
  path: string;
  summary: string;
  /** Query parameters (documentation). */
  query?: string[];
  /** Request body: a schema of schemas.ts (validated before the handler when in VALIDATED_BODIES) and type in types.ts. */
  body?: BodyName;
}

/**
 * A route that answers JSON: `reply` names its schema in reply-schemas.ts (the OpenAPI document shows it, tests
 * check the live replies against it), and the handler returns that shape (or a Reply with another status).
 */
type JsonRoute = { [R in ReplyRef]: RouteBase & { reply: R; produces?: undefined; handler(ctx: RouteContext): Replied<R> | Promise<Replied<R>> } }[ReplyRef];
type Replied<R extends ReplyRef> = ReplyOf<R> | Reply<ReplyOf<R>>;

/** A route that writes its own reply (a download, the event stream): no JSON, so no reply schema. */
interface StreamRoute extends RouteBase {
  reply?: undefined;
  produces: { contentType: string; description: string };
  handler(ctx: RouteContext): typeof STREAMED | Promise<typeof STREAMED>;
}

export type Route = JsonRoute | StreamRoute;

// ------------------------------------------------------------------ the table

export const routes: Route[] = [
  { method: 'GET', path: '/api/status', summary: 'Per integration and flow: state, counts, last/next run, last error, destination health', reply: 'StatusReply', handler: (c) => c.api.status() },
  { method: 'GET', path: '/metrics', summary: 'Prometheus metrics (text format): counters, queue, flow health, process and store', produces: { contentType: 'text/plain; version=0.0.4', description: 'The Prometheus text exposition (families in docs/fleet.md)' }, handler: (c) => writeMetrics(c.req, c.res, () => c.api.metrics()).then(() => STREAMED) },
  { method: 'GET', path: '/api/fleet', summary: 'The fleet (fleet.view): the latest heartbeat of every agent on the broker, judged ok, failing or silent', reply: 'FleetReport', handler: (c) => c.api.fleet() },
  { method: 'GET', path: '/api/openapi.json', summary: 'This API as an OpenAPI 3.1 document', reply: 'OpenApiDocument', handler: async () => (await import('./openapi.ts')).openApiDocument(routes, packageVersion()) },

  { method: 'GET', path: '/api/config', summary: 'The config file as written (templates, never secret values) and its JSON Schema', reply: 'ConfigView', handler: (c) => c.api.getConfig() },
  { method: 'POST', path: '/api/config/validate', summary: 'Validate a whole config, one integration or one flow; problems name the field', body: 'ValidateRequest', reply: 'ValidateReply', handler: (c) => c.api.validate(c.body as ValidateRequest) },
  { method: 'PUT', path: '/api/config/integrations/:integration', summary: 'Create or replace an integration (validated, written keeping comments, applied)', body: 'RawIntegration', reply: 'ConfigChangeReply', handler: (c) => c.api.putIntegration(c.params.integration, c.body) },
  { method: 'DELETE', path: '/api/config/integrations/:integration', summary: 'Remove an integration and stop its flows', reply: 'ConfigChangeReply', handler: (c) => c.api.deleteIntegration(c.params.integration) },
  { method: 'PUT', path: '/api/config/integrations/:integration/flows/:flow', summary: 'Create or replace a flow (validated, written keeping comments, applied)', body: 'RawFlow', reply: 'ConfigChangeReply', handler: (c) => c.api.putFlow(c.params.integration, c.params.flow, c.body) },
  { method: 'DELETE', path: '/api/config/integrations/:integration/flows/:flow', summary: 'Remove a flow and stop it (its queued items stay)', reply: 'ConfigChangeReply', handler: (c) => c.api.deleteFlow(c.params.integration, c.params.flow) },
  { method: 'POST', path: '/api/config/source/check', summary: 'With configSource: fetch the central configuration now (applied when it verifies and validates)', reply: 'ConfigSourceCheckReply', handler: (c) => c.api.checkConfigSource() },

  { method: 'GET', path: '/api/queue', summary: 'List items (newest first) with filters and paging', query: ['flow', 'state', 'limit', 'offset'], reply: 'QueueList', handler: listQueue },
  { method: 'POST', path: '/api/queue/retry', summary: 'Queue dead or retrying items again with a fresh attempt budget', body: 'QueueActionRequest', reply: 'QueueActionReply', handler: (c) => c.api.retry(c.body as QueueActionRequest) },
  { method: 'POST', path: '/api/queue/discard', summary: 'Drop waiting or dead items (they are not taken again)', body: 'QueueActionRequest', reply: 'QueueActionReply', handler: (c) => c.api.discard(c.body as QueueActionRequest) },
  { method: 'GET', path: '/api/queue/:id', summary: 'One item with its attributes, attempts and errors', reply: 'ItemDetail', handler: (c) => c.api.showItem(itemId(c)) },
  { method: 'GET', path: '/api/queue/:id/body', summary: "Download an item's body", produces: { contentType: 'application/octet-stream', description: 'The body bytes' }, handler: itemBody },

  { method: 'POST', path: '/api/flows/:flow/pause', summary: 'Pause deliveries of a flow (intake continues; persists across restarts)', reply: 'FlowActionReply', handler: async (c) => (await c.api.pause(c.params.flow))[0] },
  { method: 'POST', path: '/api/flows/:flow/resume', summary: 'Resume deliveries of a flow', reply: 'FlowActionReply', handler: async (c) => (await c.api.resume(c.params.flow))[0] },
  { method: 'POST', path: '/api/flows/pause-all', summary: 'Pause deliveries of every flow (the tray\'s "Pause all")', reply: 'FlowActionReply[]', handler: (c) => c.api.pause() },
  { method: 'POST', path: '/api/flows/resume-all', summary: 'Resume deliveries of every flow', reply: 'FlowActionReply[]', handler: (c) => c.api.resume() },
  { method: 'POST', path: '/api/sync-now', summary: 'Every enabled, unpaused flow scans now and what waits for a retry goes out (the tray\'s "Sync now")', reply: 'SyncNowReply', handler: (c) => c.api.syncNow() },
  { method: 'POST', path: '/api/flows/:flow/run', summary: "Run a flow's source scan now (as a schedule tick would)", reply: 'FlowActionReply', handler: async (c) => new Reply(202, await c.api.runNow(c.params.flow)) },

  { method: 'POST', path: '/api/check', summary: "Connection test of a flow's source/destination or of an unsaved block (never an HTTP error for a failed test)", body: 'CheckRequest', reply: 'CheckReply', handler: (c) => c.api.check(c.body as CheckRequest) },
  { method: 'POST', path: '/api/dry-run', summary: 'What a source would take now: matching files, complete or still being written', body: 'DryRunRequest', reply: 'DryRunReply', handler: (c) => c.api.dryRun(c.body as DryRunRequest) },
  { method: 'GET', path: '/api/schedule/next', summary: 'Next run times of a cron expression in a time zone', query: ['cron', 'timezone', 'count'], reply: 'ScheduleReply', handler: nextRuns },

  { method: 'GET', path: '/api/activity', summary: 'Activity log (deliveries, retries, dead items, problems, config changes)', query: ['since', 'limit'], reply: 'ActivityReply', handler: activity },
  { method: 'GET', path: '/api/events', summary: 'Server-Sent Events of the activity log, resumable from ?since= or Last-Event-ID', query: ['since'], produces: { contentType: 'text/event-stream', description: 'One event per activity entry: `id: <cursor>` and `data: <ActivityEvent JSON>`' }, handler: events },

  { method: 'GET', path: '/api/secrets', summary: 'Secret names (values are never returned)', reply: 'SecretsReply', handler: (c) => c.api.listSecrets() },
  { method: 'GET', path: '/api/secrets/:name', summary: 'One secret: name, last change, flows using it (never the value)', reply: 'SecretInfo', handler: (c) => c.api.showSecret(c.params.name) },
  { method: 'PUT', path: '/api/secrets/:name', summary: 'Set a secret (the config refers to it as ${secret:NAME}); flows using it restart', body: 'SecretPutRequest', reply: 'SecretChangeReply', handler: (c) => c.api.putSecret(c.params.name, (c.body as SecretPutRequest).value) },
  { method: 'DELETE', path: '/api/secrets/:name', summary: 'Delete a secret', reply: 'SecretChangeReply', handler: (c) => c.api.deleteSecret(c.params.name) },

  { method: 'GET', path: '/api/connections', summary: 'OAuth connections: health (connected, refresh_failing, consent_needed), flows using each, the redirect URI to register', reply: 'ConnectionsReply', handler: (c) => c.api.listConnections() },
  { method: 'GET', path: '/api/connections/:name', summary: 'One OAuth connection and its latest consent', reply: 'ConnectionView', handler: (c) => c.api.showConnection(c.params.name) },
  { method: 'POST', path: '/api/connections/:name/connect', summary: "Start a consent (PKCE, state): open the reply's authorizeUrl in a browser; the provider sends it back to /oauth/callback", reply: 'ConsentStartReply', handler: (c) => c.api.startConsent(c.params.name) },
  { method: 'POST', path: '/api/connections/:name/callback', summary: 'Complete a consent from what the browser ended on (the redirect URL, its query, or the code), for headless machines', body: 'ConsentPasteRequest', reply: 'ConsentReply', handler: (c) => c.api.pasteConsent(c.params.name, (c.body as ConsentPasteRequest).input) },
  { method: 'POST', path: '/api/connections/:name/disconnect', summary: 'Revoke the tokens where the provider can, and forget them (flows using it wait for a new consent)', reply: 'DisconnectReply', handler: (c) => c.api.disconnect(c.params.name) },

  { method: 'GET', path: '/api/settings', summary: 'Log level, admin port, data folder, start at login', reply: 'SettingsReply', handler: (c) => c.api.getSettings() },
  { method: 'PUT', path: '/api/settings', summary: 'Change settings (port and data folder apply after a restart)', body: 'SettingsUpdate', reply: 'SettingsReply', handler: (c) => c.api.putSettings(c.body as SettingsUpdate) },

  { method: 'GET', path: '/api/network', summary: 'The network setting as written (proxy, trusted CAs; templates, never secret values) and what it means now', reply: 'NetworkView', handler: (c) => c.api.getNetwork() },
  { method: 'PUT', path: '/api/network', summary: 'Replace the network setting and store the secrets it refers to (validated, written keeping comments, applied: flows restart with it)', body: 'NetworkUpdate', reply: 'NetworkView', handler: (c) => c.api.putNetwork(c.body as NetworkUpdate) },
  { method: 'POST', path: '/api/network/test', summary: 'Test a URL through the saved network setting or unsaved values: the path taken (proxy, TLS issuer and trust) or why it failed', body: 'NetworkTestRequest', reply: 'NetworkTestReply', handler: (c) => c.api.testNetwork(c.body as NetworkTestRequest) },
];

const compiled = routes.map((route) => {
  const names: string[] = [];
  const re = new RegExp(`^${route.path.replace(/[.]/g, '\\.').replace(/:([a-zA-Z]+)/g, (_m, n: string) => (names.push(n), '([^/]+)'))}$`);
  return { route, re, names };
});

export function matchRoute(method: string, pathname: string): { route: Route; params: Record<string, string> } | undefined {
  for (const c of compiled) {
    if (c.route.method !== method) continue;
    const m = c.re.exec(pathname);
    if (!m) continue;
    const params: Record<string, string> = {};
    try {
      c.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])));
    } catch {
      throw new FerryApiError(400, `malformed path ${pathname}`);
    }
    return { route: c.route, params };
  }
  return undefined;
}

// ------------------------------------------------------------------ HTTP-only parts: query parameters, download, event stream

function itemId(ctx: RouteContext): number {
  const id = ctx.params.id;
  if (!/^\d+$/.test(id)) throw new FerryApiError(400, `expected an item number, got ${JSON.stringify(id)}`);
  return Number(id);
}

function listQueue({ api, query }: RouteContext): Promise<QueueList> {
  return api.listQueue({
    flow: query.get('flow') || undefined,
    state: itemState(query.get('state'), 'state'),
    limit: wholeNumber('limit', query.get('limit'), 50, 1, 1000),
    offset: wholeNumber('offset', query.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER),
  });
}

function nextRuns({ api, query }: RouteContext) {
  return api.nextRuns(query.get('cron') ?? '', query.get('timezone') || undefined, wholeNumber('count', query.get('count'), 5, 1, 50));
}

function activity({ api, query }: RouteContext) {
  const since = query.get('since');
  return api.activity({ since: since === null || since === '' ? undefined : wholeNumber('since', since, 0, 0, Number.MAX_SAFE_INTEGER), limit: wholeNumber('limit', query.get('limit'), 200, 1, 1000) });
}

async function itemBody(ctx: RouteContext): Promise<typeof STREAMED> {
  const body = await ctx.api.itemBody(itemId(ctx));
  const stream = body.open();
  const ascii = body.name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  ctx.res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(body.size),
    'content-disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(body.name)}`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; sandbox",
  });
  stream.on('error', () => ctx.res.destroy());
  stream.pipe(ctx.res);
  return STREAMED;
}

const SSE_HEARTBEAT_MS = 15_000;

/** Server-Sent Events of api.subscribe(): the event id is the cursor a reconnecting client resumes from. */
function events(ctx: RouteContext): typeof STREAMED {
  const { api, req, res, query } = ctx;
  const header = req.headers['last-event-id'];
  const since = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : query.get('since') ? wholeNumber('since', query.get('since'), 0, 0, Number.MAX_SAFE_INTEGER) : undefined;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  res.write(`retry: 2000\n${since === undefined ? ': from now on' : `: resuming after ${since}`}\n\n`);
  let lastWrite = Date.now();
  const unsubscribe = api.subscribe(
    since,
    (e) => {
      res.write(`id: ${e.id}\ndata: ${ctx.scrub(JSON.stringify(e))}\n\n`);
      lastWrite = Date.now();
    },
    () => end(),
  );
  const heartbeat = setInterval(() => {
    if (Date.now() - lastWrite > SSE_HEARTBEAT_MS) {
      res.write(': keep-alive\n\n');
      lastWrite = Date.now();
    }
  }, 1000);
  const stop = () => {
    clearInterval(heartbeat);
    unsubscribe();
    untrack();
  };
  const end = () => {
    stop();
    res.end();
  };
  const untrack = ctx.trackStream(end);
  req.on('close', stop);
  return STREAMED;
}
