// The admin API's replies as zod schemas: the TypeScript reply types of ./types.ts are `z.output` of these,
// /api/openapi.json describes each reply by them (components.schemas, with $refs between the named ones), and
// tests check a running engine's replies against them. Objects are strict: a reply carries exactly the fields
// named here. The config "as written" (Raw*) is the exception: it is the admin's file, not a shape Ferry makes.
import { z } from 'zod';
import { ITEM_STATES, type ItemState } from '../store/queue.ts';
import type { FlowCounterSnapshot as EngineFlowCounters, FlowStatus as EngineFlowStatus, StatusReport as EngineStatusReport } from '../status.ts';
import type { AlertChannelStatus as EngineAlertChannelStatus } from '../alerts/status.ts';
import type { ConnectionStatus as EngineConnectionStatus } from '../oauth/state.ts';
import { ALERT_CAUSES } from '../alerts/schema.ts';

const iso = (description: string) => z.string().meta({ description: `${description} (ISO 8601 time)` });
const isoOrNull = (description: string) => z.string().nullable().meta({ description: `${description} (ISO 8601 time), or null` });
const count = () => z.int().min(0);
const strings = () => z.array(z.string());

const itemState = z.enum(ITEM_STATES as [ItemState, ...ItemState[]]);
const countsByState = z.record(itemState, count());

// ------------------------------------------------------------------ errors and problems

const Problem = z
  .strictObject({
    path: z.string().meta({ description: 'Key path like `source.path` or `integrations[0].flows[1].name`; empty for the request as a whole.' }),
    message: z.string(),
  })
  .meta({ description: 'One validation problem, named by its key path.' });

const ApiError = z
  .strictObject({
    error: z.string().meta({ description: 'What went wrong, in one line.' }),
    problems: z.array(Problem).optional().meta({ description: 'For validation failures: the problems per field.' }),
  })
  .meta({ description: 'Every non-2xx reply.' });

// ------------------------------------------------------------------ status

const FlowCounterSnapshot = z
  .strictObject({
    scans: count().meta({ description: 'Scans finished (schedule ticks, catch-up, "run now").' }),
    scanning: z.boolean().meta({ description: 'A scan is running now.' }),
    taken: count().meta({ description: 'Items queued.' }),
    duplicates: count().meta({ description: 'Items offered again and recognised (not queued twice).' }),
    delivered: count(),
    retries: count(),
    dead: count(),
    sourcePasses: count().optional().meta({ description: 'File sources: passes over the source ended (scans, second looks, sweeps, reconciles).' }),
  })
  .meta({ description: "A running flow's counts since the engine started: what a client waits on to know the engine looked and decided." });

const FlowStatus = z
  .strictObject({
    integration: z.string(),
    flow: z.string(),
    enabled: z.boolean(),
    paused: z.boolean(),
    trigger: z.string().meta({ description: 'e.g. `on change` or `schedule "0 6 * * *" (Europe/Berlin)`.' }),
    counts: countsByState.meta({ description: 'Items of the flow per state.' }),
    waitingBytes: count().meta({ description: 'Bytes queued, retrying or in flight.' }),
    lastRunAt: isoOrNull('Last scan'),
    nextRunAt: isoOrNull('Next scheduled scan'),
    lastDeliveryAt: isoOrNull('Last delivery'),
    lastError: z.string().nullable(),
    lastErrorAt: isoOrNull('When lastError happened'),
    destination: z.strictObject({ type: z.string(), health: z.enum(['ok', 'unreachable', 'unknown']), unreachableSince: isoOrNull('Unreachable since') }),
    source: z
      .strictObject({ type: z.string(), intakeBlocked: z.string().nullable(), failingSince: isoOrNull('Scans fail since'), problem: z.string().nullable() })
      .meta({ description: 'failingSince/problem: the scheduled scans report a problem (cleared by a clean scan).' }),
    waitingFor: z.string().nullable().optional().meta({ description: 'Deliveries wait for an OAuth connection that needs consent (items stay queued), e.g. "connection crm needs consent".' }),
    warnings: strings().optional().meta({ description: 'Risks the flow\'s config accepts on purpose (`source.allowInsecure: …`); absent when there are none.' }),
    counters: FlowCounterSnapshot.optional().meta({ description: 'What the running engine did for this flow since it started; absent when no engine runs.' }),
  })
  .meta({ description: 'One flow: state, counts, last and next run, last error, destination health.' });

