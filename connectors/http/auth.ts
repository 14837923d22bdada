// Credentials for HTTP sources and destinations: API key, bearer, basic, and OAuth 2.0 (client credentials
// or refresh-token grant) with the access token cached until shortly before it expires and fetched anew
// once when an API answers 401. Tokens live in memory only (never in the database or the logs).
import { request, type Dispatcher } from 'undici';
import type { HttpAuthConfig } from './schema.ts';

/** Refresh this long before the token's stated expiry (clock skew, slow requests). */
const EXPIRY_SKEW_MS = 30_000;

export class AuthError extends Error {}

export class Authenticator {
  private readonly cfg: HttpAuthConfig | undefined;
  private readonly dispatcher?: Dispatcher;
  private token?: { value: string; type: string; expiresAt: number };
  private fetching?: Promise<{ value: string; type: string; expiresAt: number }>;
  /** A refresh token the server rotated (kept in memory; the configured one is used after a restart). */
  private rotatedRefreshToken?: string;
  /** How many tokens were fetched (for status and tests). */
  tokensFetched = 0;

  constructor(cfg: HttpAuthConfig | undefined, dispatcher?: Dispatcher) {
    this.cfg = cfg;
    this.dispatcher = dispatcher;
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
        const t = await this.accessToken(signal);
        return { authorization: `${/^bearer$/i.test(t.type) ? 'Bearer' : t.type} ${t.value}` };
      }
    }
  }

  /** Drops the cached token (the API answered 401: it expired early or was revoked). */
  invalidate(): void {
    this.token = undefined;
  }

  private async accessToken(signal?: AbortSignal): Promise<{ value: string; type: string }> {
    if (this.token && Date.now() < this.token.expiresAt) return this.token;
    this.fetching ??= this.fetchToken(signal).finally(() => (this.fetching = undefined));
    this.token = await this.fetching;
    return this.token;
  }

  private async fetchToken(signal?: AbortSignal): Promise<{ value: string; type: string; expiresAt: number }> {
    const a = this.cfg;
    if (a?.type !== 'oauth2') throw new AuthError('no OAuth configuration');
    const form = new URLSearchParams();
    if (a.grant === 'refresh_token') {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', this.rotatedRefreshToken ?? a.refreshToken ?? '');
    } else form.set('grant_type', 'client_credentials');
    if (a.scope) form.set('scope', a.scope);
    if (a.audience) form.set('audience', a.audience);
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (a.clientAuth === 'body') {
      form.set('client_id', a.clientId);
      if (a.clientSecret) form.set('client_secret', a.clientSecret);
    } else {
      const id = encodeURIComponent(a.clientId);
      const secret = encodeURIComponent(a.clientSecret ?? '');
      headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    }
    const url = new URL(a.tokenUrl);
    let res;
    try {
      res = await request(url, { method: 'POST', headers, body: form.toString(), dispatcher: this.dispatcher, signal: signal ?? AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new AuthError(`OAuth token request to ${url.host} failed: ${(err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      let why = '';
      try {
        const j = JSON.parse(text) as { error?: string; error_description?: string };
        why = [j.error, j.error_description].filter(Boolean).join(': ');
      } catch {
        why = text.slice(0, 200);
      }
      throw new AuthError(`OAuth token request to ${url.host}${url.pathname} answered HTTP ${res.statusCode}${why ? ` (${why})` : ''}: check clientId/clientSecret${a.grant === 'refresh_token' ? '/refreshToken' : ''}`);
    }
    let j: { access_token?: string; token_type?: string; expires_in?: number | string; refresh_token?: string };
    try {
      j = JSON.parse(text);
    } catch {
      throw new AuthError(`OAuth token response from ${url.host} is not JSON`);
    }
    if (!j.access_token) throw new AuthError(`OAuth token response from ${url.host} has no access_token`);
    if (j.refresh_token) this.rotatedRefreshToken = j.refresh_token;
    this.tokensFetched++;
    const ttl = Number(j.expires_in ?? 3600) * 1000;
    return { value: j.access_token, type: j.token_type ?? 'Bearer', expiresAt: Date.now() + Math.max(1000, ttl - EXPIRY_SKEW_MS) };
  }
}
