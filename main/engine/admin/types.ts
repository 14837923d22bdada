// The admin API's request and reply shapes. The renderer imports these with `import type` only
// (renderer/api/client.ts); nothing here runs, so the file stays free of Node-only code.
import type { StatusReport, FlowStatus } from '../status.ts';
import type { ItemState } from '../store/queue.ts';

export type { StatusReport, FlowStatus, ItemState };
export type { FleetReport, FleetAgent, FleetFlow, AgentState } from '../fleet/report.ts';

/** One validation problem: `path` is a key path like `source.path` or `integrations[0].flows[1].name`. */
export interface Problem {
  path: string;
  message: string;
}

/** Every non-2xx reply: a one-line error and, for validation failures, the problems per field. */
export interface ApiError {
  error: string;
  problems?: Problem[];
}

// ------------------------------------------------------------------ config

/** GET /api/config */
export interface ConfigView {
  /** Absolute path of the YAML file the engine runs. */
  file: string;
  /** The file as written: `${env:…}` / `${secret:…}` templates, never their values. */
  config: RawConfig;
  /** JSON Schema of the whole config (from zod), for generated forms. */
  schema: JsonSchema;
  /** JSON Schemas of each connector's source/destination block (without `type`), by connector type. */
  connectors: Array<{ type: string; source?: JsonSchema; destination?: JsonSchema; changeEvents: boolean }>;
}

export type JsonSchema = Record<string, unknown>;

export interface RawConfig {
  dataDir?: string;
  logLevel?: string;
  admin?: { port?: number };
  integrations?: RawIntegration[];
  [key: string]: unknown;
}
export interface RawIntegration {
  name: string;
  description?: string;
  flows: RawFlow[];
  [key: string]: unknown;
}
export interface RawFlow {
  name: string;
  enabled?: boolean;
  source: { type: string; [key: string]: unknown };
  destination: { type: string; [key: string]: unknown };
  trigger?: { on: 'change' } | { schedule: string; timezone?: string; catchUp?: boolean };
  [key: string]: unknown;
}

/**
 * POST /api/config/validate: one of
 * - `{ config }`: a whole config; problem paths start at the root (`integrations[0].flows[0].source.path`);
 * - `{ integration, flow }`: one flow (as it would be saved into that integration); paths start at the flow (`source.path`);
 * - `{ integration: {…} }`: one integration; paths start at the integration (`flows[0].name`).
 */
export type ValidateRequest =
  | { config: RawConfig }
  | { integration: string; flow: Partial<RawFlow> }
  | { integration: Partial<RawIntegration> };

export interface ValidateReply {
  ok: boolean;
  problems: Problem[];
  /** Risks the config accepts on purpose (e.g. `allowInsecure: true` on a listener open to the network). */
  warnings?: Problem[];
}

/** What the engine did after a config change: flows stopped, started or restarted with their new settings. */
export interface ApplyReport {
  started: string[];
  stopped: string[];
  restarted: string[];
  /** Settings that only take effect after a restart (dataDir, admin.port). */
  restartRequired: string[];
}

/** PUT/DELETE /api/config/integrations/:integration[/flows/:flow] */
export interface ConfigChangeReply {
  ok: true;
  applied: ApplyReport;
}

// ------------------------------------------------------------------ queue

export interface QueueQuery {
  flow?: string;
  state?: ItemState;
  limit?: number;
  offset?: number;
}

export interface ItemView {
  id: number;
  flow: string;
  state: ItemState;
  name: string;
  size: number;
  sha256: string;
  idempotencyKey: string;
  /** What the source knows the item by (a file's path and version, a record's key): duplicates are found by it. */
  sourceKey: string;
  /** The FIFO group (items of one group go out in order), or null. */
  group: string | null;
  attempts: number;
  /** Next attempt (retrying) as ISO time, else null. */
  nextAttemptAt: string | null;
  lastError: string | null;
  lastStatus: number | null;
  /** The start of the destination's last reply body (what made it retry or go dead), or null. */
  lastResponse: string | null;
  createdAt: string;
  updatedAt: string;
  settledAt: string | null;
  attributes: Record<string, string | number | boolean | null>;
}

/** GET /api/queue */
export interface QueueList {
  items: ItemView[];
  total: number;
  limit: number;
  offset: number;
}

export interface AttemptView {
  at: string;
  outcome: string;
  error: string | null;
  status: number | null;
}

/** GET /api/queue/:id */
export interface ItemDetail {
  item: ItemView;
  attempts: AttemptView[];
  /** Start of the destination's last reply (error bodies), if any. */
  lastResponse: string | null;
  /** Whether GET /api/queue/:id/body has bytes to download (discarded items have none). */
  hasBody: boolean;
}

/** POST /api/queue/retry and /api/queue/discard: at least one of the fields. */
export interface QueueActionRequest {
  ids?: number[];
  flow?: string;
  state?: ItemState;
}
export interface QueueActionReply {
  count: number;
}

// ------------------------------------------------------------------ flows

/** POST /api/flows/:flow/pause | resume | run */
export interface FlowActionReply {
  flow: string;
  paused: boolean;
  /** run: a scan was started (its items show up in the queue and the event stream). */
  running?: boolean;
}