const AlertChannelStatus = z
  .strictObject({
    rule: count().meta({ description: 'Index of the rule in `alerts:`.' }),
    channel: z.string().meta({ description: '"email to it@site.example", "teams webhook …"' }),
    on: z.array(z.enum(ALERT_CAUSES)),
    flow: z.string().meta({ description: 'The internal flow carrying its messages (its items in `ferry queue list`).' }),
    counts: countsByState,
    lastSentAt: isoOrNull('Last message sent'),
    lastError: z.string().nullable(),
    lastErrorAt: isoOrNull('When lastError happened'),
    health: z.enum(['ok', 'failing', 'unknown']).meta({ description: 'failing: messages wait for retries or failed for good; ok: the last one went out.' }),
  })
  .meta({ description: 'One alert channel of `alerts:`: what waits, what failed, the last error.' });

const ConnectionStatus = z
  .strictObject({
    name: z.string().meta({ description: 'The connection\'s name ("<flow> (inline)" for a flow\'s inline client settings).' }),
    inline: z.boolean(),
    provider: z.string().meta({ description: "The preset's provider, or the token endpoint's host." }),
    grant: z.enum(['authorization_code', 'client_credentials', 'refresh_token']),
    state: z.enum(['connected', 'refresh_failing', 'consent_needed']),
    reason: z.string().nullable().meta({ description: 'Why it is not connected: the provider\'s error, or what to do.' }),
    since: isoOrNull('In this state since'),
    connectedAt: isoOrNull('Consent given'),
    refreshedAt: isoOrNull('Last refresh'),
    accessExpiresAt: isoOrNull('The access token expires'),
    consentExpiresAt: isoOrNull('The refresh token expires (consent needed again), when the provider says'),
    refreshes: count().meta({ description: 'Token refreshes counted since the connection was first used.' }),
    scopes: strings(),
    details: z.record(z.string(), z.string()).meta({ description: 'Plain facts from the provider (instance_url, realmId).' }),
    usedBy: strings().meta({ description: 'Flows whose source or destination uses it.' }),
  })
  .meta({ description: 'An OAuth connection and its health; never a token.' });

const ConnectionView = ConnectionStatus.extend({
  consentable: z.boolean().meta({ description: "True for grant authorization_code: Connect opens the provider's consent page." }),
  redirectUri: z.string().nullable().meta({ description: 'Where the provider sends the browser back (register it at the provider), for consentable connections.' }),
  consent: z
    .strictObject({ id: z.string(), state: z.enum(['pending', 'connected', 'failed']), reason: z.string().nullable(), at: iso('When it started or ended') })
    .nullable()
    .meta({ description: 'The latest consent started through this engine, and how it ended.' }),
}).meta({ description: 'A connection with what a client needs to connect it.' });

const ConnectionsReply = z
  .strictObject({ connections: z.array(ConnectionView), storage: z.string().meta({ description: 'Where tokens are kept, in words.' }) })
  .meta({ description: 'GET /api/connections' });

const ConsentStartReply = z
  .strictObject({ connection: z.string(), consentId: z.string(), authorizeUrl: z.string(), redirectUri: z.string(), expiresAt: iso('The consent expires') })
  .meta({ description: 'POST /api/connections/:name/connect: open authorizeUrl in a browser; follow the consent by consentId.' });

const ConsentReply = z.strictObject({ connection: z.string(), message: z.string() }).meta({ description: 'A consent completed.' });

const DisconnectReply = z
  .strictObject({ connection: z.string(), revoked: z.boolean(), message: z.string() })
  .meta({ description: 'POST /api/connections/:name/disconnect: whether the provider revoked the tokens; they are forgotten either way.' });

const StatusReport = z
  .strictObject({
    generatedAt: iso('When the report was made'),
    running: z.boolean().meta({ description: 'An engine runs on the data dir.' }),
    flows: z.array(FlowStatus),
    totals: countsByState.meta({ description: 'Items of every flow per state.' }),
    alerts: z.array(AlertChannelStatus).optional().meta({ description: 'The alert channels of `alerts:` (their messages are not counted in totals: they are not data).' }),
    connections: z.array(ConnectionStatus).optional().meta({ description: 'OAuth connections and their health.' }),
    configSource: z
      .strictObject({
        url: z.string(),
        version: z.string().nullable().meta({ description: 'Short hash (12 hex digits of SHA-256) of the running central file; null before the first good version.' }),
        appliedAt: isoOrNull('Applied'),
        checkedAt: isoOrNull('The server last answered with the running version or a new one'),
        refused: z
          .strictObject({ version: z.string().nullable(), reason: z.string(), at: iso('Refused') })
          .nullable()
          .meta({ description: 'The last version or fetch refused since the running one was applied or confirmed.' }),
        etag: z.string().nullable().optional().meta({ description: 'Kept for conditional GETs; not sent.' }),
        lastModified: z.string().nullable().optional().meta({ description: 'Kept for conditional GETs; not sent.' }),
      })
      .optional()
      .meta({ description: 'With `configSource`: the applied central version, when, and the last refused version with its reason.' }),
  })
  .meta({ description: 'Status per integration and flow.' });

