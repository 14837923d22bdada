// The OAuth 2.0 token endpoint and revocation endpoint as a client speaks to them (RFC 6749 §4–6, RFC 7009):
// one request each, the answer parsed into a TokenSet or an OAuthEndpointError that keeps the provider's
// error code and description. Used by the connectors' in-memory tokens and by the engine's connections.
import { request, type Dispatcher } from 'undici';
import { NetDispatcher, Network } from '../net/index.ts';

/** Refresh this long before a token's stated expiry (clock skew, slow requests); a tenth of short lifetimes. */
const EXPIRY_SKEW_MS = 30_000;
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The dispatcher used when the caller gives none: the process's network without a config (the proxy
 * environment, the system trust store), as for any connector built on its own.
 */
function defaultDispatcher(url: URL): Dispatcher {
  return Network.default().dispatcherFor(url);
}

/** Why a request could not be sent: the network facility names the cause (proxy, TLS, DNS) when it carried it. */
function failure(dispatcher: Dispatcher, err: unknown, url: URL): string {
  return dispatcher instanceof NetDispatcher ? dispatcher.explain(err, url) : (err as Error).message;
}

export interface OAuthClientCredentials {
  clientId: string;
  clientSecret?: string;
  /** HTTP Basic (client_secret_basic) or form fields (client_secret_post; also public clients). */
  clientAuth: 'basic' | 'body';
}

export interface TokenSet {
  accessToken: string;
  tokenType: string;
  /** When Ferry stops using the access token (the stated lifetime minus a skew). */
  expiresAt: number;
  /** The stated lifetime (expires_in, or the caller's default when the server states none). */
  lifetimeMs: number;
  /** False when the answer had no expires_in (some providers' tokens live until revoked). */
  lifetimeStated: boolean;
  /** A new refresh token, when the server sent one (rotation, or the first one of a consent). */
  refreshToken?: string;
  /** Granted scopes, when the server says. */
  scope?: string;
  /** When the refresh token itself expires, when the server says (refresh_token_expires_in and variants). */
  refreshExpiresAt?: number;
  /** Other plain fields the caller asked to keep (e.g. Salesforce's instance_url). */
  extras: Record<string, string>;
}

/** The token or revocation endpoint refused or could not be reached. */
export class OAuthEndpointError extends Error {
  /** HTTP status, when the endpoint answered. */
  readonly status?: number;
  /** The OAuth error code (invalid_grant, invalid_client…), when the answer carried one. */
  readonly error?: string;
  readonly description?: string;
  constructor(message: string, detail: { status?: number; error?: string; description?: string } = {}) {
    super(message);
    this.name = 'OAuthEndpointError';
    this.status = detail.status;
    this.error = detail.error;
    this.description = detail.description;
  }
  /** The grant itself is no good (revoked, expired, used): a retry cannot help. */
  get invalidGrant(): boolean {
    return this.error === 'invalid_grant';
  }
}

export interface TokenRequest extends OAuthClientCredentials {
  tokenUrl: string;
  /** The grant's form fields: grant_type and its parameters (refresh_token, code, code_verifier…). */
  params: Record<string, string | undefined>;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
  /** Lifetime assumed when the answer has no expires_in (seconds; default 3600). */
  defaultExpiresInSec?: number;
  /** Names of further answer fields to keep in `extras`. */
  keep?: string[];
  /** Appended to the error message of a refused request, e.g. ": check clientId/clientSecret". */
  hint?: string;
  now?: () => number;
}

/** When to stop using a token that lives `lifetimeMs` from `now`. */
export function usableUntil(now: number, lifetimeMs: number): number {
  return now + Math.max(Math.min(lifetimeMs, 1000), lifetimeMs - Math.min(EXPIRY_SKEW_MS, lifetimeMs / 10));
}

function clientHeaders(c: OAuthClientCredentials, form: URLSearchParams): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (c.clientAuth === 'body' || c.clientSecret === undefined || c.clientSecret === '') {
    form.set('client_id', c.clientId);
    if (c.clientSecret) form.set('client_secret', c.clientSecret);
  } else {
    // RFC 6749 §2.3.1: both parts form-encoded before Basic
    const id = encodeURIComponent(c.clientId);
    const secret = encodeURIComponent(c.clientSecret);
    headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  }
  return headers;
}

