// The admin API's one route table: every route with its method, path, summary and handler. The OpenAPI
// document (/api/openapi.json) is generated from it. Request/reply shapes: ./types.ts.
import fs from 'node:fs';
import type http from 'node:http';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { CronSchedule, cronProblem } from '../schedule.ts';
import type { Engine } from '../engine.ts';
import { configSchema } from '../config/schema.ts';
import { parseEndpoint } from '../config/load.ts';
import { connectors, connectorOf } from '../registry.ts';
import { ITEM_STATES, type ItemFilter, type ItemState, type ItemSummary } from '../store/queue.ts';
import { assertSecretName, SecretError } from '../secrets.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import { HttpError, isPlainObject, problemFromLine, Reply, STREAMED } from './http.ts';
import { deleteFlow, deleteIntegration, putFlow, putIntegration, putSettings } from './config-file.ts';
import { readDesktopSettings, writeDesktopSettings } from './settings.ts';
import { openApiDocument } from './openapi.ts';
import { setFlowsPaused } from '../control.ts';
import { getNetwork, putNetwork, testNetwork } from './network.ts';
import type { BodyName } from './schemas.ts';
import { packageVersion } from '../paths.ts';
import { writeMetrics } from '../metrics/listener.ts';
import type {
  ActivityEvent,
  ActivityReply,
  ApplyReport,
  CheckReply,
  ConfigChangeReply,
  ConfigView,
  DryRunReply,
  FlowActionReply,
  HttpMethod,
  ItemDetail,
  ItemView,
  LogLevelName,
  QueueActionReply,
  QueueList,
  ScheduleReply,
  SecretInfo,
  SecretsReply,
  SettingsReply,
  SettingsUpdate,
  StatusReply,
  ValidateReply,
} from './types.ts';
import type { AdminServer } from './server.ts';

export interface RouteContext {
  engine: Engine;
  admin: AdminServer;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  req: http.IncomingMessage;
  res: http.ServerResponse;
}

export interface Route {
  method: HttpMethod;
  /** `:name` segments are path parameters. */
  path: string;
  summary: string;
  /** Query parameters (documentation). */
  query?: string[];
  /** Request body: a schema of schemas.ts (validated before the handler when in VALIDATED_BODIES) and type in types.ts. */
  body?: BodyName;
  /** Reply type in types.ts (documentation). */
  reply?: string;
  handler(ctx: RouteContext): unknown;
}

const VERSION = packageVersion();

// ------------------------------------------------------------------ the table

