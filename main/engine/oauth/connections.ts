// The engine's OAuth connections: each named account of `connections:` (and each flow's inline client
// settings) holds its tokens, refreshes them once at a time for every flow using it, stores each new token
// encrypted before it is used, and knows its health: connected, refresh failing (with the provider's error),
// or consent needed. Flows whose destination uses a connection that needs consent hold their deliveries until
// it is connected again. Consent itself (PKCE + state) starts and completes here.
import type { Dispatcher } from 'undici';
import { TokenError, type AccessToken, type OAuthClientConfig, type TokenProvider } from '../../../connectors/contract.ts';
import { OAuthEndpointError, requestToken, revokeToken, type TokenSet } from '../../../connectors/http-common/oauth-client.ts';
import type { Db } from '../store/db.ts';
import type { Logger } from '../logger.ts';
import { inlineConnection, resolveConnection, type ConnectionConfig, type ResolvedConnection } from './config.ts';
import { codeRefusal, ConsentError, newConsent, parsePasted, providerRefusal, sameRedirect, type ConsentAnswer, type ConsentSession } from './consent.ts';
import { TokenStoreError, type StoredTokens, type TokenStore } from './token-store.ts';
import { scrubTokens } from './scrub.ts';
import { writeConnectionState, type ConnectionHealth } from './state.ts';

const MAX_SESSIONS = 20;

export interface ConnectionManagerOptions {
  db: Db;
  store: TokenStore;
  log: Logger;
  /**
   * The dispatcher for a token or revocation endpoint's URL: the engine's network setting (proxy, trust, client
   * certificate), as for every outbound HTTP client (default: the process's, from the proxy environment).
   */
  dispatcherFor?(url: string): Dispatcher;
  /** A connection's health changed: the engine wakes the flows that use it. */
  onChange?(key: string, health: ConnectionHealth): void;
}

/** The latest consent of a connection, for clients that started it (`ferry connect`, the dashboard). */
export interface ConsentOutcome {
  id: string;
  state: 'pending' | 'connected' | 'failed';
  reason?: string;
  at: number;
}

/** Races a shared promise against one waiter's abort signal (the shared work goes on for the others). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new TokenError('interrupted: Ferry is stopping'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new TokenError('interrupted while waiting for a token'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** One token request of a connection's client (any grant), with its extra fields and the answer fields it keeps. */
function tokenRequest(s: ResolvedConnection, params: Record<string, string | undefined>, dispatcher: Dispatcher | undefined, hint?: string): Promise<TokenSet> {
  return requestToken({
    tokenUrl: s.tokenUrl,
    clientId: s.clientId,
    clientSecret: s.clientSecret,
    clientAuth: s.clientAuth,
    params: { ...s.tokenParams, ...params },
    dispatcher,
    defaultExpiresInSec: s.accessTokenLifetimeSec,
    keep: s.keepFromToken,
    hint,
  });
}

class Connection implements TokenProvider {
  settings: ResolvedConnection;
  health: { state: ConnectionHealth; reason: string | null; since: number } = { state: 'consent_needed', reason: null, since: Date.now() };
  private current?: AccessToken;
  private rejectedValue?: string;
  private refreshing?: Promise<AccessToken>;
  /** A token answer that could not be stored yet (disk full): stored before anything else is used. */
  private unsaved?: StoredTokens;
  private facts: { connectedAt?: number; refreshedAt?: number; refreshExpiresAt?: number; details?: Record<string, string> } = {};
  private refreshes = 0;
  private readonly m: ConnectionManager;

  constructor(m: ConnectionManager, settings: ResolvedConnection) {
    this.m = m;
    this.settings = settings;
    this.load();
  }

  get key(): string {
    return this.settings.key;
  }

