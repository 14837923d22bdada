// Every operation a UI needs of Ferry, in one interface. The dashboard reaches it through the admin HTTP API
// (a thin mapping of it, main/engine/admin/routes.ts), the tray calls it in-process (EngineApi), the CLI calls
// it over HTTP when an engine runs on the data dir (HttpApi) and on the database when none does (StoreApi).
// Shapes are the admin API's types (main/engine/admin/types.ts); a refused operation throws FerryApiError.
import type { Readable } from 'node:stream';
import type {
  ActivityEvent,
  ActivityReply,
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
  QueueActionReply,
  QueueActionRequest,
  QueueList,
  QueueQuery,
  RawFlow,
  RawIntegration,
  ScheduleReply,
  SecretInfo,
  SecretsReply,
  SettingsReply,
  SettingsUpdate,
  StatusReply,
  ValidateReply,
  ValidateRequest,
  ApplyReport,
  FleetReport,
} from '../admin/types.ts';

/** An item's body, for a download. */
export interface ItemBody {
  name: string;
  size: number;
  open(): Readable;
}

/** A problem the tray lists: a dead item, or a flow's current trouble. */
export interface RecentDeadItem {
  flow: string;
  itemId: number;
  name: string;
  message: string;
}

export interface FerryApi {
  // ---- status
  status(): Promise<StatusReply>;
  /** Prometheus metrics in the text format (see docs/fleet.md). */
  metrics(): Promise<string>;
  /** With `fleet.view`: every agent heard on the fleet broker, judged ok, failing or silent. */
  fleet(): Promise<FleetReport>;

  // ---- queue
  listQueue(query: QueueQuery): Promise<QueueList>;
  showItem(id: number): Promise<ItemDetail>;
  itemBody(id: number): Promise<ItemBody>;
  retry(request: QueueActionRequest): Promise<QueueActionReply>;
  discard(request: QueueActionRequest): Promise<QueueActionReply>;
  /** The newest dead items (the tray's "last problems"). */
  recentDead(limit?: number): Promise<RecentDeadItem[]>;

  // ---- flows: pause and resume one flow, or every flow when none is named; run a flow's scan now
  pause(flow?: string): Promise<FlowActionReply[]>;
  resume(flow?: string): Promise<FlowActionReply[]>;
  runNow(flow: string): Promise<FlowActionReply>;
  /** Every enabled, unpaused flow scans now and what waits for a retry goes out (the tray's "Sync now"). */
  syncNow(): Promise<{ flows: string[] }>;

  // ---- config
  getConfig(): Promise<ConfigView>;
  validate(request: ValidateRequest): Promise<ValidateReply>;
  putIntegration(name: string, integration: unknown): Promise<ConfigChangeReply>;
  deleteIntegration(name: string): Promise<ConfigChangeReply>;
  putFlow(integration: string, flow: string, body: unknown): Promise<ConfigChangeReply>;
  deleteFlow(integration: string, flow: string): Promise<ConfigChangeReply>;
  /** With `configSource`: fetch the central configuration now (applied when it verifies and validates). */
  checkConfigSource(): Promise<ConfigSourceCheckReply>;

  // ---- connection check, dry run, schedule preview
  check(request: CheckRequest): Promise<CheckReply>;
  dryRun(request: DryRunRequest): Promise<DryRunReply>;
  nextRuns(cron: string, timezone?: string, count?: number): Promise<ScheduleReply>;

  // ---- activity and the event stream
  activity(query: { since?: number; limit?: number }): Promise<ActivityReply>;
  /**
   * Calls `listener` with every event after `since` (default: from now on), in order, until the returned
   * function is called. `onEnd` runs when the stream ends from the engine's side (it stopped).
   */
  subscribe(since: number | undefined, listener: (event: ActivityEvent) => void, onEnd?: () => void): () => void;

  // ---- secrets (names and uses; values go in, never out)
  listSecrets(): Promise<SecretsReply>;
  showSecret(name: string): Promise<SecretInfo>;
  putSecret(name: string, value: string): Promise<{ name: string; applied?: ApplyReport }>;
  deleteSecret(name: string): Promise<{ name: string }>;

  // ---- OAuth connections: health, consent (started here, completed by the provider's redirect or a pasted answer)
  listConnections(): Promise<ConnectionsReply>;
  showConnection(name: string): Promise<ConnectionView>;
  startConsent(name: string): Promise<ConsentStartReply>;
  pasteConsent(name: string, input: string): Promise<ConsentReply>;
  disconnect(name: string): Promise<DisconnectReply>;

  // ---- settings and network
  getSettings(): Promise<SettingsReply>;
  putSettings(update: SettingsUpdate): Promise<SettingsReply>;
  getNetwork(): Promise<NetworkView>;
  putNetwork(update: NetworkUpdate): Promise<NetworkView>;
  testNetwork(request: NetworkTestRequest): Promise<NetworkTestReply>;
}

export type { RawFlow, RawIntegration };
import type { ConnectionsReply, ConnectionView, ConsentReply, ConsentStartReply, DisconnectReply } from '../admin/connection-types.ts';
