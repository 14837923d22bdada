// The `connections:` of a config: named OAuth 2.0 accounts flows refer to with
// `auth: { type: oauth2, connection: NAME }`, their schema, how a preset and the admin's keys combine into the
// endpoints and parameters Ferry uses, and where flows refer to them.
import crypto from 'node:crypto';
import { z } from 'zod';
import { httpUrl } from '../../../connectors/http-common/schema.ts';
import type { OAuthClientConfig } from '../../../connectors/contract.ts';
import { GENERIC_NO_REFRESH_HINT, PRESET_NAMES, PRESETS, type PresetName, type ProviderPreset } from './presets.ts';

export const CALLBACK_PATH = '/oauth/callback';

const scopeList = z
  .union([z.array(z.string().min(1)), z.string()])
  .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/).filter(Boolean)))
  .meta({ description: 'Scopes asked for (a list, or one space-separated string); a preset adds the ones its refresh token needs.' });

export const connectionSchema = z
  .strictObject({
    type: z.literal('oauth2').meta({ description: 'An OAuth 2.0 account (the only connection type so far).' }),
    preset: z.enum(PRESET_NAMES).optional().meta({ description: `Fills the endpoints and the provider's quirks: ${PRESET_NAMES.join(', ')}. Keys given here win.` }),
    grant: z.enum(['authorization_code', 'client_credentials', 'refresh_token']).default('authorization_code').meta({
      description: "authorization_code: an admin gives consent (dashboard's Connect, or `ferry connect NAME`); client_credentials: the app's own account; refresh_token: a refresh token pasted into refreshToken.",
    }),
    authorizeUrl: httpUrl.optional().meta({ description: "The provider's authorization endpoint (consent page)." }),
    tokenUrl: httpUrl.optional().meta({ description: "The provider's token endpoint." }),
    revokeUrl: httpUrl.optional().meta({ description: 'RFC 7009 revocation endpoint: Disconnect revokes the tokens there.' }),
    clientId: z.string().min(1).meta({ description: "The app's client id at the provider." }),
    clientSecret: z.string().min(1).optional().meta({ description: 'The client secret (leave out for a public client: PKCE alone). Use ${secret:NAME}.' }),
    clientAuth: z.enum(['basic', 'body']).optional().meta({ description: 'Client credentials as HTTP Basic or in the form body; default: the preset\'s, else basic.' }),
    scopes: scopeList.optional(),
    authorizeParams: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra query parameters of the consent request, e.g. { prompt: consent }.' }),
    tokenParams: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra form fields of every token request, e.g. { audience: … } or { resource: … }.' }),
    refreshToken: z.string().min(1).optional().meta({ description: 'For grant: refresh_token: the first refresh token (rotated ones are kept encrypted in the data dir). Use ${secret:NAME}.' }),
    tenant: z.string().min(1).optional().meta({ description: 'preset microsoft: the directory (tenant id or domain, organizations, consumers); default common.' }),
    domain: z.string().min(1).optional().meta({ description: 'preset salesforce: login.salesforce.com (default), test.salesforce.com (sandboxes) or your My Domain host.' }),
    redirectHost: z.enum(['127.0.0.1', 'localhost']).default('127.0.0.1').meta({
      description: 'Host of the loopback redirect URI http://<host>:<admin port>/oauth/callback registered at the provider (some only accept localhost).',
    }),
    accessTokenLifetimeSec: z.int().min(1).optional().meta({ description: 'Lifetime assumed when the token answer states none (default: the preset\'s, else 3600).' }),
  })
  .superRefine((c, ctx) => {
    const preset: ProviderPreset | undefined = c.preset ? PRESETS[c.preset] : undefined;
    if (c.grant === 'authorization_code' && !c.authorizeUrl && !preset) ctx.addIssue({ code: 'custom', path: ['authorizeUrl'], message: 'required for grant authorization_code (or a preset)' });
    if (!c.tokenUrl && !preset) ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: 'required (or a preset)' });
    if (c.grant === 'refresh_token' && !c.refreshToken) ctx.addIssue({ code: 'custom', path: ['refreshToken'], message: 'required for grant refresh_token' });
    if (c.grant !== 'refresh_token' && c.refreshToken) ctx.addIssue({ code: 'custom', path: ['refreshToken'], message: `only for grant refresh_token (grant ${c.grant} gets its refresh token from ${c.grant === 'authorization_code' ? 'the consent' : 'nowhere'})` });
    if (c.grant === 'client_credentials' && !c.clientSecret) ctx.addIssue({ code: 'custom', path: ['clientSecret'], message: 'required for grant client_credentials' });
    for (const key of ['tenant', 'domain'] as const) {
      if (c[key] !== undefined && !(preset as { options?: Record<string, unknown> } | undefined)?.options?.[key]) {
        ctx.addIssue({ code: 'custom', path: [key], message: `only with ${key === 'tenant' ? 'preset: microsoft' : 'preset: salesforce'}` });
      }
    }
  });