  /** Reads the stored tokens at start (or after the settings changed) and sets the health from them. */
  load(): void {
    let stored: StoredTokens | undefined;
    let problem: string | undefined;
    try {
      stored = this.m.store.read(this.key);
    } catch (err) {
      problem = (err as Error).message;
    }
    this.current = undefined;
    if (stored && stored.client !== this.settings.clientFingerprint) {
      problem = `the connection's client (clientId or tokenUrl) changed since consent was given: connect ${this.settings.title} again`;
      stored = undefined;
    }
    if (stored) this.adopt(stored, false);
    const previous = this.m.previousHealth(this.key);
    // the health as this process last left it: a restart that finds the same says nothing (no log, no event)
    if (previous) this.health = { state: previous.state, reason: previous.reason, since: previous.since };
    if (problem) this.setHealth('consent_needed', problem);
    else if (stored?.refreshToken || (stored?.accessToken && (stored.expiresAt ?? 0) > Date.now())) {
      // keep a known refresh problem across a restart; a consent given meanwhile (ferry connect) clears it
      this.setHealth(previous?.state === 'refresh_failing' ? 'refresh_failing' : 'connected', previous?.state === 'refresh_failing' ? previous.reason : null);
    } else if (this.settings.grant === 'authorization_code') {
      this.setHealth('consent_needed', previous?.state === 'consent_needed' && previous.reason ? previous.reason : this.notConnected());
    } else if (stored?.refreshToken === undefined && this.settings.grant === 'refresh_token' && stored) {
      this.setHealth('consent_needed', previous?.reason ?? 'the refresh token was refused: put a new one in the config');
    } else this.setHealth(previous?.state ?? 'connected', previous?.reason ?? null);
  }

  private notConnected(): string {
    return `not connected yet: give consent in the dashboard (Connections, Connect) or with: ferry connect ${this.settings.title}`;
  }

  private adopt(t: StoredTokens, fresh: boolean): void {
    this.current = t.accessToken ? { value: t.accessToken, type: t.tokenType ?? 'Bearer', expiresAt: t.expiresAt ?? 0 } : undefined;
    this.facts = { connectedAt: t.connectedAt, refreshedAt: t.refreshedAt, refreshExpiresAt: t.refreshExpiresAt, details: t.details };
    if (fresh) this.refreshes++;
  }

  setHealth(state: ConnectionHealth, reason: string | null): void {
    const changed = state !== this.health.state || reason !== this.health.reason;
    if (state !== this.health.state) this.health = { state, reason, since: Date.now() };
    else this.health.reason = reason;
    this.persist();
    if (!changed) return;
    const title = this.settings.title;
    if (state === 'connected') this.m.log.info({ connection: title }, 'OAuth connection is connected');
    else this.m.log.warn({ connection: title, reason }, state === 'consent_needed' ? 'OAuth connection needs consent: deliveries of the flows using it wait' : 'OAuth token refresh failing');
    this.m.changed(this.key, state);
  }

  persist(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    writeConnectionState(this.m.db, this.key, {
      state: this.health.state,
      reason: this.health.reason === null ? null : scrubTokens(this.health.reason),
      since: this.health.since,
      connectedAt: this.facts.connectedAt,
      refreshedAt: this.facts.refreshedAt,
      accessExpiresAt: this.current?.expiresAt,
      refreshExpiresAt: this.facts.refreshExpiresAt,
      refreshes: this.refreshes,
      details: this.facts.details,
    });
    this.refreshes = 0;
  }

  // ------------------------------------------------------------------ TokenProvider

  token(opts: { signal?: AbortSignal; dispatcher?: Dispatcher } = {}): Promise<AccessToken> {
    const c = this.current;
    if (!this.unsaved && c && Date.now() < c.expiresAt && c.value !== this.rejectedValue) return Promise.resolve(c);
    this.refreshing ??= this.refresh(opts.dispatcher).finally(() => (this.refreshing = undefined));
    return untilAborted(this.refreshing, opts.signal);
  }

  rejected(token: AccessToken): void {
    if (this.current?.value === token.value) this.rejectedValue = token.value;
  }