// ------------------------------------------------------------------ check, dry run, schedule

/** POST /api/check: a configured flow's endpoint, or an unsaved source/destination block (templates allowed). */
export type CheckRequest =
  | { flow: string; role: 'source' | 'destination' }
  | { source: Record<string, unknown> }
  | { destination: Record<string, unknown> };

/** Never an HTTP error for a failed check: `ok: false` with the reason (or the config problems). */
export interface CheckReply {
  ok: boolean;
  message: string;
  problems?: Problem[];
}

/** POST /api/dry-run: `{ source }` — an unsaved source block (templates allowed). */
export interface DryRunRequest {
  source: Record<string, unknown>;
}

export interface DryRunFile {
  relativePath: string;
  size: number;
  mtime: string;
  /** complete: would be taken now; writing: still changing (or its ready marker is missing). */
  state: 'complete' | 'writing';
}

export interface DryRunReply {
  ok: boolean;
  /** e.g. "12 existing files match; 3 are still being written". */
  message: string;
  files: DryRunFile[];
  complete: number;
  writing: number;
  /** Listing stopped at this many files. */
  truncated: boolean;
  problems?: Problem[];
}

/** GET /api/schedule/next?cron=&timezone=&count= */
export interface ScheduleReply {
  ok: boolean;
  /** ISO times of the next runs (UTC), in order. */
  times: string[];
  /** The same times as wall-clock text in the schedule's time zone, e.g. "2026-11-30 08:00". */
  local: string[];
  timezone: string;
  problems: Problem[];
}

// ------------------------------------------------------------------ activity and events

export interface ActivityEvent {
  /** The resumable cursor: pass it back as `since` (or Last-Event-ID). */
  id: number;
  at: string;
  /** delivered | retrying | dead | requeued | discarded | problem | config | flow | … */
  type: string;
  flow: string | null;
  itemId: number | null;
  data: Record<string, unknown> | null;
}

/** GET /api/activity?since=&limit= (without since: the latest `limit` events) */
export interface ActivityReply {
  events: ActivityEvent[];
  /** Highest id returned (or the since given): the next `since`. */
  cursor: number;
}

// ------------------------------------------------------------------ secrets and settings

export interface SecretInfo {
  name: string;
  updatedAt: string;
  /** Flows whose config refers to ${secret:NAME}. */
  usedBy: string[];
}
export interface SecretsReply {
  secrets: SecretInfo[];
  /** Where values are kept and what protects the key (e.g. "FERRY_MASTER_KEY" or "key file …"). */
  storage: string;
}
/** PUT /api/secrets/:name */
export interface SecretPutRequest {
  value: string;
}

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface Settings {
  logLevel: LogLevelName;
  adminPort: number;
  dataDir: string;
  /** Stored for the desktop shell, which registers the login item. */
  startAtLogin: boolean;
}
/** GET /api/settings */
export interface SettingsReply extends Settings {
  configFile: string;
  /** Changed settings that need a restart to apply (admin port, data folder). */
  restartRequired: string[];
}
/** PUT /api/settings: any subset. */
export type SettingsUpdate = Partial<Settings>;

// ------------------------------------------------------------------ network

/** The `network` block as written in the config file (templates such as ${secret:…}, never their values). */
export interface RawNetwork {
  /** A proxy URL, "env", "system" or "none", or the object form. */
  proxy?: string | { url?: string; username?: string; password?: string; noProxy?: string[] };
  tls?: { ca?: string[]; systemCa?: boolean; cert?: string; key?: string; pfx?: string; passphrase?: string };
}
/** GET /api/network, and the reply of PUT /api/network */
export interface NetworkView {
  /** The block as written; null when the config has none (proxy from the environment, system store on). */
  network: RawNetwork | null;
  /** What the running setting means: "network.proxy: …", "trust: …". */
  effective: string[];
  /** Flows restarted by a change (PUT). */
  applied?: ApplyReport;
}
/**
 * PUT /api/network: the new block, and values for the ${secret:NAME} it refers to (a proxy password typed in
 * the form): they are stored only when the whole change is valid.
 */
export interface NetworkUpdate {
  network: RawNetwork;
  secrets?: Record<string, string>;
}
/** POST /api/network/test: a URL, through the saved setting or through `network` (unsaved form values). */
export interface NetworkTestRequest {
  url: string;
  network?: RawNetwork;
}
/** Never an HTTP error for a failed test: `ok: false` with the reason (or the settings' problems). */
export interface NetworkTestReply {
  ok: boolean;
  /** "https://x answered HTTP 200 to HEAD", or the one-line reason it failed. */
  message: string;
  /** The way taken (or that would be): "via proxy …; TLS by '…' (trusted: …)". */
  path: string;
  status?: number;
  /** The setting tested, as `effective` in NetworkView. */
  setting: string[];
  problems?: Problem[];
}

// ------------------------------------------------------------------ status

/** GET /api/status: the engine's StatusReport plus where the API listens. */
export interface StatusReply extends StatusReport {
  version: string;
  adminUrl: string;
  pid: number;
  startedAt: string;
}

// ------------------------------------------------------------------ route description

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export type * from './connection-types.ts';
