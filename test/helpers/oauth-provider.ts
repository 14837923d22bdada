// A real OAuth 2.0 / OpenID Connect authorization server for tests: oidc-provider (a certified implementation)
// on 127.0.0.1, with refresh-token rotation on (a used refresh token is refused, and its reuse revokes the whole
// grant), PKCE required, revocation and client credentials. It records every token it issues (to search Ferry's
// data dir and logs for them) and every token request with its time. `startProtectedApi` is an API that accepts
// only this server's valid access tokens.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

// oidc-provider's notices about its development defaults (in-memory store, dev keys and pages) are expected here
for (const level of ['warn', 'info'] as const) {
  const original = console[level].bind(console);
  console[level] = (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return;
    original(...args);
  };
}

export interface TokenRequestRecord {
  grant: string;
  status: number;
  /** Time the server took to answer (request start to last byte). */
  ms: number;
  at: number;
  /** error of a refused request. */
  error?: string;
  /** The refresh token it was sent (grant refresh_token). */
  refreshToken?: string;
}

export interface AuthServer {
  issuer: string;
  provider: Provider;
  authorizeUrl: string;
  tokenUrl: string;
  revokeUrl: string;
  /** A confidential native app (loopback redirect on any port, RFC 8252). */
  client: { id: string; secret: string };
  /** A client for grant client_credentials. */
  service: { id: string; secret: string };
  /** Every token value issued: access, refresh and id tokens, and authorization codes. */
  issued: Set<string>;
  tokenRequests: TokenRequestRecord[];
  /** Query parameters of every consent request (GET /auth). */
  authorizeRequests: URLSearchParams[];
  /** Grants given (one per consent). */
  grants: Set<string>;
  /** Grants revoked because a used refresh token came again (two refreshes racing). */
  reuseDetected: number;
  /** While set, the token endpoint answers this status (an outage: 503) instead of tokens. */
  tokenOutage?: number;
  /** Withdraws every consent given so far (as a user removing the app's access at the provider). */
  revokeConsents(): Promise<void>;
  close(): Promise<void>;
}

export interface AuthServerOptions {
  accessTtlSec?: number;
  codeTtlSec?: number;
  /** Answer token requests this much later (a slow provider). */
  tokenDelayMs?: number;
}

/** Starts oidc-provider on 127.0.0.1 with its development login and consent pages. */
export async function startAuthServer(opts: AuthServerOptions = {}): Promise<AuthServer> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = { id: 'ferry-app', secret: 'ferry-app-secret-0123456789abcdef' };
  const service = { id: 'ferry-service', secret: 'ferry-service-secret-0123456789ab' };
  const accessTtl = opts.accessTtlSec ?? 3600;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        application_type: 'native',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['http://127.0.0.1/oauth/callback', 'http://localhost/oauth/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      { client_id: service.id, client_secret: service.secret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
    ],
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id }) }),
    scopes: ['openid', 'offline_access', 'crm.write'],
    features: { devInteractions: { enabled: true }, revocation: { enabled: true }, clientCredentials: { enabled: true } },
    rotateRefreshToken: true,
    pkce: { required: () => true },
    ttl: {
      AccessToken: accessTtl,
      ClientCredentials: accessTtl,
      AuthorizationCode: opts.codeTtlSec ?? 60,
      RefreshToken: 14 * 86_400,
      Grant: 14 * 86_400,
      Session: 14 * 86_400,
      Interaction: 3600,
      IdToken: 3600,
    },
    cookies: { keys: ['ferry-test-cookie-key'] },
  } as never);
  const auth: AuthServer = {
    issuer,
    provider,
    authorizeUrl: `${issuer}/auth`,
    tokenUrl: `${issuer}/token`,
    revokeUrl: `${issuer}/token/revocation`,
    client,
    service,
    issued: new Set(),
    tokenRequests: [],
    authorizeRequests: [],
    grants: new Set(),
    reuseDetected: 0,
    revokeConsents: async () => {
      for (const g of auth.grants) {
        await Promise.all([provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode].map((m) => m.revokeByGrantId(g)));
        await provider.Grant.adapter.destroy(g);
      }
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  provider.on('grant.saved', (g: { jti: string }) => auth.grants.add(g.jti));
  provider.on('grant.revoked', () => auth.reuseDetected++);
  const handle = provider.callback();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const started = performance.now();
    const isToken = req.method === 'POST' && req.url === '/token';
    if (req.method === 'GET' && req.url?.startsWith('/auth?')) auth.authorizeRequests.push(new URL(req.url, issuer).searchParams);
    // keep what the server sends: token answers hold tokens; redirects hold authorization codes
    const chunks: Buffer[] = [];
    const write = res.write.bind(res) as (...a: unknown[]) => boolean;
    const end = res.end.bind(res) as (...a: unknown[]) => http.ServerResponse;
    res.write = ((c: unknown, ...rest: unknown[]) => {
      if (c && typeof c !== 'function') chunks.push(Buffer.from(c as string));
      return write(c, ...rest);
    }) as typeof res.write;
    res.end = ((c?: unknown, ...rest: unknown[]) => {
      if (c && typeof c !== 'function') chunks.push(Buffer.from(c as string));
      return end(c, ...rest);
    }) as typeof res.end;
    let form = '';
    if (isToken) req.on('data', (d: Buffer) => (form += d.toString('utf8')));
    res.on('finish', () => {
      const location = res.getHeader('location');
      if (typeof location === 'string') {
        const code = new URL(location, issuer).searchParams.get('code');
        if (code) auth.issued.add(code);
      }
      if (!isToken) return;
      const params = new URLSearchParams(form);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        // not JSON: nothing issued
      }
      for (const k of ['access_token', 'refresh_token', 'id_token']) if (typeof body[k] === 'string') auth.issued.add(body[k] as string);
      auth.tokenRequests.push({
        grant: params.get('grant_type') ?? '?',
        status: res.statusCode,
        ms: performance.now() - started,
        at: Date.now(),
        error: typeof body.error === 'string' ? body.error : undefined,
        refreshToken: params.get('refresh_token') ?? undefined,
      });
    });
    if (isToken && auth.tokenOutage) {
      req.resume();
      res.writeHead(auth.tokenOutage, { 'content-type': 'application/json' }).end('{"error":"temporarily_unavailable","error_description":"the token service is down"}');
      return;
    }
    const go = () => void handle(req, res);
    if (isToken && opts.tokenDelayMs) setTimeout(go, opts.tokenDelayMs);
    else go();
  });
  return auth;
}

