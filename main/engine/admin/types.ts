// The admin API's request and reply shapes. The renderer imports these with `import type` only
// (renderer/api/client.ts); nothing here runs, so the file stays free of Node-only code.
// Replies are `z.output` of the zod schemas in ./reply-schemas.ts (the same schemas describe them in
// /api/openapi.json and check them in tests), so a reply type and its documentation cannot drift apart.
import type { z } from 'zod';
import type { partSchemas, rawSchemas, replySchemas } from './reply-schemas.ts';
import type { ItemState } from '../store/queue.ts';
import type { ConfigSourceStatus } from '../config-source/store.ts';

export type { ItemState };

type Replies = typeof replySchemas;
type Raw = typeof rawSchemas;

export type StatusReport = z.output<Replies['StatusReport']>;
export type FlowStatus = z.output<Replies['FlowStatus']>;
export type FlowCounterSnapshot = z.output<Replies['FlowCounterSnapshot']>;
export type FleetReport = z.output<Replies['FleetReport']>;
export type FleetAgent = FleetReport['agents'][number];
export type FleetFlow = FleetAgent['flows'][number];
export type AgentState = FleetAgent['state'];

/** One validation problem: `path` is a key path like `source.path` or `integrations[0].flows[1].name`. */
export type Problem = z.output<Replies['Problem']>;

/** Every non-2xx reply: a one-line error and, for validation failures, the problems per field. */
export type ApiError = z.output<Replies['ApiError']>;

// ------------------------------------------------------------------ config

/** GET /api/config: the file as written, the JSON Schema of the whole config and of each connector's blocks. */
export type ConfigView = z.output<Replies['ConfigView']>;
/** Where a centrally managed configuration comes from, and why it cannot be edited locally. */
export type ManagedBy = NonNullable<ConfigView['managedBy']>;

export type JsonSchema = z.output<Raw['JsonSchema']>;

/** The config file as written: `${env:…}` / `${secret:…}` templates, never their values. */
export type RawConfig = z.output<Raw['RawConfig']>;
export type RawIntegration = z.output<Raw['RawIntegration']>;
export type RawFlow = z.output<Raw['RawFlow']>;

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

export type ValidateReply = z.output<Replies['ValidateReply']>;

/** What the engine did after a config change: flows stopped, started or restarted with their new settings. */
export type ApplyReport = z.output<Replies['ApplyReport']>;

/** PUT/DELETE /api/config/integrations/:integration[/flows/:flow] */
export type ConfigChangeReply = z.output<Replies['ConfigChangeReply']>;

// ------------------------------------------------------------------ queue

export interface QueueQuery {
  flow?: string;
  state?: ItemState;
  limit?: number;
  offset?: number;
}

export type ItemView = z.output<Replies['ItemView']>;

/** GET /api/queue */
export type QueueList = z.output<Replies['QueueList']>;

export type AttemptView = z.output<Replies['AttemptView']>;

/** GET /api/queue/:id */
export type ItemDetail = z.output<Replies['ItemDetail']>;

/** POST /api/queue/retry and /api/queue/discard: at least one of the fields. */
export interface QueueActionRequest {
  ids?: number[];
  flow?: string;
  state?: ItemState;
}
export type QueueActionReply = z.output<Replies['QueueActionReply']>;

// ------------------------------------------------------------------ flows

/** POST /api/flows/:flow/pause | resume | run (pause-all and resume-all: a list of them) */
export type FlowActionReply = z.output<Replies['FlowActionReply']>;

/** POST /api/sync-now: the flows that scan now. */
export type SyncNowReply = z.output<Replies['SyncNowReply']>;

// ------------------------------------------------------------------ check, dry run, schedule

/** POST /api/check: a configured flow's endpoint, or an unsaved source/destination block (templates allowed). */
export type CheckRequest =
  | { flow: string; role: 'source' | 'destination' }
  | { source: Record<string, unknown> }
  | { destination: Record<string, unknown> };

/** Never an HTTP error for a failed check: `ok: false` with the reason (or the config problems). */
export type CheckReply = z.output<Replies['CheckReply']>;

/** POST /api/dry-run: `{ source }` — an unsaved source block (templates allowed). */
export interface DryRunRequest {
  source: Record<string, unknown>;
}

export type DryRunFile = z.output<Replies['DryRunFile']>;

export type DryRunReply = z.output<Replies['DryRunReply']>;

/** GET /api/schedule/next?cron=&timezone=&count= */
export type ScheduleReply = z.output<Replies['ScheduleReply']>;

// ------------------------------------------------------------------ activity and events

export type ActivityEvent = z.output<Replies['ActivityEvent']>;

/** GET /api/activity?since=&limit= (without since: the latest `limit` events) */
export type ActivityReply = z.output<Replies['ActivityReply']>;

// ------------------------------------------------------------------ secrets and settings

export type SecretInfo = z.output<Replies['SecretInfo']>;
export type SecretsReply = z.output<Replies['SecretsReply']>;
/** PUT and DELETE /api/secrets/:name */
export type SecretChangeReply = z.output<Replies['SecretChangeReply']>;
/** PUT /api/secrets/:name */
export interface SecretPutRequest {
  value: string;
}

export type LogLevelName = z.output<(typeof partSchemas)['LogLevelName']>;

export type Settings = z.output<(typeof partSchemas)['Settings']>;
/** GET /api/settings */
export type SettingsReply = z.output<Replies['SettingsReply']>;
/** PUT /api/settings: any subset. */
export type SettingsUpdate = Partial<Settings>;

// ------------------------------------------------------------------ network

/** The `network` block as written in the config file (templates such as ${secret:…}, never their values). */
export type RawNetwork = z.output<Raw['RawNetwork']>;
/** GET /api/network, and the reply of PUT /api/network */
export type NetworkView = z.output<Replies['NetworkView']>;
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
export type NetworkTestReply = z.output<Replies['NetworkTestReply']>;

// ------------------------------------------------------------------ status

/** GET /api/status: the engine's StatusReport plus where the API listens. */
export type StatusReply = z.output<Replies['StatusReply']>;

// ------------------------------------------------------------------ route description

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export type * from './connection-types.ts';
/** POST /api/config/source/check */
export type ConfigSourceCheckReply = z.output<Replies['ConfigSourceCheckReply']>;
export type { ConfigSourceStatus } from '../config-source/store.ts';