export type ConnectionConfig = z.output<typeof connectionSchema>;

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The `connections:` map: names as flow names are (they name files and appear in commands). */
export const connectionsSchema = z
  .record(z.string(), connectionSchema)
  .superRefine((map, ctx) => {
    for (const name of Object.keys(map)) {
      if (!NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `expected a connection name of letters, digits, "_", "." or "-" (at most 64, starting with a letter or digit), got ${JSON.stringify(name)}` });
    }
  })
  .default({});

/** Everything Ferry uses of a connection: the preset and the admin's keys combined. */
export interface ResolvedConnection {
  /** The connection's name, or `inline-<hash>` for a flow's inline client settings. */
  key: string;
  /** What status shows: the name, or "<flow> (inline)". */
  title: string;
  inline: boolean;
  grant: 'authorization_code' | 'client_credentials' | 'refresh_token';
  provider: string;
  authorizeUrl?: string;
  tokenUrl: string;
  revokeUrl?: string;
  revokeStyle: 'rfc7009' | 'json';
  clientId: string;
  clientSecret?: string;
  clientAuth: 'basic' | 'body';
  scopes: string[];
  authorizeParams: Record<string, string>;
  tokenParams: Record<string, string>;
  refreshToken?: string;
  redirectHost: '127.0.0.1' | 'localhost';
  accessTokenLifetimeSec?: number;
  keepFromToken: string[];
  keepFromCallback: string[];
  noRefreshTokenHint: string;
  revokeHint?: string;
  /** Tokens belong to one client at one provider: a stored token of another is not used. */
  clientFingerprint: string;
}

const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

export function clientFingerprint(tokenUrl: string, clientId: string): string {
  return sha(`${tokenUrl}\n${clientId}`).slice(0, 32);
}

function fill(template: string, c: ConnectionConfig, preset: ProviderPreset): string {
  return template.replace(/\{(tenant|domain)\}/g, (_m, k: 'tenant' | 'domain') => encodeURIComponent(c[k] ?? preset.options?.[k] ?? ''));
}

export function resolveConnection(name: string, c: ConnectionConfig): ResolvedConnection {
  const preset: ProviderPreset | undefined = c.preset ? PRESETS[c.preset as PresetName] : undefined;
  const tokenUrl = c.tokenUrl ?? fill(preset!.tokenUrl, c, preset!);
  const scopes = [...new Set([...(c.scopes ?? []), ...(c.grant === 'authorization_code' ? (preset?.requiredScopes ?? []) : [])])];
  return {
    key: name,
    title: name,
    inline: false,
    grant: c.grant,
    provider: preset?.title ?? new URL(tokenUrl).host,
    authorizeUrl: c.authorizeUrl ?? (preset ? fill(preset.authorizeUrl, c, preset) : undefined),
    tokenUrl,
    revokeUrl: c.revokeUrl ?? (preset?.revokeUrl ? fill(preset.revokeUrl, c, preset) : undefined),
    revokeStyle: (c.revokeUrl ? undefined : preset?.revokeStyle) ?? 'rfc7009',
    clientId: c.clientId,
    clientSecret: c.clientSecret,
    clientAuth: c.clientAuth ?? preset?.clientAuth ?? 'basic',
    scopes,
    authorizeParams: { ...(preset?.authorizeParams ?? {}), ...c.authorizeParams },
    tokenParams: c.tokenParams,
    refreshToken: c.refreshToken,
    redirectHost: c.redirectHost,
    accessTokenLifetimeSec: c.accessTokenLifetimeSec ?? preset?.accessTokenLifetimeSec,
    keepFromToken: preset?.keepFromToken ?? [],
    keepFromCallback: preset?.keepFromCallback ?? [],
    noRefreshTokenHint: preset?.noRefreshTokenHint ?? GENERIC_NO_REFRESH_HINT,
    revokeHint: c.revokeUrl ? undefined : preset?.revokeHint,
    clientFingerprint: clientFingerprint(tokenUrl, c.clientId),
  };
}

