// Credentials for HTTP sources and destinations: API key, bearer, basic, and OAuth 2.0. OAuth tokens come from
// the engine's token provider (a named connection, or inline client settings the engine keeps encrypted and
// durable); a connector built outside the engine keeps inline tokens in memory. A token is fetched anew once
// when an API answers 401.
import type { Dispatcher } from 'undici';
import { TokenError, type AccessToken, type ConnectorEnv, type OAuthClientConfig, type TokenProvider } from '../contract.ts';
import type { HttpAuthConfig } from './schema.ts';
import { OAuthEndpointError, requestToken } from './oauth-client.ts';

export class AuthError extends Error {}

/** The OAuth client settings of an `auth: { type: oauth2 }` block, as the token provider takes them. */
export function oauthClientOf(a: Extract<HttpAuthConfig, { type: 'oauth2' }>): OAuthClientConfig {
  if (a.connection) return { connection: a.connection };
  return { grant: a.grant, tokenUrl: a.tokenUrl!, clientId: a.clientId!, clientSecret: a.clientSecret, refreshToken: a.refreshToken, scope: a.scope, audience: a.audience, clientAuth: a.clientAuth };
}

/**
 * Tokens of inline client settings kept in this process's memory: for connectors built without the engine
 * (a rotated refresh token is lost when the process ends; the engine's provider keeps it).
 */
export class MemoryTokens implements TokenProvider {
  private readonly cfg: Extract<OAuthClientConfig, { grant: string }>;
  private readonly dispatcher?: Dispatcher;
  private current?: AccessToken;
  private fetching?: Promise<AccessToken>;
  private rotatedRefreshToken?: string;
  /** How many tokens were fetched (for tests). */
  fetched = 0;

  constructor(cfg: Extract<OAuthClientConfig, { grant: string }>, dispatcher?: Dispatcher) {
    this.cfg = cfg;
    this.dispatcher = dispatcher;
  }

  async token(opts: { signal?: AbortSignal; dispatcher?: Dispatcher } = {}): Promise<AccessToken> {
    if (this.current && Date.now() < this.current.expiresAt) return this.current;
    this.fetching ??= this.fetch(opts).finally(() => (this.fetching = undefined));
    return this.fetching;
  }

  rejected(token: AccessToken): void {
    if (this.current?.value === token.value) this.current = undefined;
  }

  private async fetch(opts: { signal?: AbortSignal; dispatcher?: Dispatcher }): Promise<AccessToken> {
    const a = this.cfg;
    const params = a.grant === 'refresh_token'
      ? { grant_type: 'refresh_token', refresh_token: this.rotatedRefreshToken ?? a.refreshToken ?? '' }
      : { grant_type: 'client_credentials' };
    let t;
    try {
      t = await requestToken({
        ...a,
        params: { ...params, scope: a.scope, audience: a.audience },
        dispatcher: opts.dispatcher ?? this.dispatcher,
        signal: opts.signal,
        hint: `: check clientId/clientSecret${a.grant === 'refresh_token' ? '/refreshToken' : ''}`,
      });
    } catch (err) {
      throw new TokenError((err as Error).message, err instanceof OAuthEndpointError && err.invalidGrant && a.grant === 'refresh_token');
    }
    if (t.refreshToken) this.rotatedRefreshToken = t.refreshToken;
    this.fetched++;
    this.current = { value: t.accessToken, type: t.tokenType, expiresAt: t.expiresAt };
    return this.current;
  }
}

export class Authenticator {
  private readonly cfg: HttpAuthConfig | undefined;
  private readonly dispatcher?: Dispatcher;
  private readonly provider?: TokenProvider;

  /**
   * `dispatcher` carries the connector's requests (token refreshes it triggers go through it too); `env`
   * supplies the engine's token provider for OAuth.
   */
  constructor(cfg: HttpAuthConfig | undefined, dispatcher?: Dispatcher, env?: Pick<ConnectorEnv, 'tokens'>) {
    this.cfg = cfg;
    this.dispatcher = dispatcher;
    if (cfg?.type === 'oauth2') {
      const client = oauthClientOf(cfg);
      if (env?.tokens) this.provider = env.tokens(client);
      else if (!('connection' in client)) this.provider = new MemoryTokens(client, dispatcher);
    }
  }

  /** True when a 401 can be cured by fetching a new token. */
  get refreshable(): boolean {
    return this.cfg?.type === 'oauth2';
  }

  /** Query parameters the credentials add (API key in the query string). */
  query(): Record<string, string> {
    const a = this.cfg;
    return a?.type === 'apiKey' && a.in === 'query' ? { [a.param ?? a.header]: a.value } : {};
  }

  /** The headers a request carries; with OAuth, pass them to rejected() when the API answers 401. */
  async headers(signal?: AbortSignal): Promise<Record<string, string>> {
    const a = this.cfg;
    if (!a) return {};
    switch (a.type) {
      case 'bearer':
        return { authorization: `Bearer ${a.token}` };
      case 'basic':
        return { authorization: `Basic ${Buffer.from(`${a.username}:${a.password}`).toString('base64')}` };
      case 'apiKey':
        return a.in === 'query' ? {} : { [a.header.toLowerCase()]: a.value };
      case 'oauth2': {
        if (!this.provider) throw new AuthError(`connection ${a.connection}: OAuth connections are kept by the Ferry engine; this connector was built without it`);
        let t: AccessToken;
        try {
          t = await this.provider.token({ signal, dispatcher: this.dispatcher });
        } catch (err) {
          if (err instanceof TokenError) throw new AuthError(err.message);
          throw err;
        }
        return { authorization: headerOf(t) };
      }
    }
  }

  /** The API answered 401 to a request sent with these headers: its token is not used again. */
  rejected(headers: Record<string, string>): void {
    const m = /^\S+ (.+)$/.exec(headers.authorization ?? '');
    if (m) this.provider?.rejected({ value: m[1], type: '', expiresAt: 0 });
  }
}

function headerOf(t: AccessToken): string {
  return `${/^bearer$/i.test(t.type) ? 'Bearer' : t.type} ${t.value}`;
}

/**
 * Sends a request with the credentials' headers; when OAuth's token is refused (401), fetches a new one and
 * sends once more. `send` gets the headers and returns the response (its body still unread, or already read
 * into a buffer).
 */
export async function sendAuthorized<R extends { statusCode: number; body: { dump(): Promise<void> } | Buffer }>(
  auth: Authenticator,
  signal: AbortSignal | undefined,
  send: (authHeaders: Record<string, string>) => Promise<R>,
): Promise<R> {
  for (let attempt = 0; ; attempt++) {
    const headers = await auth.headers(signal);
    const res = await send(headers);
    if (res.statusCode !== 401 || !auth.refreshable || attempt > 0) return res;
    if (!Buffer.isBuffer(res.body)) await res.body.dump();
    auth.rejected(headers);
  }
}