const StatusReply = StatusReport.extend({
  version: z.string(),
  adminUrl: z.string().meta({ description: 'Where the admin API listens ("" when read from the database alone).' }),
  pid: z.int().meta({ description: 'Process id of the engine (0 when read from the database alone).' }),
  startedAt: z.string().meta({ description: 'When the engine started (ISO 8601 time; "" when read from the database alone).' }),
}).meta({ description: "GET /api/status: the engine's StatusReport plus where the API listens." });

// ------------------------------------------------------------------ the fleet

const FleetFlow = z.strictObject({
  integration: z.string(),
  flow: z.string(),
  ok: z.boolean(),
  reason: z.string().nullable().meta({ description: 'Why the flow is failing (null when it is not).' }),
  waiting: count(),
  dead: count(),
  lastDeliveryAt: isoOrNull('Last delivery'),
});

const FleetAgent = z
  .strictObject({
    agent: z.string(),
    state: z.enum(['ok', 'failing', 'silent']),
    labels: z.record(z.string(), z.string()),
    version: z.string(),
    configVersion: z.string().meta({ description: 'The applied configuration\'s version (as ferry_build_info)' }),
    host: z.string(),
    lastHeardAt: iso('Its latest heartbeat was sent'),
    silentSince: isoOrNull('Three intervals after its latest heartbeat, for a silent agent'),
    intervalSec: z.number(),
    uptimeSec: z.number(),
    flowsOk: count(),
    flowsFailing: count(),
    waiting: count(),
    dead: count(),
    lastDeliveryAt: isoOrNull('Its latest delivery'),
    flows: z.array(FleetFlow),
  })
  .meta({ description: 'One agent as its latest heartbeat shows it.' });

const FleetReport = z
  .strictObject({
    generatedAt: iso('When the report was made'),
    broker: z.string().meta({ description: 'host:port/vhost of the broker, without credentials' }),
    exchange: z.string(),
    agents: z.array(FleetAgent),
    error: z.string().optional().meta({ description: 'Why the broker could not be read (the list is what was read before).' }),
  })
  .meta({ description: 'GET /api/fleet: every agent heard on the fleet broker.' });

// ------------------------------------------------------------------ the config as written

const JsonSchema = z.record(z.string(), z.unknown()).meta({ description: 'A JSON Schema (draft 2020-12) made from the zod schema.' });

const rawEndpoint = z.looseObject({ type: z.string() });
const RawFlow = z.looseObject({
  name: z.string(),
  enabled: z.boolean().optional(),
  source: rawEndpoint,
  destination: rawEndpoint,
  trigger: z.union([z.strictObject({ on: z.literal('change') }), z.looseObject({ schedule: z.string(), timezone: z.string().optional(), catchUp: z.boolean().optional() })]).optional(),
});
const RawIntegration = z.looseObject({ name: z.string(), description: z.string().optional(), flows: z.array(RawFlow) });
const RawConfig = z
  .looseObject({
    dataDir: z.string().optional(),
    logLevel: z.string().optional(),
    admin: z.looseObject({ port: z.int().optional() }).optional(),
    integrations: z.array(RawIntegration).optional(),
  })
  .meta({ description: 'The config file as written: `${env:…}` / `${secret:…}` templates, never their values. Its full schema is ConfigView.schema.' });
const RawNetwork = z
  .looseObject({
    proxy: z.union([z.string(), z.looseObject({ url: z.string().optional(), username: z.string().optional(), password: z.string().optional(), noProxy: strings().optional() })]).optional(),
    tls: z
      .looseObject({ ca: strings().optional(), systemCa: z.boolean().optional(), cert: z.string().optional(), key: z.string().optional(), pfx: z.string().optional(), passphrase: z.string().optional() })
      .optional(),
  })
  .meta({ description: 'The `network` block as written in the config file (templates such as ${secret:…}, never their values).' });