/** A `connections:` entry for this server's app: consent with offline_access (a refresh token), revocation. */
export function connectionFor(auth: Pick<AuthServer, 'authorizeUrl' | 'tokenUrl' | 'revokeUrl' | 'client'>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'oauth2',
    authorizeUrl: auth.authorizeUrl,
    tokenUrl: auth.tokenUrl,
    revokeUrl: auth.revokeUrl,
    clientId: auth.client.id,
    clientSecret: auth.client.secret,
    scopes: ['openid', 'offline_access', 'crm.write'],
    authorizeParams: { prompt: 'consent' },
    ...extra,
  };
}

/**
 * The token dance an admin does by hand outside Ferry (or any other client): a consent on the provider's pages,
 * the code exchanged (PKCE), the refresh token returned (to paste into a config, or to refresh with).
 */
export async function refreshTokenByHand(auth: Pick<AuthServer, 'authorizeUrl' | 'tokenUrl' | 'client'>): Promise<string> {
  const redirectUri = 'http://127.0.0.1:9/oauth/callback';
  const verifier = crypto.randomBytes(32).toString('base64url');
  const url = new URL(auth.authorizeUrl);
  const params = {
    client_id: auth.client.id, response_type: 'code', scope: 'openid offline_access', prompt: 'consent', redirect_uri: redirectUri, state: 's',
    code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  };
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const code = new URL(await consentOverHttp(url.toString())).searchParams.get('code')!;
  const exchange = await fetch(auth.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${auth.client.id}:${auth.client.secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier }).toString(),
  });
  const token = ((await exchange.json()) as { refresh_token?: string }).refresh_token;
  if (!token) throw new Error('the provider gave no refresh token');
  return token;
}

/** A cookie jar for one browser-like session (path and expiry ignored: one provider, one test). */
class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1));
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Gives (or denies) consent on the provider's own pages over HTTP, as a browser would: follows the redirects,
 * signs in on the login form and confirms the consent form. Returns the address the provider finally sends the
 * browser to (the loopback callback with code and state), without opening it.
 */
export async function consentOverHttp(authorizeUrl: string, opts: { deny?: boolean; login?: string } = {}): Promise<string> {
  const jar = new Jar();
  const origin = new URL(authorizeUrl).origin;
  let url = authorizeUrl;
  let method = 'GET';
  let body: string | undefined;
  for (let hops = 0; hops < 20; hops++) {
    const res = await fetch(url, { method, body, redirect: 'manual', headers: { cookie: jar.header(), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) } });
    jar.take(res);
    const location = res.headers.get('location');
    if (location) {
      const next = new URL(location, url);
      if (next.origin !== origin) return next.toString();
      url = next.toString();
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`the provider answered ${res.status} at ${url}: ${html.slice(0, 300)}`);
    const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`no form on the provider's page ${url}: ${html.slice(0, 300)}`);
    if (opts.deny) {
      const abort = /href="([^"]*\/abort)"/.exec(html)?.[1];
      if (!abort) throw new Error('no Cancel link on the provider page');
      url = new URL(abort, url).toString();
      continue;
    }
    method = 'POST';
    body = html.includes('name="login"') ? new URLSearchParams({ prompt: 'login', login: opts.login ?? 'alice', password: 'any' }).toString() : new URLSearchParams({ prompt: 'consent' }).toString();
    url = new URL(action.replace(/&amp;/g, '&'), url).toString();
  }
  throw new Error('too many redirects during the consent');
}

/** An API that accepts only this server's valid access tokens (401 otherwise), and records what it accepted. */
export interface ProtectedApi {
  url: string;
  /** Bodies accepted, with the access token each came with. */
  accepted: Array<{ path: string; token: string; idempotencyKey: string; body: string; at: number }>;
  refused: number;
  /** Called when an access token is used for the first time, before the request is answered. */
  onFirstUse?: (token: string) => void;
  close(): Promise<void>;
}

export async function startProtectedApi(auth: AuthServer): Promise<ProtectedApi> {
  const api: ProtectedApi = {
    url: '',
    accepted: [],
    refused: 0,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const found = token ? ((await auth.provider.AccessToken.find(token)) ?? (await auth.provider.ClientCredentials.find(token))) : undefined;
      // a withdrawn consent: the grant is gone even if the token record were still there
      const grantOk = found && (!(found as { grantId?: string }).grantId || (await auth.provider.Grant.find((found as { grantId: string }).grantId)));
      if (!found || !grantOk) {
        api.refused++;
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
        res.end('{"error":"invalid_token"}');
        return;
      }
      if (!api.accepted.some((a) => a.token === token)) api.onFirstUse?.(token);
      api.accepted.push({ path: req.url ?? '', token, idempotencyKey: String(req.headers['idempotency-key'] ?? ''), body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}