/** The error code and description of an OAuth error answer (JSON), or a snippet of whatever else it was. */
function explain(text: string): { error?: string; description?: string; why: string } {
  try {
    const j = JSON.parse(text) as { error?: unknown; error_description?: unknown };
    const error = typeof j.error === 'string' ? j.error : undefined;
    const description = typeof j.error_description === 'string' ? j.error_description : undefined;
    return { error, description, why: [error, description].filter(Boolean).join(': ') };
  } catch {
    return { why: text.replace(/\s+/g, ' ').trim().slice(0, 200) };
  }
}

const seconds = (v: unknown): number | undefined => {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
};

/** One token request (any grant). Throws OAuthEndpointError with the provider's reason. */
export async function requestToken(req: TokenRequest): Promise<TokenSet> {
  const url = new URL(req.tokenUrl);
  const where = `${url.host}${url.pathname}`;
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(req.params)) if (v !== undefined && v !== '') form.set(k, v);
  const headers = clientHeaders(req, form);
  const dispatcher = req.dispatcher ?? defaultDispatcher(url);
  let res;
  try {
    res = await request(url, { method: 'POST', headers, body: form.toString(), dispatcher, signal: req.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new OAuthEndpointError(`OAuth token request to ${url.host} failed: ${failure(dispatcher, err, url)}`);
  }
  const text = await res.body.text();
  if (res.statusCode !== 200) {
    const e = explain(text);
    throw new OAuthEndpointError(`OAuth token request to ${where} answered HTTP ${res.statusCode}${e.why ? ` (${e.why})` : ''}${req.hint ?? ''}`, { status: res.statusCode, error: e.error, description: e.description });
  }
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text);
  } catch {
    throw new OAuthEndpointError(`OAuth token response from ${url.host} is not JSON`, { status: 200 });
  }
  if (typeof j.access_token !== 'string' || j.access_token === '') throw new OAuthEndpointError(`OAuth token response from ${url.host} has no access_token`, { status: 200 });
  const now = (req.now ?? Date.now)();
  const lifetimeMs = (seconds(j.expires_in) ?? req.defaultExpiresInSec ?? 3600) * 1000;
  const refreshIn = seconds(j.refresh_token_expires_in) ?? seconds(j.x_refresh_token_expires_in) ?? seconds(j.refresh_expires_in);
  const extras: Record<string, string> = {};
  for (const k of req.keep ?? []) if (typeof j[k] === 'string' || typeof j[k] === 'number') extras[k] = String(j[k]);
  return {
    accessToken: j.access_token,
    tokenType: typeof j.token_type === 'string' && j.token_type ? j.token_type : 'Bearer',
    expiresAt: usableUntil(now, lifetimeMs),
    lifetimeMs,
    lifetimeStated: seconds(j.expires_in) !== undefined,
    refreshToken: typeof j.refresh_token === 'string' && j.refresh_token ? j.refresh_token : undefined,
    scope: typeof j.scope === 'string' ? j.scope : undefined,
    refreshExpiresAt: refreshIn ? now + refreshIn * 1000 : undefined,
    extras,
  };
}

export interface RevokeRequest extends OAuthClientCredentials {
  revokeUrl: string;
  token: string;
  tokenTypeHint?: 'refresh_token' | 'access_token';
  /** rfc7009: a form POST (the standard); json: a JSON body { token } (Intuit). */
  style?: 'rfc7009' | 'json';
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

/** RFC 7009 revocation (200 also for a token the server no longer knows). Throws OAuthEndpointError. */
export async function revokeToken(req: RevokeRequest): Promise<void> {
  const url = new URL(req.revokeUrl);
  const form = new URLSearchParams({ token: req.token });
  if (req.tokenTypeHint) form.set('token_type_hint', req.tokenTypeHint);
  const headers = clientHeaders(req, form);
  let body = form.toString();
  if (req.style === 'json') {
    headers['content-type'] = 'application/json';
    body = JSON.stringify({ token: req.token });
  }
  const dispatcher = req.dispatcher ?? defaultDispatcher(url);
  let res;
  try {
    res = await request(url, { method: 'POST', headers, body, dispatcher, signal: req.signal ?? AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new OAuthEndpointError(`revocation request to ${url.host} failed: ${failure(dispatcher, err, url)}`);
  }
  const text = await res.body.text();
  if (res.statusCode >= 200 && res.statusCode < 300) return;
  const e = explain(text);
  throw new OAuthEndpointError(`revocation at ${url.host}${url.pathname} answered HTTP ${res.statusCode}${e.why ? ` (${e.why})` : ''}`, { status: res.statusCode, error: e.error, description: e.description });
}