export const routes: Route[] = [
  { method: 'GET', path: '/api/status', summary: 'Per integration and flow: state, counts, last/next run, last error, destination health', reply: 'StatusReply', handler: status },
  { method: 'GET', path: '/metrics', summary: 'Prometheus metrics (text format): counters, queue, flow health, process and store', handler: (c) => writeMetrics(c.engine, c.req, c.res).then(() => STREAMED) },
  { method: 'GET', path: '/api/fleet', summary: 'The fleet (fleet.view): the latest heartbeat of every agent on the broker, judged ok, failing or silent', reply: 'FleetReport', handler: (c) => c.engine.fleet.view() },
  { method: 'GET', path: '/api/openapi.json', summary: 'This API as an OpenAPI 3.1 document', handler: () => openApiDocument(routes, VERSION) },

  { method: 'GET', path: '/api/config', summary: 'The config file as written (templates, never secret values) and its JSON Schema', reply: 'ConfigView', handler: getConfig },
  { method: 'POST', path: '/api/config/validate', summary: 'Validate a whole config, one integration or one flow; problems name the field', body: 'ValidateRequest', reply: 'ValidateReply', handler: validate },
  { method: 'PUT', path: '/api/config/integrations/:integration', summary: 'Create or replace an integration (validated, written keeping comments, applied)', body: 'RawIntegration', reply: 'ConfigChangeReply', handler: (c) => change(c, (doc) => putIntegration(doc, c.params.integration, c.body)) },
  { method: 'DELETE', path: '/api/config/integrations/:integration', summary: 'Remove an integration and stop its flows', reply: 'ConfigChangeReply', handler: (c) => change(c, (doc) => deleteIntegration(doc, c.params.integration)) },
  { method: 'PUT', path: '/api/config/integrations/:integration/flows/:flow', summary: 'Create or replace a flow (validated, written keeping comments, applied)', body: 'RawFlow', reply: 'ConfigChangeReply', handler: (c) => change(c, (doc) => putFlow(doc, c.params.integration, c.params.flow, c.body)) },
  { method: 'DELETE', path: '/api/config/integrations/:integration/flows/:flow', summary: 'Remove a flow and stop it (its queued items stay)', reply: 'ConfigChangeReply', handler: (c) => change(c, (doc) => deleteFlow(doc, c.params.integration, c.params.flow)) },

  { method: 'GET', path: '/api/queue', summary: 'List items (newest first) with filters and paging', query: ['flow', 'state', 'limit', 'offset'], reply: 'QueueList', handler: listQueue },
  { method: 'POST', path: '/api/queue/retry', summary: 'Queue dead or retrying items again with a fresh attempt budget', body: 'QueueActionRequest', reply: 'QueueActionReply', handler: (c) => queueAction(c, 'retry') },
  { method: 'POST', path: '/api/queue/discard', summary: 'Drop waiting or dead items (they are not taken again)', body: 'QueueActionRequest', reply: 'QueueActionReply', handler: (c) => queueAction(c, 'discard') },
  { method: 'GET', path: '/api/queue/:id', summary: 'One item with its attributes, attempts and errors', reply: 'ItemDetail', handler: showItem },
  { method: 'GET', path: '/api/queue/:id/body', summary: "Download an item's body", handler: itemBody },

  { method: 'POST', path: '/api/flows/:flow/pause', summary: 'Pause deliveries of a flow (intake continues; persists across restarts)', reply: 'FlowActionReply', handler: (c) => flowAction(c, 'pause') },
  { method: 'POST', path: '/api/flows/:flow/resume', summary: 'Resume deliveries of a flow', reply: 'FlowActionReply', handler: (c) => flowAction(c, 'resume') },
  { method: 'POST', path: '/api/flows/:flow/run', summary: "Run a flow's source scan now (as a schedule tick would)", reply: 'FlowActionReply', handler: (c) => flowAction(c, 'run') },

  { method: 'POST', path: '/api/check', summary: "Connection test of a flow's source/destination or of an unsaved block (never an HTTP error for a failed test)", body: 'CheckRequest', reply: 'CheckReply', handler: check },
  { method: 'POST', path: '/api/dry-run', summary: 'What a source would take now: matching files, complete or still being written', body: 'DryRunRequest', reply: 'DryRunReply', handler: dryRun },
  { method: 'GET', path: '/api/schedule/next', summary: 'Next run times of a cron expression in a time zone', query: ['cron', 'timezone', 'count'], reply: 'ScheduleReply', handler: nextRuns },

  { method: 'GET', path: '/api/activity', summary: 'Activity log (deliveries, retries, dead items, problems, config changes)', query: ['since', 'limit'], reply: 'ActivityReply', handler: activity },
  { method: 'GET', path: '/api/events', summary: 'Server-Sent Events of the activity log, resumable from ?since= or Last-Event-ID', query: ['since'], handler: events },

  { method: 'GET', path: '/api/secrets', summary: 'Secret names (values are never returned)', reply: 'SecretsReply', handler: listSecrets },
  { method: 'GET', path: '/api/secrets/:name', summary: 'One secret: name, last change, flows using it (never the value)', reply: 'SecretInfo', handler: showSecret },
  { method: 'PUT', path: '/api/secrets/:name', summary: 'Set a secret (the config refers to it as ${secret:NAME}); flows using it restart', body: 'SecretPutRequest', handler: putSecret },
  { method: 'DELETE', path: '/api/secrets/:name', summary: 'Delete a secret', handler: deleteSecret },

  { method: 'GET', path: '/api/settings', summary: 'Log level, admin port, data folder, start at login', reply: 'SettingsReply', handler: getSettings },
  { method: 'PUT', path: '/api/settings', summary: 'Change settings (port and data folder apply after a restart)', body: 'SettingsUpdate', reply: 'SettingsReply', handler: putSettingsRoute },

  { method: 'GET', path: '/api/network', summary: 'The network setting as written (proxy, trusted CAs; templates, never secret values) and what it means now', reply: 'NetworkView', handler: getNetwork },
  { method: 'PUT', path: '/api/network', summary: 'Replace the network setting and store the secrets it refers to (validated, written keeping comments, applied: flows restart with it)', body: 'NetworkUpdate', reply: 'NetworkView', handler: putNetwork },
  { method: 'POST', path: '/api/network/test', summary: 'Test a URL through the saved network setting or unsaved values: the path taken (proxy, TLS issuer and trust) or why it failed', body: 'NetworkTestRequest', reply: 'NetworkTestReply', handler: testNetwork },
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
      throw new HttpError(400, `malformed path ${pathname}`);
    }
    return { route: c.route, params };
  }
  return undefined;
}