  /**
   * One refresh for every waiter, under the connection's lock (another process may have refreshed already).
   * A named connection's token endpoint is reached through the network setting: the connection is shared by
   * flows whose own proxy/tls overrides are for their APIs. A flow's inline client settings belong to it, so
   * their refresh goes through the connector's dispatcher (its overrides included) when it gives one.
   */
  private refresh(connectorDispatcher: Dispatcher | undefined): Promise<AccessToken> {
    return this.m.store.withLock(this.key, async () => {
      if (this.unsaved) this.save(this.unsaved);
      let stored: StoredTokens | undefined;
      try {
        stored = this.m.store.read(this.key);
      } catch (err) {
        throw this.fail('consent_needed', (err as Error).message);
      }
      if (stored && stored.client !== this.settings.clientFingerprint) stored = undefined;
      const now = Date.now();
      if (stored?.accessToken && (stored.expiresAt ?? 0) > now && stored.accessToken !== this.rejectedValue) {
        this.adopt(stored, false);
        return this.current!;
      }
      const s = this.settings;
      let params: Record<string, string | undefined>;
      let refreshToken: string | undefined;
      if (s.grant === 'client_credentials') params = { grant_type: 'client_credentials', scope: s.scopes.join(' ') || undefined };
      else {
        refreshToken = stored ? stored.refreshToken : s.grant === 'refresh_token' ? s.refreshToken : undefined;
        if (!refreshToken) {
          throw this.fail('consent_needed', this.health.state === 'consent_needed' && this.health.reason ? this.health.reason : this.notConnected());
        }
        params = { grant_type: 'refresh_token', refresh_token: refreshToken };
      }
      let t: TokenSet;
      try {
        const via = (s.inline ? connectorDispatcher : undefined) ?? this.m.dispatcherFor(s.tokenUrl);
        t = await tokenRequest(s, params, via, `: check clientId/clientSecret${s.grant === 'refresh_token' ? '/refreshToken' : ''}`);
      } catch (err) {
        if (err instanceof OAuthEndpointError && err.invalidGrant && refreshToken) {
          // the refresh token is dead (revoked, expired, or consent withdrawn): never send it again
          this.save({ ...stored!, client: s.clientFingerprint, connectedAt: stored?.connectedAt ?? now, details: stored?.details ?? {}, refreshToken: undefined, accessToken: undefined, expiresAt: undefined });
          this.current = undefined;
          const what = s.grant === 'refresh_token' ? 'put a new refresh token in the config' : `give consent again (dashboard: Connect, or ferry connect ${s.title})`;
          throw this.fail('consent_needed', `${s.provider} refused the refresh token (${[err.error, err.description].filter(Boolean).join(': ')}): ${what}`);
        }
        throw this.fail('refresh_failing', (err as Error).message);
      }
      const next: StoredTokens = {
        client: s.clientFingerprint,
        refreshToken: t.refreshToken ?? refreshToken,
        refreshExpiresAt: t.refreshToken ? t.refreshExpiresAt : stored?.refreshExpiresAt,
        accessToken: t.accessToken,
        tokenType: t.tokenType,
        expiresAt: t.expiresAt,
        scope: t.scope ?? stored?.scope,
        connectedAt: stored?.connectedAt ?? now,
        refreshedAt: now,
        details: { ...(stored?.details ?? {}), ...t.extras },
      };
      this.save(next); // before the new token is used: a rotated refresh token survives a crash from here on
      this.adopt(next, true);
      if (this.health.state !== 'connected') this.setHealth('connected', null);
      else this.persistSoon();
      return this.current!;
    });
  }

  private persistTimer?: NodeJS.Timeout;