/** Shapes of the config as written: part of replies, and the TypeScript types the dashboard's editors use. */
export const rawSchemas = { RawConfig, RawIntegration, RawFlow, RawNetwork, JsonSchema };

// ------------------------------------------------------------------ config

const ConfigView = z
  .strictObject({
    file: z.string().meta({ description: 'Absolute path of the YAML file the engine runs.' }),
    config: RawConfig,
    schema: JsonSchema.meta({ description: 'JSON Schema of the whole config (from zod), for generated forms.' }),
    connectors: z
      .array(z.strictObject({ type: z.string(), source: JsonSchema.optional(), destination: JsonSchema.optional(), changeEvents: z.boolean() }))
      .meta({ description: "JSON Schemas of each connector's source/destination block (without `type`), by connector type." }),
    managedBy: z
      .strictObject({ url: z.string(), version: z.string().nullable(), reason: z.string() })
      .optional()
      .meta({ description: 'Set when `configSource` manages the integrations: the editors are read-only and say this reason.' }),
  })
  .meta({ description: 'GET /api/config' });

const ConfigSourceCheckReply = z
  .discriminatedUnion('result', [
    z.strictObject({ result: z.literal('applied'), version: z.string() }),
    z.strictObject({ result: z.literal('unchanged'), version: z.string().nullable() }),
    z.strictObject({ result: z.literal('refused'), version: z.string().nullable(), reason: z.string() }),
  ])
  .meta({ description: 'POST /api/config/source/check: what the central configuration check did now.' });

const ValidateReply = z
  .strictObject({
    ok: z.boolean(),
    problems: z.array(Problem),
    warnings: z.array(Problem).optional().meta({ description: 'Risks the config accepts on purpose (e.g. `allowInsecure: true` on a listener open to the network).' }),
  })
  .meta({ description: 'POST /api/config/validate' });

const ApplyReport = z
  .strictObject({
    started: strings(),
    stopped: strings(),
    restarted: strings(),
    restartRequired: strings().meta({ description: 'Settings that only take effect after a restart (dataDir, admin.port).' }),
  })
  .meta({ description: 'What the engine did after a config change: flows stopped, started or restarted with their new settings.' });

const ConfigChangeReply = z.strictObject({ ok: z.literal(true), applied: ApplyReport }).meta({ description: 'PUT/DELETE /api/config/integrations/:integration[/flows/:flow]' });

// ------------------------------------------------------------------ queue

