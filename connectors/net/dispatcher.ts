// An undici Dispatcher that routes each request by origin (direct, or through a proxy's CONNECT tunnel) and
// opens every connection itself: TCP, the tunnel, then TLS against the trust of the network setting (plus a
// connector's overrides), checked before undici writes a byte. One keep-alive pool per route, so tunnels
// are reused like direct connections. It remembers the path each origin took and the TLS alerts servers
// sent, to explain a failure and to tell `ferry check` "via proxy …; TLS by '…' (trusted: …)".
import type tls from 'node:tls';
import { Agent, buildConnector, Dispatcher, errors } from 'undici';
import { describeNetworkError } from './errors.ts';
import type { Route, Router } from './router.ts';
import { chainTop, type ChainTop, type Trust } from './trust.ts';
import { openTunnel } from './tunnel.ts';

export interface PoolOptions {
  /** Connections per origin (default: undici's, unlimited). */
  connections?: number;
  /** Connect (TCP, tunnel and TLS together), headers and body timeouts. */
  timeoutMs: number;
  /** How long an idle connection (or tunnel) is kept for reuse. */
  keepAliveMs?: number;
}

interface PathFacts {
  route: Route;
  top?: ChainTop;
  /** When the last connection to the origin was opened. */
  at: number;
}

/** A TLS alert counts as the cause of a dropped request this long after it arrived. */
const ALERT_MEMORY_MS = 10_000;
/** A connection dropped this soon after its handshake, with a client certificate presented, points at that certificate. */
const JUST_CONNECTED_MS = 2_000;

const originOf = (o: string | URL) => (typeof o === 'string' ? new URL(o).origin : o.origin);

export class NetDispatcher extends Dispatcher {
  private readonly router: Router;
  private readonly trust: Trust;
  private readonly proxyTrust: Trust;
  private readonly pool: PoolOptions;
  private readonly agents = new Map<string, Agent>();
  private readonly facts = new Map<string, PathFacts>();
  private readonly alerts = new Map<string, { code: string; at: number }>();
  private tlsConnect?: buildConnector.connector;
  private tcpConnect?: buildConnector.connector;
  private closed = false;
  /** Connections opened, per route kind (for tests and the benchmark: tunnels must be reused). */
  readonly opened = { direct: 0, proxy: 0 };