  /**
   * Records a refresh's facts (time, expiry, count) within 2 s: a commit of its own right away would add its
   * fsync to the delivery waiting for the token. A change of health is recorded at once.
   */
  private persistSoon(): void {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => this.persistPending(), 2000);
    this.persistTimer.unref();
  }

  /** Writes facts not recorded yet (the timer's, or at shutdown). */
  persistPending(): void {
    if (!this.persistTimer) return;
    try {
      this.persist();
    } catch (err) {
      this.m.log.warn({ connection: this.settings.title, err: (err as Error).message }, 'could not record the connection state');
    }
  }

  /** Stores tokens; when that fails they are kept here and stored before anything else is used. */
  save(t: StoredTokens): void {
    try {
      this.m.store.write(this.key, t);
      this.unsaved = undefined;
    } catch (err) {
      this.unsaved = t;
      throw this.fail('refresh_failing', `cannot store the new tokens of connection ${this.settings.title}: ${(err as Error).message}`);
    }
  }

  private fail(state: ConnectionHealth, reason: string): TokenError {
    this.setHealth(state, reason);
    return new TokenError(state === 'consent_needed' ? `connection ${this.settings.title} needs consent: ${reason}` : reason, state === 'consent_needed');
  }

  // ------------------------------------------------------------------ consent

  /** Stores the tokens of a completed consent: they replace the old ones; the flows keep running. */
  async connect(t: TokenSet, extra: Record<string, string>): Promise<void> {
    await this.m.store.withLock(this.key, async () => {
      const now = Date.now();
      const next: StoredTokens = {
        client: this.settings.clientFingerprint,
        refreshToken: t.refreshToken,
        refreshExpiresAt: t.refreshExpiresAt,
        accessToken: t.accessToken,
        tokenType: t.tokenType,
        expiresAt: t.expiresAt,
        scope: t.scope,
        connectedAt: now,
        refreshedAt: now,
        details: { ...t.extras, ...extra },
      };
      this.unsaved = undefined;
      this.save(next);
      this.rejectedValue = undefined;
      this.adopt(next, false);
      this.setHealth('connected', null);
    });
  }

  /** Revokes the tokens where the provider can, and forgets them. Returns what happened, in words. */
  async disconnect(): Promise<{ revoked: boolean; message: string }> {
    return this.m.store.withLock(this.key, async () => {
      const s = this.settings;
      let stored: StoredTokens | undefined;
      try {
        stored = this.m.store.read(this.key);
      } catch {
        stored = undefined;
      }
      const token = stored?.refreshToken ?? stored?.accessToken;
      let revoked = false;
      let message: string;
      if (!token) message = `connection ${s.title} had no tokens`;
      else if (!s.revokeUrl) message = `tokens of ${s.title} forgotten; ${s.revokeHint ?? `${s.provider} has no revocation endpoint (set revokeUrl): end the app's access in the provider's settings`}`;
      else {
        try {
          await revokeToken({ revokeUrl: s.revokeUrl, style: s.revokeStyle, token, tokenTypeHint: stored?.refreshToken ? 'refresh_token' : 'access_token', clientId: s.clientId, clientSecret: s.clientSecret, clientAuth: s.clientAuth, dispatcher: this.m.dispatcherFor(s.revokeUrl) });
          revoked = true;
          message = `tokens of ${s.title} revoked at ${new URL(s.revokeUrl).host} and forgotten`;
        } catch (err) {
          message = `tokens of ${s.title} forgotten, but revoking them failed (${(err as Error).message}): end the app's access in the provider's settings`;
        }
      }
      this.m.store.remove(this.key);
      this.unsaved = undefined;
      this.current = undefined;
      this.facts = {};
      this.setHealth(s.grant === 'authorization_code' ? 'consent_needed' : 'connected', s.grant === 'authorization_code' ? `disconnected ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: connect again to resume the flows using it` : null);
      return { revoked, message };
    });
  }
}

export class ConnectionManager {
  readonly db: Db;
  readonly store: TokenStore;
  readonly log: Logger;
  private readonly dispatcherOf?: (url: string) => Dispatcher;
  private readonly onChange?: ConnectionManagerOptions['onChange'];
  private readonly connections = new Map<string, Connection>();
  /** Connection keys each flow uses, by role. */
  private readonly uses = new Map<string, { source: Set<string>; destination: Set<string> }>();
  private readonly sessions = new Map<string, ConsentSession>();
  private readonly outcomes = new Map<string, ConsentOutcome>();
  private named: Record<string, ConnectionConfig> = {};

  constructor(opts: ConnectionManagerOptions, connections: Record<string, ConnectionConfig>) {
    this.db = opts.db;
    this.store = opts.store;
    this.log = opts.log;
    this.dispatcherOf = opts.dispatcherFor;
    this.onChange = opts.onChange;
    this.configure(connections);
  }

  /** The dispatcher for a token or revocation request to this URL: the network setting's, looked up per request. */
  dispatcherFor(url: string): Dispatcher | undefined {
    return this.dispatcherOf?.(url);
  }

  /** Takes the config's connections (at start and on every config change): changed ones reload their tokens. */
  configure(connections: Record<string, ConnectionConfig>): void {
    this.named = connections;
    for (const [name, cfg] of Object.entries(connections)) {
      const settings = resolveConnection(name, cfg);
      const known = this.connections.get(name);
      if (!known) this.connections.set(name, new Connection(this, settings));
      else if (JSON.stringify(known.settings) !== JSON.stringify(settings)) {
        known.settings = settings;
        known.load();
      }
    }
    for (const [key, c] of this.connections) if (!c.settings.inline && !(key in connections)) this.connections.delete(key);
  }

  /** The health a connection had when this process last wrote it (kept across restarts). */
  previousHealth(key: string): { state: ConnectionHealth; reason: string | null; since: number } | undefined {
    const row = this.db.prepare<[string], { state: ConnectionHealth; reason: string | null; since: number }>('SELECT state, reason, since FROM connection_state WHERE key = ?').get(key);
    return row ?? undefined;
  }