// ------------------------------------------------------------------ helpers

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

function flowNames(engine: Engine): string[] {
  return engine.config.integrations.flatMap((i) => i.flows.map((f) => f.name));
}

function knownFlow(engine: Engine, name: string, where = 'flow'): string {
  if (!flowNames(engine).includes(name)) throw new HttpError(404, `${where}: no flow named "${name}" (flows: ${flowNames(engine).join(', ') || 'none'})`);
  return name;
}

function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new HttpError(400, `${name}: expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`, [{ path: name, message: `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}` }]);
  return Number(v);
}

function stateParam(v: unknown, where: string): ItemState | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (!ITEM_STATES.includes(v as ItemState)) throw new HttpError(400, `${where}: expected one of ${ITEM_STATES.join(' | ')}, got ${JSON.stringify(v)}`, [{ path: where, message: `expected one of ${ITEM_STATES.join(' | ')}, got ${JSON.stringify(v)}` }]);
  return v as ItemState;
}

export function itemView(i: ItemSummary): ItemView {
  return {
    id: i.id,
    flow: i.flow,
    state: i.state,
    name: i.name,
    size: i.size,
    sha256: i.sha256,
    idempotencyKey: i.idem_key,
    attempts: i.attempts,
    nextAttemptAt: i.state === 'retrying' ? iso(i.next_at) : null,
    lastError: i.last_error,
    lastStatus: i.last_status,
    createdAt: new Date(i.created_at).toISOString(),
    updatedAt: new Date(i.updated_at).toISOString(),
    settledAt: iso(i.settled_at),
    attributes: JSON.parse(i.attrs),
  };
}

function itemId(ctx: RouteContext): number {
  const id = ctx.params.id;
  if (!/^\d+$/.test(id)) throw new HttpError(400, `expected an item number, got ${JSON.stringify(id)}`);
  return Number(id);
}

// ------------------------------------------------------------------ status and config

/** While items keep changing, status is recounted at most this often (dashboards and trays poll it). */
const STATUS_MAX_AGE_MS = 250;

function status({ engine, admin }: RouteContext): StatusReply {
  const now = Date.now();
  const c = admin.statusCache;
  if (!c || now - c.at >= STATUS_MAX_AGE_MS || c.config !== engine.config) admin.statusCache = { at: now, config: engine.config, report: engine.status() };
  return { ...admin.statusCache!.report, version: VERSION, adminUrl: admin.url, pid: process.pid, startedAt: new Date(engine.startedAt).toISOString() };
}

let schemaCache: Pick<ConfigView, 'schema' | 'connectors'> | undefined;