const ItemView = z
  .strictObject({
    id: z.int().min(1),
    flow: z.string(),
    state: itemState,
    name: z.string(),
    size: count(),
    sha256: z.string(),
    idempotencyKey: z.string(),
    sourceKey: z.string().meta({ description: "What the source knows the item by (a file's path and version, a record's key): duplicates are found by it." }),
    group: z.string().nullable().meta({ description: 'The FIFO group (items of one group go out in order), or null.' }),
    attempts: count(),
    nextAttemptAt: isoOrNull('Next attempt of a retrying item'),
    lastError: z.string().nullable(),
    lastStatus: z.int().nullable(),
    lastResponse: z.string().nullable().meta({ description: "The start of the destination's last reply body (what made it retry or go dead), or null." }),
    createdAt: iso('Queued at'),
    updatedAt: iso('Last change'),
    settledAt: isoOrNull('Delivered, dead or discarded at'),
    afterDeliveryPending: z.boolean().meta({ description: 'Delivered, and the source\'s after-delivery step (move or delete the original) has not run yet.' }),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .meta({ description: 'One queued item.' });

const QueueList = z.strictObject({ items: z.array(ItemView), total: count(), limit: z.int().min(1), offset: count() }).meta({ description: 'GET /api/queue' });

const AttemptView = z.strictObject({ at: iso('Attempted at'), outcome: z.string(), error: z.string().nullable(), status: z.int().nullable() }).meta({ description: 'One delivery attempt.' });

const ItemDetail = z
  .strictObject({
    item: ItemView,
    attempts: z.array(AttemptView),
    lastResponse: z.string().nullable().meta({ description: "Start of the destination's last reply (error bodies), if any." }),
    hasBody: z.boolean().meta({ description: 'Whether GET /api/queue/:id/body has bytes to download (discarded items have none).' }),
  })
  .meta({ description: 'GET /api/queue/:id' });

const QueueActionReply = z.strictObject({ count: count().meta({ description: 'Items retried or discarded.' }) }).meta({ description: 'POST /api/queue/retry and /api/queue/discard' });

// ------------------------------------------------------------------ flows

const FlowActionReply = z
  .strictObject({
    flow: z.string(),
    paused: z.boolean(),
    running: z.boolean().optional().meta({ description: 'run: a scan was started (its items show up in the queue and the event stream).' }),
  })
  .meta({ description: 'POST /api/flows/:flow/pause | resume | run' });

const SyncNowReply = z.strictObject({ flows: strings().meta({ description: 'Flows that scan now.' }) }).meta({ description: 'POST /api/sync-now' });

// ------------------------------------------------------------------ check, dry run, schedule

const CheckReply = z
  .strictObject({ ok: z.boolean(), message: z.string(), problems: z.array(Problem).optional() })
  .meta({ description: 'POST /api/check: never an HTTP error for a failed check: `ok: false` with the reason (or the config problems).' });

const DryRunFile = z
  .strictObject({
    relativePath: z.string(),
    size: count(),
    mtime: iso('Last modified'),
    state: z.enum(['complete', 'writing']).meta({ description: 'complete: would be taken now; writing: still changing (or its ready marker is missing).' }),
  })
  .meta({ description: 'A file a source would take.' });

const DryRunReply = z
  .strictObject({
    ok: z.boolean(),
    message: z.string().meta({ description: 'e.g. "12 existing files match; 3 are still being written".' }),
    files: z.array(DryRunFile),
    complete: count(),
    writing: count(),
    truncated: z.boolean().meta({ description: 'Listing stopped at the limit.' }),
    problems: z.array(Problem).optional(),
  })
  .meta({ description: 'POST /api/dry-run' });

const ScheduleReply = z
  .strictObject({
    ok: z.boolean(),
    times: strings().meta({ description: 'ISO times of the next runs (UTC), in order.' }),
    local: strings().meta({ description: 'The same times as wall-clock text in the time zone, e.g. "2026-11-30 08:00:00".' }),
    timezone: z.string(),
    problems: z.array(Problem),
  })
  .meta({ description: 'GET /api/schedule/next' });

// ------------------------------------------------------------------ activity

const ActivityEvent = z
  .strictObject({
    id: z.int().min(1).meta({ description: 'The resumable cursor: pass it back as `since` (or Last-Event-ID).' }),
    at: iso('When it happened'),
    type: z.string().meta({ description: 'delivered | retrying | dead | requeued | discarded | problem | config | flow | …' }),
    flow: z.string().nullable(),
    itemId: z.int().nullable(),
    data: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ description: 'One entry of the activity log (also an event of GET /api/events).' });

const ActivityReply = z
  .strictObject({ events: z.array(ActivityEvent), cursor: count().meta({ description: 'Highest id returned (or the since given): the next `since`.' }) })
  .meta({ description: 'GET /api/activity' });

// ------------------------------------------------------------------ secrets, settings, network

const SecretInfo = z
  .strictObject({ name: z.string(), updatedAt: iso('Last change'), usedBy: strings().meta({ description: 'Flows whose config refers to ${secret:NAME}.' }) })
  .meta({ description: 'A secret: its name and uses, never its value.' });

const SecretsReply = z
  .strictObject({
    secrets: z.array(SecretInfo),
    storage: z.string().meta({ description: 'Where values are kept and what protects the key (e.g. "FERRY_MASTER_KEY" or "key file …").' }),
  })
  .meta({ description: 'GET /api/secrets' });

const SecretChangeReply = z
  .strictObject({ name: z.string(), applied: ApplyReport.optional().meta({ description: 'PUT: flows restarted with the new value.' }) })
  .meta({ description: 'PUT/DELETE /api/secrets/:name' });

const LogLevelName = z.enum(['trace', 'debug', 'info', 'warn', 'error']);

const Settings = z.strictObject({
  logLevel: LogLevelName,
  adminPort: z.int().min(0).max(65535),
  dataDir: z.string(),
  startAtLogin: z.boolean().meta({ description: 'Stored for the desktop shell, which registers the login item.' }),
});

const SettingsReply = Settings.extend({
  configFile: z.string(),
  restartRequired: strings().meta({ description: 'Changed settings that need a restart to apply (adminPort, dataDir).' }),
}).meta({ description: 'GET and PUT /api/settings' });

const NetworkView = z
  .strictObject({
    network: RawNetwork.nullable().meta({ description: 'The block as written; null when the config has none (proxy from the environment, system store on).' }),
    effective: strings().meta({ description: 'What the running setting means: "network.proxy: …", "trust: …".' }),
    applied: ApplyReport.optional().meta({ description: 'Flows restarted by a change (PUT).' }),
  })
  .meta({ description: 'GET /api/network, and the reply of PUT /api/network' });

const NetworkTestReply = z
  .strictObject({
    ok: z.boolean(),
    message: z.string().meta({ description: '"https://x answered HTTP 200 to HEAD", or the one-line reason it failed.' }),
    path: z.string().meta({ description: 'The way taken (or that would be): "via proxy …; TLS by \'…\' (trusted: …)".' }),
    status: z.int().optional(),
    setting: strings().meta({ description: 'The setting tested, as `effective` in NetworkView.' }),
    problems: z.array(Problem).optional(),
  })
  .meta({ description: 'POST /api/network/test: never an HTTP error for a failed test: `ok: false` with the reason (or the settings\' problems).' });

const OpenApiDocument = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()), components: z.record(z.string(), z.unknown()) })
  .meta({ description: 'GET /api/openapi.json: this document.' });