  changed(key: string, health: ConnectionHealth): void {
    this.onChange?.(key, health);
  }

  /** The token provider a flow's connector gets for one of its `auth: { type: oauth2 }` blocks. */
  provider(auth: OAuthClientConfig, flow: string, role: 'source' | 'destination'): TokenProvider {
    let c: Connection | undefined;
    if ('connection' in auth) {
      c = this.connections.get(auth.connection);
      if (!c) throw new Error(`no connection named "${auth.connection}"`);
    } else {
      const settings = inlineConnection(auth, flow);
      c = this.connections.get(settings.key);
      if (!c) this.connections.set(settings.key, (c = new Connection(this, settings)));
      else c.settings.clientSecret = settings.clientSecret; // a changed secret applies; the tokens stay
    }
    let u = this.uses.get(flow);
    if (!u) this.uses.set(flow, (u = { source: new Set(), destination: new Set() }));
    u[role].add(c.key);
    return c;
  }

  /** Forgets which connections a flow used (it is being rebuilt or removed). */
  forgetFlow(flow: string): void {
    this.uses.delete(flow);
  }

  /** Flows using a connection (any role). */
  flowsUsing(key: string): string[] {
    return [...this.uses].filter(([, u]) => u.source.has(key) || u.destination.has(key)).map(([f]) => f);
  }

  /** Why a flow's deliveries wait (its destination's connection needs consent), or undefined. */
  holdReason(flow: string): string | undefined {
    const u = this.uses.get(flow);
    if (!u) return undefined;
    for (const key of u.destination) {
      const c = this.connections.get(key);
      if (c?.health.state === 'consent_needed') return `deliveries wait: connection ${c.settings.title} needs consent (${c.health.reason ?? 'not connected'})`;
    }
    return undefined;
  }

  get(name: string): Connection | undefined {
    return this.connections.get(name);
  }

  /**
   * Removes the stored tokens of inline settings no flow uses any more (a new refresh token pasted, a flow
   * removed). A named connection's tokens stay when it leaves the config for a while: `ferry disconnect`
   * revokes and forgets them.
   */
  pruneUnused(): string[] {
    const removed: string[] = [];
    for (const key of this.store.list()) {
      if (!key.startsWith('inline-') || this.connections.has(key)) continue;
      this.store.remove(key);
      this.db.prepare('DELETE FROM connection_state WHERE key = ?').run(key);
      removed.push(key);
    }
    return removed;
  }

  private namedConnection(name: string): Connection {
    const c = this.connections.get(name);
    if (!c || c.settings.inline) throw new ConsentError(`no connection named "${name}" (connections: ${Object.keys(this.named).join(', ') || 'none'})`);
    return c;
  }

  // ------------------------------------------------------------------ consent