  constructor(router: Router, trust: Trust, proxyTrust: Trust, pool: PoolOptions) {
    super();
    this.router = router;
    this.trust = trust;
    this.proxyTrust = proxyTrust;
    this.pool = pool;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.closed) throw new errors.ClientClosedError();
    // undici's request() passes the URL's origin, already normalised: no parsing on the hot path
    const origin = typeof opts.origin === 'string' ? opts.origin : originOf(opts.origin!);
    const route = this.router.cached(origin);
    if (route) return this.agentFor(route).dispatch(opts, handler);
    // the OS settings or the desktop app's answer are on their way: dispatch once they are in
    void this.router.resolve(origin).then((r) => this.agentFor(r).dispatch(opts, handler));
    return true;
  }

  private agentFor(route: Route): Agent {
    const key = route.kind === 'direct' ? 'direct' : route.proxy.key;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new Agent({
        connections: this.pool.connections,
        keepAliveTimeout: this.pool.keepAliveMs ?? 4_000,
        headersTimeout: this.pool.timeoutMs,
        bodyTimeout: this.pool.timeoutMs,
        connect: (o, cb) => this.openConnection(route, o, cb),
      });
      this.agents.set(key, agent);
    }
    return agent;
  }

  /** Opens one connection for a pool: TCP or a tunnel, then TLS checked by this.trust. */
  private openConnection(route: Route, o: buildConnector.Options, cb: buildConnector.Callback): void {
    const origin = `${o.protocol}//${o.host ?? o.hostname}`;
    const https = o.protocol === 'https:';
    const name = this.trust.settings.servername ?? o.hostname.replace(/^\[|\]$/g, '');
    const done = (err: Error | null, socket?: import('node:net').Socket | tls.TLSSocket | null) => {
      if (err || !socket) return cb(err ?? new Error('no socket'), null);
      let top: ChainTop | undefined;
      if (https) {
        const s = socket as tls.TLSSocket;
        const bad = this.trust.verify(s, name);
        if (bad) {
          s.destroy();
          return cb(bad, null);
        }
        top = chainTop(s);
        // A server that wants a client certificate says so (TLS 1.3) after the handshake, in an alert that
        // undici reports only as "other side closed": remember it to explain that failure.
        s.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code?.startsWith('ERR_SSL_')) this.alerts.set(origin, { code: e.code, at: Date.now() });
        });
      }
      this.facts.set(origin, { route, top, at: Date.now() });
      this.opened[route.kind]++;
      cb(null, socket);
    };
    const start = (ctx?: tls.SecureContext) => {
      // No TLS session resumption: a resumed session shows no peer certificate, and every connection is
      // checked on its certificate (keep-alive makes new connections rare, so full handshakes cost little).
      if (https) this.tlsConnect ??= buildConnector({ secureContext: ctx, rejectUnauthorized: false, timeout: this.pool.timeoutMs, maxCachedSessions: 0 });
      else this.tcpConnect ??= buildConnector({ timeout: this.pool.timeoutMs });
      const connector = https ? this.tlsConnect! : this.tcpConnect!;
      const servername = this.trust.settings.servername;
      if (route.kind === 'direct') return connector({ ...o, ...(servername ? { servername } : {}) }, done);
      const port = o.port || (https ? '443' : '80');
      openTunnel(route.proxy, `${o.hostname}:${port}`, this.proxyTrust, this.pool.timeoutMs).then(
        (socket) => (https ? connector({ ...o, ...(servername ? { servername } : {}), httpSocket: socket }, done) : done(null, socket)),
        (err: Error) => cb(err, null),
      );
    };
    if (!https) return start();
    const ctx = this.trust.context();
    if (ctx instanceof Promise) ctx.then(start, (err: Error) => cb(err, null));
    else start(ctx);
  }

  /** The one-line reason for a failed request to url (NetError messages as they are; others mapped). */
  explain(err: unknown, url: URL | string): string {
    const u = typeof url === 'string' ? new URL(url) : url;
    const alert = this.alerts.get(u.origin);
    const opened = this.facts.get(u.origin)?.at;
    return describeNetworkError(err, u, {
      alert: alert && Date.now() - alert.at < ALERT_MEMORY_MS ? alert.code : undefined,
      clientCert: this.trust.hasClientCert,
      justConnected: opened !== undefined && Date.now() - opened < JUST_CONNECTED_MS,
    });
  }

  /**
   * "via proxy http://p:3128 (network.proxy); TLS by 'Corp CA' (trusted: system store)": the path of the last
   * connection to url's origin (or, before any, where one would go).
   */
  async pathTo(url: URL | string): Promise<string> {
    const u = typeof url === 'string' ? new URL(url) : url;
    const f = this.facts.get(u.origin);
    if (!f) return this.routeTo(u);
    const via = f.route.kind === 'direct' ? `direct (${f.route.why})` : `via proxy ${f.route.proxy.display} (${f.route.why})`;
    if (!f.top) return via;
    return `${via}; TLS by '${f.top.name}' (trusted: ${await this.trust.labelOf(f.top)})`;
  }

  /** For check(): the reason, and the proxy it went through when the reason does not name it. */
  async explainCheck(err: unknown, url: URL | string): Promise<string> {
    const reason = this.explain(err, url);
    const r = await this.router.resolve(originOf(url));
    return r.kind === 'proxy' && !reason.includes(r.proxy.display) ? `${reason} (via proxy ${r.proxy.display})` : reason;
  }

  /** Where a request to url would go now (no connection is made). */
  async routeTo(url: URL | string): Promise<string> {
    const r = await this.router.resolve(originOf(url));
    return r.kind === 'direct' ? `direct (${r.why})` : `via proxy ${r.proxy.display} (${r.why})`;
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.closed = true;
    const p = Promise.all([...this.agents.values()].map((a) => a.close())).then(() => undefined);
    if (callback) void p.then(callback);
    else return p;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    this.closed = true;
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const p = Promise.all([...this.agents.values()].map((x) => x.destroy(err))).then(() => undefined);
    if (callback) void p.then(callback);
    else return p;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