/**
 * Every named reply shape. A route's `reply` is one of these names (or `Name[]` for a list); each is a
 * component of the OpenAPI document under its name.
 */
export const replySchemas = {
  ApiError,
  ConfigSourceCheckReply,
  AlertChannelStatus,
  ConnectionStatus,
  ConnectionView,
  ConnectionsReply,
  ConsentStartReply,
  ConsentReply,
  DisconnectReply,
  Problem,
  StatusReply,
  StatusReport,
  FlowStatus,
  FlowCounterSnapshot,
  ConfigView,
  ValidateReply,
  ApplyReport,
  ConfigChangeReply,
  ItemView,
  QueueList,
  AttemptView,
  ItemDetail,
  QueueActionReply,
  FlowActionReply,
  SyncNowReply,
  CheckReply,
  DryRunFile,
  DryRunReply,
  ScheduleReply,
  ActivityEvent,
  ActivityReply,
  SecretInfo,
  SecretsReply,
  SecretChangeReply,
  SettingsReply,
  NetworkView,
  NetworkTestReply,
  OpenApiDocument,
  FleetReport,
};

/** Shapes that are parts of replies but no component of their own. */
export const partSchemas = { LogLevelName, Settings };

export type ReplyName = keyof typeof replySchemas;
/** What a route replies: one named shape, or a list of it. */
export type ReplyRef = ReplyName | `${ReplyName}[]`;
/** The TypeScript shape of a reply reference. */
export type ReplyOf<R extends ReplyRef> = R extends `${infer N extends ReplyName}[]` ? Array<z.output<(typeof replySchemas)[N]>> : R extends ReplyName ? z.output<(typeof replySchemas)[R]> : never;

/** The zod schema of a route's reply. */
export function replySchema(ref: ReplyRef): z.ZodType {
  return ref.endsWith('[]') ? z.array(replySchemas[ref.slice(0, -2) as ReplyName]) : replySchemas[ref as ReplyName];
}

let jsonCache: Record<string, Record<string, unknown>> | undefined;

/** JSON Schemas of the named replies, referring to each other as `#/components/schemas/<name>`. */
export function replyJsonSchemas(): Record<string, Record<string, unknown>> {
  if (!jsonCache) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries(replySchemas)) registry.add(schema, { id });
    const { schemas } = z.toJSONSchema(registry, { io: 'output', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
    jsonCache = Object.fromEntries(
      Object.entries(schemas).map(([name, s]) => {
        const { $schema: _schema, $id: _id, ...rest } = s as Record<string, unknown>;
        return [name, rest];
      }),
    );
  }
  return jsonCache;
}

// The engine's status types (main/engine/status.ts) are the same shapes as these schemas; this fails to
// compile when either side gains, loses or changes a field the other lacks.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const statusShapesAgree: [
  Same<z.output<typeof FlowCounterSnapshot>, EngineFlowCounters>,
  Same<z.output<typeof FlowStatus>, EngineFlowStatus>,
  Same<z.output<typeof StatusReport>, EngineStatusReport>,
  Same<z.output<typeof AlertChannelStatus>, EngineAlertChannelStatus>,
  Same<z.output<typeof ConnectionStatus>, EngineConnectionStatus>,
] = [true, true, true, true, true];
void statusShapesAgree;
