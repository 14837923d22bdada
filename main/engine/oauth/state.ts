// Each OAuth connection's health in the database (table connection_state), so `ferry status`, the dashboard,
// the tray and metrics see what the running engine sees. Never a token: only states, times and plain facts.
import type { Db } from '../store/db.ts';
import type { FerryConfig, FlowConfig } from '../config/schema.ts';
import { connectionKeyOf, inlineConnection, oauthUses, resolveConnection } from './config.ts';

export type ConnectionHealth = 'connected' | 'refresh_failing' | 'consent_needed';

export interface ConnectionStateWrite {
  state: ConnectionHealth;
  reason: string | null;
  since: number;
  connectedAt?: number;
  refreshedAt?: number;
  accessExpiresAt?: number;
  refreshExpiresAt?: number;
  /** Refreshes since the last write (added to the stored count). */
  refreshes: number;
  details?: Record<string, string>;
}

export function writeConnectionState(db: Db, key: string, s: ConnectionStateWrite, now = Date.now()): void {
  db.prepare(
    `INSERT INTO connection_state (key, state, reason, since, connected_at, refreshed_at, access_expires_at, refresh_expires_at, refreshes, details, updated_at)
     VALUES (@key, @state, @reason, @since, @connectedAt, @refreshedAt, @accessExpiresAt, @refreshExpiresAt, @refreshes, @details, @now)
     ON CONFLICT (key) DO UPDATE SET state = excluded.state, reason = excluded.reason, since = excluded.since,
       connected_at = excluded.connected_at, refreshed_at = excluded.refreshed_at, access_expires_at = excluded.access_expires_at,
       refresh_expires_at = excluded.refresh_expires_at, refreshes = refreshes + excluded.refreshes, details = excluded.details,
       updated_at = excluded.updated_at`,
  ).run({
    key,
    state: s.state,
    reason: s.reason,
    since: s.since,
    connectedAt: s.connectedAt ?? null,
    refreshedAt: s.refreshedAt ?? null,
    accessExpiresAt: s.accessExpiresAt ?? null,
    refreshExpiresAt: s.refreshExpiresAt ?? null,
    refreshes: s.refreshes,
    details: s.details && Object.keys(s.details).length ? JSON.stringify(s.details) : null,
    now,
  });
}

interface Row {
  key: string;
  state: ConnectionHealth;
  reason: string | null;
  since: number;
  connected_at: number | null;
  refreshed_at: number | null;
  access_expires_at: number | null;
  refresh_expires_at: number | null;
  refreshes: number;
  details: string | null;
}

/** One connection as status, the dashboard and `ferry status` show it. */
export interface ConnectionStatus {
  /** The connection's name ("<flow> (inline)" for a flow's inline client settings). */
  name: string;
  inline: boolean;
  /** The preset's provider, or the token endpoint's host. */
  provider: string;
  grant: 'authorization_code' | 'client_credentials' | 'refresh_token';
  state: ConnectionHealth;
  /** Why it is not connected: the provider's error, or what to do. */
  reason: string | null;
  since: string | null;
  connectedAt: string | null;
  refreshedAt: string | null;
  accessExpiresAt: string | null;
  /** When the refresh token itself expires (consent needed again), when the provider says. */
  consentExpiresAt: string | null;
  /** Token refreshes counted since the connection was first used (a counter metrics can rate). */
  refreshes: number;
  scopes: string[];
  /** Plain facts from the provider (instance_url, realmId). */
  details: Record<string, string>;
  /** Flows whose source or destination uses it. */
  usedBy: string[];
}

const iso = (t: number | null | undefined) => (t ? new Date(t).toISOString() : null);

/** Every connection of a config (named, and flows' inline OAuth settings) with its health from the database. */
export function readConnections(config: FerryConfig, db: Db): ConnectionStatus[] {
  const rows = new Map(db.prepare<[], Row>('SELECT * FROM connection_state').all().map((r) => [r.key, r]));
  const out = new Map<string, ConnectionStatus>();
  const entry = (key: string, r: ReturnType<typeof resolveConnection>): ConnectionStatus => {
    const row = rows.get(key);
    const neverConnected = r.grant === 'authorization_code';
    return {
      name: r.title,
      inline: r.inline,
      provider: r.provider,
      grant: r.grant,
      state: row?.state ?? (neverConnected ? 'consent_needed' : 'connected'),
      reason: row ? row.reason : neverConnected ? `not connected yet: give consent in the dashboard (Connections, Connect) or with: ferry connect ${r.title}` : null,
      since: iso(row?.since),
      connectedAt: iso(row?.connected_at),
      refreshedAt: iso(row?.refreshed_at),
      accessExpiresAt: iso(row?.access_expires_at),
      consentExpiresAt: iso(row?.refresh_expires_at),
      refreshes: row?.refreshes ?? 0,
      scopes: r.scopes,
      details: row?.details ? (JSON.parse(row.details) as Record<string, string>) : {},
      usedBy: [],
    };
  };
  for (const [name, c] of Object.entries(config.connections ?? {})) out.set(name, entry(name, resolveConnection(name, c)));
  for (const integration of config.integrations) {
    for (const flow of integration.flows) {
      for (const use of oauthUses(flow)) {
        const key = connectionKeyOf(use.auth, flow.name);
        if (!out.has(key) && !('connection' in use.auth)) out.set(key, entry(key, inlineConnection(use.auth, flow.name)));
        const c = out.get(key);
        if (c && !c.usedBy.includes(flow.name)) c.usedBy.push(flow.name);
      }
    }
  }
  return [...out.values()];
}

/** Why a flow's deliveries wait for a connection (its destination's needs consent), or null. */
export function waitingFor(flow: FlowConfig, connections: ConnectionStatus[]): string | null {
  for (const use of oauthUses(flow)) {
    if (use.role !== 'destination') continue;
    const name = 'connection' in use.auth ? use.auth.connection : `${flow.name} (inline)`;
    const c = connections.find((x) => x.name === name || (x.inline && x.usedBy.includes(flow.name) && !('connection' in use.auth)));
    if (c?.state === 'consent_needed') return `connection ${c.name} needs consent`;
  }
  return null;
}