  /** Starts a consent: returns the provider's consent URL (open it in a browser) and an id to follow it. */
  beginConsent(name: string, redirectUri: string): ConsentSession {
    const c = this.namedConnection(name);
    const now = Date.now();
    for (const [state, s] of this.sessions) if (s.expiresAt < now) this.sessions.delete(state);
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value as string);
    const session = newConsent(c.settings, redirectUri, now);
    this.sessions.set(session.state, session);
    this.outcomes.set(name, { id: session.id, state: 'pending', at: now });
    this.log.info({ connection: name, redirectUri }, 'OAuth consent started');
    return session;
  }

  /** The latest consent of a connection, if one was started in this process. */
  consentOutcome(name: string): ConsentOutcome | undefined {
    return this.outcomes.get(name);
  }

  /**
   * Completes a consent from what came back: the redirect to the callback route (with state), or what an admin
   * pasted for `connection` (then a bare code belongs to that connection's latest consent). Throws ConsentError
   * with the one-line reason.
   */
  async completeConsent(answer: ConsentAnswer, connection?: string): Promise<{ connection: string; message: string }> {
    const p = answer.params;
    const state = p.get('state');
    let session = state ? this.sessions.get(state) : undefined;
    if (!session && !state && connection) {
      session = [...this.sessions.values()].filter((s) => s.connection === connection && s.expiresAt > Date.now()).pop();
      if (!session) throw this.failConsent(connection, new ConsentError(`no consent of connection ${connection} is waiting for a code: start it again (ferry connect ${connection})`));
    }
    if (!session || (connection && session.connection !== connection)) {
      throw this.failConsent(connection, new ConsentError('state mismatch: this answer does not belong to a consent Ferry started here (or it is older than 10 minutes); connect again (Connect, or ferry connect)'));
    }
    const c = this.namedConnection(session.connection);
    const name = session.connection;
    if (session.expiresAt < Date.now()) {
      this.sessions.delete(session.state);
      throw this.failConsent(name, new ConsentError('this consent was started more than 10 minutes ago and has expired: connect again (Connect, or ferry connect)'));
    }
    if (answer.arrivedAt && !sameRedirect(answer.arrivedAt, session.redirectUri)) {
      throw this.failConsent(name, new ConsentError(`wrong redirect: the consent must come back to ${session.redirectUri}, this answer went to ${answer.arrivedAt}`));
    }
    this.sessions.delete(session.state); // one use: a replayed redirect is a state mismatch
    if (p.get('error')) throw this.failConsent(name, new ConsentError(providerRefusal(p, c.settings, session.redirectUri)));
    const code = p.get('code');
    if (!code) throw this.failConsent(name, new ConsentError('the answer has no code: paste the whole address the browser ended on'));
    const s = c.settings;
    let t: TokenSet;
    try {
      t = await tokenRequest(s, { grant_type: 'authorization_code', code, redirect_uri: session.redirectUri, code_verifier: session.verifier }, this.dispatcherFor(s.tokenUrl));
    } catch (err) {
      const e = err instanceof OAuthEndpointError ? err : new OAuthEndpointError((err as Error).message);
      throw this.failConsent(name, new ConsentError(codeRefusal(e, session.redirectUri)));
    }
    if (!t.refreshToken) {
      // without a refresh token the connection would need consent again when the access token expires
      if (t.lifetimeStated && t.lifetimeMs < 30 * 86_400_000) {
        throw this.failConsent(name, new ConsentError(`${s.provider} gave no refresh token, so Ferry could not renew access after ${Math.round(t.lifetimeMs / 60_000)} min: ${s.noRefreshTokenHint}; then connect again (Connect, or ferry connect)`));
      }
      // no stated lifetime and nothing to renew it with: a token that lives until revoked (an API's 401 ends it)
      if (!t.lifetimeStated) t = { ...t, expiresAt: Date.now() + 10 * 365 * 86_400_000 };
    }
    const extra: Record<string, string> = {};
    for (const k of s.keepFromCallback) {
      const v = p.get(k);
      if (v) extra[k] = v;
    }
    try {
      await c.connect(t, extra);
    } catch (err) {
      throw this.failConsent(name, new ConsentError(err instanceof TokenStoreError || err instanceof TokenError ? err.message : `storing the tokens failed: ${(err as Error).message}`));
    }
    this.outcomes.set(name, { id: session.id, state: 'connected', at: Date.now() });
    const flows = this.flowsUsing(name);
    this.log.info({ connection: name, flows }, 'OAuth consent given: connection connected');
    return { connection: name, message: `connection ${name} connected${t.scope ? ` (scopes: ${t.scope})` : ''}${flows.length ? `; flows using it: ${flows.join(', ')}` : ''}` };
  }

  /** Completes a consent from pasted text (the redirect URL, its query or the code). */
  completePasted(connection: string, input: string): Promise<{ connection: string; message: string }> {
    let answer: ConsentAnswer;
    try {
      answer = parsePasted(input);
    } catch (err) {
      return Promise.reject(this.failConsent(connection, err as ConsentError));
    }
    return this.completeConsent(answer, connection);
  }

  private failConsent(name: string | undefined, err: ConsentError): ConsentError {
    if (name) {
      const o = this.outcomes.get(name);
      this.outcomes.set(name, { id: o?.id ?? '', state: 'failed', reason: err.message, at: Date.now() });
      this.log.warn({ connection: name, reason: err.message }, 'OAuth consent failed');
    }
    return err;
  }

  /** Records what is not yet recorded (before the database closes). */
  close(): void {
    for (const c of this.connections.values()) c.persistPending();
  }

  async disconnect(name: string): Promise<{ revoked: boolean; message: string }> {
    const c = this.namedConnection(name);
    const r = await c.disconnect();
    this.log.info({ connection: name, revoked: r.revoked }, r.message);
    return r;
  }
}