function getConfig({ admin }: RouteContext): ConfigView {
  schemaCache ??= {
    schema: z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
    connectors: connectors.map((c) => ({
      type: c.type,
      source: c.sourceSchema ? (z.toJSONSchema(c.sourceSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : undefined,
      destination: c.destinationSchema ? (z.toJSONSchema(c.destinationSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : undefined,
      changeEvents: c.changeEvents === true,
    })),
  };
  return { file: admin.configFile.file, config: admin.configFile.raw(), ...schemaCache };
}

function validate({ admin, body }: RouteContext): ValidateReply {
  if (!isPlainObject(body)) throw new HttpError(400, 'expected { config } or { integration, flow } or { integration: {…} }');
  let proposal;
  if ('config' in body) proposal = admin.configFile.validateWhole(body.config);
  else if (typeof body.integration === 'string' && 'flow' in body) {
    const flow = isPlainObject(body.flow) ? body.flow : body.flow;
    const name = isPlainObject(flow) && typeof flow.name === 'string' && flow.name ? flow.name : '';
    proposal = admin.configFile.propose((doc) => putFlow(doc, body.integration as string, name || '(unnamed)', flow));
  } else if (isPlainObject(body.integration)) {
    const intg = body.integration;
    proposal = admin.configFile.propose((doc) => putIntegration(doc, typeof intg.name === 'string' && intg.name ? intg.name : '(unnamed)', intg));
  } else throw new HttpError(400, 'expected { config } or { integration, flow } or { integration: {…} }');
  return proposal.ok ? { ok: true, problems: [], warnings: proposal.warnings } : { ok: false, problems: proposal.problems };
}

async function change(ctx: RouteContext, edit: Parameters<AdminServer['configFile']['change']>[0]): Promise<ConfigChangeReply> {
  const applied: ApplyReport = await ctx.admin.configFile.change(edit, (loaded) => ctx.engine.applyConfig(loaded));
  return { ok: true, applied };
}

// ------------------------------------------------------------------ queue

function listQueue({ engine, query }: RouteContext): QueueList {
  const flow = query.get('flow') || undefined;
  const state = stateParam(query.get('state'), 'state');
  const limit = intParam(query, 'limit', 50, 1, 1000);
  const offset = intParam(query, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
  const f: ItemFilter = { flow, state };
  return { items: engine.queue.list({ ...f, limit, offset }).map(itemView), total: engine.queue.count(f), limit, offset };
}

function showItem(ctx: RouteContext): ItemDetail {
  const id = itemId(ctx);
  const item = ctx.engine.queue.list({ id })[0];
  if (!item) throw new HttpError(404, `no item ${id}`);
  const hasBody = item.body_file !== null || ctx.engine.queue.body(id) !== undefined;
  return {
    item: itemView(item),
    attempts: ctx.engine.queue.attemptsOf(id).map((a) => ({ at: new Date(a.at).toISOString(), outcome: a.outcome, error: a.error, status: a.status })),
    lastResponse: item.last_response,
    hasBody,
  };
}

function itemBody(ctx: RouteContext): typeof STREAMED {
  const id = itemId(ctx);
  const row = ctx.engine.queue.get(id);
  if (!row) throw new HttpError(404, `no item ${id}`);
  const inline = row.body_file ? undefined : ctx.engine.queue.body(id);
  if (!row.body_file && !inline) throw new HttpError(410, `item ${id} has no body any more (${row.state})`);
  const stream = row.body_file ? fs.createReadStream(ctx.engine.content.pathOf(row.body_file)) : Readable.from([inline!]);
  const ascii = row.name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  ctx.res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': String(row.size),
    'content-disposition': `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(row.name)}`,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; sandbox",
  });
  stream.on('error', () => ctx.res.destroy());
  stream.pipe(ctx.res);
  return STREAMED;
}

async function queueAction(ctx: RouteContext, action: 'retry' | 'discard'): Promise<QueueActionReply> {
  const b = ctx.body as { ids?: number[]; flow?: string; state?: ItemState }; // checked against QueueActionRequest
  const flow = b.flow ? knownFlow(ctx.engine, b.flow, 'flow') : undefined;
  const filters: ItemFilter[] = b.ids ? b.ids.map((id) => ({ id, flow, state: b.state })) : [{ flow, state: b.state }];
  let count = 0;
  for (const f of filters) count += action === 'retry' ? ctx.engine.retry(f) : await ctx.engine.discard(f);
  ctx.admin.statusCache = undefined;
  return { count };
}

// ------------------------------------------------------------------ flows

async function flowAction(ctx: RouteContext, action: 'pause' | 'resume' | 'run'): Promise<FlowActionReply | Reply> {
  const name = knownFlow(ctx.engine, ctx.params.flow);
  const flow = ctx.engine.flows.get(name);
  if (!flow) throw new HttpError(409, `flow ${name} is not loaded`);
  ctx.admin.statusCache = undefined;
  if (action === 'pause' || action === 'resume') {
    setFlowsPaused(ctx.engine, action === 'pause', [name]);
    return { flow: name, paused: flow.paused };
  }
  if (!flow.cfg.enabled) throw new HttpError(409, `flow ${name} is disabled (enabled: false); enable it first`);
  if (!ctx.engine.running) throw new HttpError(409, 'the engine is not running');
  ctx.engine.queue.addEvent('flow', name, null, { action: 'run' });
  void flow.runScan('run now');
  return new Reply(202, { flow: name, paused: flow.paused, running: true } satisfies FlowActionReply);
}

// ------------------------------------------------------------------ check, dry run, schedule

async function check({ engine, body }: RouteContext): Promise<CheckReply> {
  if (!isPlainObject(body)) throw new HttpError(400, 'expected { flow, role } or { source } or { destination }');
  let role: 'source' | 'destination';
  let block: unknown;
  if (typeof body.flow === 'string') {
    const name = knownFlow(engine, body.flow);
    if (body.role !== 'source' && body.role !== 'destination') throw new HttpError(400, `role: expected "source" or "destination", got ${JSON.stringify(body.role)}`, [{ path: 'role', message: 'expected "source" or "destination"' }]);
    role = body.role;
    const flow = engine.flows.get(name)!;
    const conn = role === 'source' ? flow.source : flow.destination;
    return runCheck(() => conn.check());
  }
  if ('source' in body) (role = 'source'), (block = body.source);
  else if ('destination' in body) (role = 'destination'), (block = body.destination);
  else throw new HttpError(400, 'expected { flow, role } or { source } or { destination }');
  const parsed = parseEndpoint(role, block, engine.loaded.dir, { secrets: engine.secrets?.lookup() });
  if (!parsed.ok) return { ok: false, message: `the ${role} settings are not valid`, problems: parsed.problems.map(problemFromLine) };
  const def = connectorOf(parsed.type);
  const env = { configDir: engine.loaded.dir, log: engine.log.child({ check: parsed.type }), net: engine.network };
  let conn;
  try {
    conn = role === 'source' ? def.createSource!(parsed.config, env) : def.createDestination!(parsed.config, env);
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  }
  try {
    return await runCheck(() => conn.check());
  } finally {
    await conn.close?.().catch(() => undefined);
  }
}

async function runCheck(fn: () => Promise<{ ok: boolean; message?: string }>): Promise<CheckReply> {
  try {
    const r = await fn();
    return { ok: r.ok, message: r.message ?? (r.ok ? 'OK' : 'failed') };
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  }
}

async function dryRun({ engine, body }: RouteContext): Promise<DryRunReply> {
  if (!isPlainObject(body) || !('source' in body)) throw new HttpError(400, 'expected { source: { type, … } }');
  const empty = { files: [], complete: 0, writing: 0, truncated: false };
  const parsed = parseEndpoint('source', body.source, engine.loaded.dir, { secrets: engine.secrets?.lookup() });
  if (!parsed.ok) return { ok: false, message: 'the source settings are not valid', problems: parsed.problems.map(problemFromLine), ...empty };
  const def = connectorOf(parsed.type);
  const source = def.createSource!(parsed.config, { configDir: engine.loaded.dir, log: engine.log.child({ dryRun: parsed.type }), net: engine.network });
  try {
    if (!source.dryRun) return { ok: false, message: `${parsed.type} sources have no dry run`, ...empty };
    const r = await source.dryRun({ maxFiles: 1000, maxWaitMs: 3000 });
    if (!r.ok) return { ok: false, message: r.message, ...empty };
    const complete = r.files.filter((f) => f.state === 'complete').length;
    const writing = r.files.length - complete;
    const n = r.files.length;
    const message =
      n === 0 ? 'no existing files match' : `${n}${r.truncated ? '+' : ''} existing file${n === 1 ? '' : 's'} match${n === 1 ? 'es' : ''}${writing > 0 ? `; ${writing} ${writing === 1 ? 'is' : 'are'} still being written` : ''}`;
    return { ok: true, message, files: r.files, complete, writing, truncated: r.truncated };
  } catch (err) {
    return { ok: false, message: errorMessage(err), ...empty };
  } finally {
    await source.close?.().catch(() => undefined);
  }
}

function nextRuns({ query }: RouteContext): ScheduleReply {
  const expr = query.get('cron') ?? '';
  const timezone = query.get('timezone') || Intl.DateTimeFormat().resolvedOptions().timeZone;
  const count = intParam(query, 'count', 5, 1, 50);
  const problems = [];
  const problem = expr ? cronProblem(expr) : 'required (expected a cron expression like "*/5 * * * *")';
  if (problem) problems.push({ path: 'cron', message: problem });
  let fmt: Intl.DateTimeFormat | undefined;
  try {
    fmt = new Intl.DateTimeFormat('sv-SE', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  } catch {
    problems.push({ path: 'timezone', message: `expected an IANA time zone like "Europe/Berlin", got ${JSON.stringify(timezone)}` });
  }
  if (problems.length > 0 || !fmt) return { ok: false, times: [], local: [], timezone, problems };
  const times = new CronSchedule(expr, timezone).nextRuns(new Date(), count).map((d) => d.toISOString());
  return { ok: true, times, local: times.map((t) => fmt.format(new Date(t))), timezone, problems: [] };
}

// ------------------------------------------------------------------ activity and events

type EventRow = ReturnType<Engine['queue']['events']>[number];

function eventView(e: EventRow): ActivityEvent {
  let data: Record<string, unknown> | null = null;
  if (e.data) {
    try {
      data = JSON.parse(e.data);
    } catch {
      data = { text: e.data };
    }
  }
  return { id: e.id, at: new Date(e.at).toISOString(), type: e.type, flow: e.flow, itemId: e.item_id, data };
}

function activity({ engine, query }: RouteContext): ActivityReply {
  const limit = intParam(query, 'limit', 200, 1, 1000);
  const sinceRaw = query.get('since');
  let rows: EventRow[];
  if (sinceRaw !== null && sinceRaw !== '') {
    rows = engine.queue.events(intParam(query, 'since', 0, 0, Number.MAX_SAFE_INTEGER), limit);
  } else {
    // the latest `limit` events, oldest first
    const last = engine.db.prepare<[], { id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM events').get()!.id;
    rows = engine.queue.events(Math.max(0, last - limit), limit);
  }
  const events = rows.map(eventView);
  const since = Number(sinceRaw ?? 0) || 0;
  return { events, cursor: events.length ? events[events.length - 1].id : since };
}

const SSE_POLL_MS = 500;
const SSE_HEARTBEAT_MS = 15_000;

function events(ctx: RouteContext): typeof STREAMED {
  const { engine, admin, req, res, query } = ctx;
  const header = req.headers['last-event-id'];
  const from = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : query.get('since') ? intParam(query, 'since', 0, 0, Number.MAX_SAFE_INTEGER) : undefined;
  let cursor = from ?? engine.db.prepare<[], { id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM events').get()!.id;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-accel-buffering': 'no',
    connection: 'keep-alive',
  });
  res.write(`retry: 2000\n: resuming after ${cursor}\n\n`);
  let lastWrite = Date.now();
  const pump = () => {
    try {
      for (;;) {
        const rows = engine.queue.events(cursor, 500);
        for (const r of rows) {
          res.write(`id: ${r.id}\ndata: ${engine.scrubber.text(JSON.stringify(eventView(r)))}\n\n`);
          cursor = r.id;
          lastWrite = Date.now();
        }
        if (rows.length < 500) break;
      }
      if (Date.now() - lastWrite > SSE_HEARTBEAT_MS) {
        res.write(': keep-alive\n\n');
        lastWrite = Date.now();
      }
    } catch {
      end(); // the database closed (engine stopping)
    }
  };
  const timer = setInterval(pump, SSE_POLL_MS);
  const end = () => {
    clearInterval(timer);
    untrack();
    res.end();
  };
  const untrack = admin.trackStream(end);
  req.on('close', () => {
    clearInterval(timer);
    untrack();
  });
  pump();
  return STREAMED;
}

// ------------------------------------------------------------------ secrets

function secretStore(engine: Engine) {
  if (!engine.secrets) throw new HttpError(501, 'this engine runs without a secret store');
  return engine.secrets;
}

function usedBy(engine: Engine, raw: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const visit = (v: unknown, flow: string) => {
    if (typeof v === 'string') for (const m of v.matchAll(/\$\{secret:([A-Za-z_][A-Za-z0-9_.-]*)\}/g)) out.set(m[1], [...new Set([...(out.get(m[1]) ?? []), flow])]);
    else if (Array.isArray(v)) v.forEach((x) => visit(x, flow));
    else if (isPlainObject(v)) Object.values(v).forEach((x) => visit(x, flow));
  };
  const integrations = isPlainObject(raw) && Array.isArray(raw.integrations) ? raw.integrations : [];
  for (const i of integrations) for (const f of isPlainObject(i) && Array.isArray(i.flows) ? i.flows : []) visit(f, isPlainObject(f) ? String(f.name) : '?');
  void engine;
  return out;
}

function listSecrets({ engine, admin }: RouteContext): SecretsReply {
  const store = secretStore(engine);
  const uses = usedBy(engine, admin.configFile.raw());
  try {
    return { secrets: store.list().map((s) => ({ name: s.name, updatedAt: new Date(s.updatedAt).toISOString(), usedBy: uses.get(s.name) ?? [] })), storage: store.describeStorage() };
  } catch (err) {
    if (err instanceof SecretError) throw new HttpError(500, err.message);
    throw err;
  }
}

function showSecret({ engine, admin, params }: RouteContext): SecretInfo {
  const store = secretStore(engine);
  const found = store.list().find((s) => s.name === params.name);
  if (!found) throw new HttpError(404, `no secret named "${params.name}"`);
  return { name: found.name, updatedAt: new Date(found.updatedAt).toISOString(), usedBy: usedBy(engine, admin.configFile.raw()).get(found.name) ?? [] };
}

/** After a secret changed: re-read the config so flows that use it restart with the new value. */
async function reapply(ctx: RouteContext): Promise<ApplyReport | undefined> {
  const { admin, engine } = ctx;
  const proposal = admin.configFile.validateWhole(admin.configFile.raw());
  if (!proposal.ok) return undefined; // e.g. another secret still missing: the running config stays
  return engine.applyConfig(proposal.loaded);
}

async function putSecret(ctx: RouteContext): Promise<{ name: string; applied?: ApplyReport }> {
  const store = secretStore(ctx.engine);
  const name = ctx.params.name;
  try {
    assertSecretName(name);
  } catch (err) {
    throw new HttpError(400, (err as Error).message, [{ path: 'name', message: (err as Error).message }]);
  }
  const b = ctx.body as { value: string }; // checked against SecretPutRequest
  try {
    store.set(name, b.value);
  } catch (err) {
    if (err instanceof SecretError) throw new HttpError(500, err.message);
    throw err;
  }
  ctx.engine.queue.addEvent('secret', null, null, { name, action: 'set' });
  return { name, applied: await reapply(ctx) };
}

async function deleteSecret(ctx: RouteContext): Promise<{ name: string }> {
  const store = secretStore(ctx.engine);
  if (!store.delete(ctx.params.name)) throw new HttpError(404, `no secret named "${ctx.params.name}"`);
  ctx.engine.queue.addEvent('secret', null, null, { name: ctx.params.name, action: 'delete' });
  return { name: ctx.params.name };
}

// ------------------------------------------------------------------ settings

function settingsReply(ctx: RouteContext, restartRequired: string[] = []): SettingsReply {
  const raw = ctx.admin.configFile.raw();
  const desktop = readDesktopSettings(ctx.engine.dataDir);
  const port = typeof raw.admin?.port === 'number' ? raw.admin.port : ctx.engine.config.admin.port;
  const pending = [...restartRequired];
  if (port !== ctx.engine.config.admin.port && !pending.includes('adminPort')) pending.push('adminPort');
  return {
    logLevel: ctx.engine.config.logLevel as LogLevelName,
    adminPort: port,
    dataDir: ctx.engine.dataDir,
    startAtLogin: desktop.startAtLogin,
    configFile: ctx.admin.configFile.file,
    restartRequired: pending,
  };
}

function getSettings(ctx: RouteContext): SettingsReply {
  return settingsReply(ctx);
}

async function putSettingsRoute(ctx: RouteContext): Promise<SettingsReply> {
  const b = ctx.body as SettingsUpdate; // checked against SettingsUpdate
  const restart: string[] = [];
  const fileSettings = { logLevel: b.logLevel, adminPort: b.adminPort, dataDir: b.dataDir };
  if (fileSettings.logLevel !== undefined || fileSettings.adminPort !== undefined || fileSettings.dataDir !== undefined) {
    try {
      const report = await ctx.admin.configFile.change((doc) => putSettings(doc, fileSettings), (loaded) => ctx.engine.applyConfig(loaded));
      restart.push(...report.restartRequired.map((k) => (k === 'admin.port' ? 'adminPort' : k)));
    } catch (err) {
      if (err instanceof HttpError && err.problems) {
        // name the settings fields, not the config keys
        const rename = (p: string) => (p === 'admin.port' ? 'adminPort' : p);
        throw new HttpError(err.status, err.message, err.problems.map((p) => ({ ...p, path: rename(p.path) })));
      }
      throw err;
    }
  }
  if (typeof b.startAtLogin === 'boolean') writeDesktopSettings(ctx.engine.dataDir, { startAtLogin: b.startAtLogin });
  return settingsReply(ctx, restart);
}