/**
 * A flow's inline client settings as a connection of their own. Flows with the same settings (and the same
 * pasted refresh token) share it, so they never rotate one refresh token in a race; a new pasted refresh
 * token makes a new one.
 */
export function inlineConnection(auth: Extract<OAuthClientConfig, { grant: string }>, flow: string): ResolvedConnection {
  const key = `inline-${sha(JSON.stringify([auth.grant, auth.tokenUrl, auth.clientId, auth.scope ?? '', auth.audience ?? '', auth.refreshToken ? sha(auth.refreshToken) : ''])).slice(0, 20)}`;
  return {
    key,
    title: `${flow} (inline)`,
    inline: true,
    grant: auth.grant,
    provider: new URL(auth.tokenUrl).host,
    tokenUrl: auth.tokenUrl,
    revokeStyle: 'rfc7009',
    clientId: auth.clientId,
    clientSecret: auth.clientSecret,
    clientAuth: auth.clientAuth,
    scopes: auth.scope ? auth.scope.split(/\s+/).filter(Boolean) : [],
    authorizeParams: {},
    tokenParams: auth.audience ? { audience: auth.audience } : {},
    refreshToken: auth.refreshToken,
    redirectHost: '127.0.0.1',
    keepFromToken: [],
    keepFromCallback: [],
    noRefreshTokenHint: GENERIC_NO_REFRESH_HINT,
    clientFingerprint: clientFingerprint(auth.tokenUrl, auth.clientId),
  };
}

/** One `auth: { type: oauth2 }` block of a flow: which side, its key path inside the flow, and its settings. */
export interface OAuthUse {
  role: 'source' | 'destination';
  path: Array<string | number>;
  auth: OAuthClientConfig;
}

/** Every OAuth block of a flow's source and destination (any connector: they all call it `auth`). */
export function oauthUses(flow: { source?: unknown; destination?: unknown }): OAuthUse[] {
  const found: OAuthUse[] = [];
  const visit = (v: unknown, role: OAuthUse['role'], path: Array<string | number>, depth: number) => {
    if (!v || typeof v !== 'object' || depth > 6) return;
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, role, [...path, i], depth + 1));
    for (const [k, x] of Object.entries(v)) {
      if (k === 'auth' && x && typeof x === 'object' && (x as { type?: unknown }).type === 'oauth2') {
        const a = x as Record<string, unknown>;
        found.push({
          role,
          path: [...path, k],
          auth: typeof a.connection === 'string' ? { connection: a.connection } : (a as Extract<OAuthClientConfig, { grant: string }>),
        });
      } else visit(x, role, [...path, k], depth + 1);
    }
  };
  visit(flow.source, 'source', ['source'], 0);
  visit(flow.destination, 'destination', ['destination'], 0);
  return found;
}

/** The connection key an OAuth block uses. */
export function connectionKeyOf(auth: OAuthClientConfig, flow: string): string {
  return 'connection' in auth ? auth.connection : inlineConnection(auth, flow).key;
}

/** Config check: every `connection:` a flow names exists. Problems go to `report(path, message)`. */
export function checkConnectionReferences(
  cfg: { connections: Record<string, ConnectionConfig>; integrations: Array<{ flows: Array<{ name: string; source?: unknown; destination?: unknown }> }> },
  report: (path: Array<string | number>, message: string) => void,
): void {
  const names = Object.keys(cfg.connections);
  cfg.integrations.forEach((integration, i) =>
    integration.flows.forEach((flow, f) => {
      for (const use of oauthUses(flow)) {
        if (!('connection' in use.auth) || cfg.connections[use.auth.connection]) continue;
        report(['integrations', i, 'flows', f, ...use.path, 'connection'], `no connection named ${JSON.stringify(use.auth.connection)} (connections: ${names.join(', ') || 'none; add them under connections:'})`);
      }
    }),
  );
}
