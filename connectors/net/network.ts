// The network facility: one setting (config `network:`), from which every outbound HTTP(S) client of the
// process takes its dispatcher: HTTP connectors, OAuth token requests, relays and callbacks, and the
// engine's own clients (engine.dispatcherFor). The engine builds one Network from the config and hands it
// to connectors in ConnectorEnv.net; a connector passes its own `proxy` / `tls` keys, which override.
import { request } from 'undici';
import type { ConnectorLogger } from '../contract.ts';
import { NetDispatcher, type PoolOptions } from './dispatcher.ts';
import { Router, type ProxyResolver } from './router.ts';
import { networkSchema, type EndpointTlsConfig, type NetworkConfig, type ProxyConfig } from './schema.ts';
import { normaliseFingerprint, Trust, type TlsSettings } from './trust.ts';

export interface NetworkOptions {
  /** Per-URL proxy answers for `proxy: system` (the desktop app passes Electron's session.resolveProxy). */
  resolveProxy?: ProxyResolver;
  log?: ConnectorLogger;
  /** The environment read by `proxy: env` (default: process.env, read when the Network is made). */
  env?: NodeJS.ProcessEnv;
}

/** A connector's overrides and pool settings. */
export interface DispatcherOptions extends Partial<PoolOptions> {
  proxy?: ProxyConfig;
  tls?: EndpointTlsConfig;
}

export interface ProbeResult {
  ok: boolean;
  /** "https://x answered HTTP 200 to HEAD" or the reason it failed. */
  message: string;
  /** The path taken (or that would be taken): "via proxy …; TLS by '…' (trusted: …)". */
  path: string;
  status?: number;
}

export class Network {
  readonly config: NetworkConfig;
  private readonly opts: NetworkOptions;
  private readonly env: NodeJS.ProcessEnv;
  private readonly router: Router;
  private shared?: NetDispatcher;
  private static fallback?: Network;

  constructor(config: NetworkConfig = networkSchema.parse({}), opts: NetworkOptions = {}) {
    this.config = config;
    this.opts = opts;
    this.env = { ...(opts.env ?? process.env) };
    this.router = new Router(config.proxy, { env: this.env, resolveProxy: opts.resolveProxy, log: opts.log, key: 'network.proxy' });
  }

  /** The network of a process without a config (a connector built on its own): proxy env, system store on. */
  static default(): Network {
    Network.fallback ??= new Network();
    return Network.fallback;
  }

  /** The TLS settings of a connector: the network's, with its own on top (its CAs are added, the rest replace). */
  tlsSettings(o?: EndpointTlsConfig): TlsSettings {
    const n = this.config.tls;
    const own = o && (o.cert || o.pfx);
    const client = own ? { cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase, from: 'tls' } : n.cert || n.pfx ? { cert: n.cert, key: n.key, pfx: n.pfx, passphrase: n.passphrase, from: 'network.tls' } : undefined;
    return {
      caFiles: [...n.ca.map((file) => ({ file, key: 'network.tls.ca' })), ...(o?.ca ?? []).map((file) => ({ file, key: 'tls.ca' }))],
      systemCa: o?.systemCa ?? n.systemCa,
      client,
      servername: o?.servername,
      fingerprint: o?.fingerprint ? normaliseFingerprint(o.fingerprint) : undefined,
    };
  }

  /** A dispatcher for one connector (close it with the connector). */
  dispatcher(o: DispatcherOptions = {}): NetDispatcher {
    const router = o.proxy === undefined ? this.router : new Router(o.proxy, { env: this.env, resolveProxy: this.opts.resolveProxy, log: this.opts.log, key: 'proxy' });
    const settings = this.tlsSettings(o.tls);
    const proxyTrust = new Trust({ caFiles: settings.caFiles, systemCa: settings.systemCa });
    return new NetDispatcher(router, new Trust(settings), proxyTrust, { connections: o.connections, timeoutMs: o.timeoutMs ?? 30_000, keepAliveMs: o.keepAliveMs });
  }

  /**
   * The dispatcher for a URL with the network setting alone, shared by the engine's own clients (config
   * pull, relay polling). Routing is per request, so one dispatcher serves every URL.
   */
  dispatcherFor(url: string | URL): NetDispatcher {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`expected an http(s) URL, got ${u.protocol}`);
    if (!this.shared || this.shared.isClosed) this.shared = this.dispatcher({ timeoutMs: 30_000 });
    return this.shared;
  }

  /** Sends HEAD to url through the setting (and overrides) and reports the path taken, or why it failed. Never throws. */
  async probe(url: string, o: DispatcherOptions = {}): Promise<ProbeResult> {
    let u: URL;
    try {
      u = new URL(url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
    } catch {
      return { ok: false, message: `expected an http(s) URL, got ${JSON.stringify(url)}`, path: '' };
    }
    const d = this.dispatcher({ ...o, connections: 1, timeoutMs: o.timeoutMs ?? 15_000 });
    try {
      const res = await request(u, { method: 'HEAD', dispatcher: d, signal: AbortSignal.timeout((o.timeoutMs ?? 15_000) + 5_000) });
      await res.body.dump();
      const path = await d.pathTo(u);
      return { ok: true, status: res.statusCode, message: `${u.origin} answered HTTP ${res.statusCode} to HEAD`, path };
    } catch (err) {
      return { ok: false, message: d.explain(err, u), path: await d.routeTo(u) };
    } finally {
      await d.close().catch(() => undefined);
    }
  }

  /** Lines describing the setting ("network.proxy: …", "trust: …"), for `ferry check` and the dashboard. */
  async describe(o: DispatcherOptions = {}): Promise<string[]> {
    const router = o.proxy === undefined ? this.router : new Router(o.proxy, { env: this.env, resolveProxy: this.opts.resolveProxy, key: 'proxy' });
    return [await router.describe(), `trust: ${await new Trust(this.tlsSettings(o.tls)).describe()}`];
  }

  async close(): Promise<void> {
    await this.shared?.close();
  }
}
