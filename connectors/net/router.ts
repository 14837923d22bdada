// Decides, per origin, whether a request goes direct or through which proxy, from one proxy setting: a URL,
// `env` (HTTPS_PROXY / HTTP_PROXY / NO_PROXY), `system` (the OS settings, or per URL from the desktop app,
// which evaluates PAC files) or `none`. Each answer carries why, for `ferry check` ("noProxy *.corp.local").
import crypto from 'node:crypto';
import type { ConnectorLogger } from '../contract.ts';
import { isLoopback, NoProxy, splitRuleList } from './no-proxy.ts';
import { PROXY_MODES, proxyUrlProblem, type ProxyConfig, type ProxyMode } from './schema.ts';
import { parsePacAnswer, readSystemProxy, type SystemProxy } from './system-proxy.ts';
import type { ProxyEndpoint } from './tunnel.ts';

export type Route = { kind: 'direct'; why: string } | { kind: 'proxy'; proxy: ProxyEndpoint; why: string };

/** Answers a URL with a PAC-style list ("PROXY p:3128; DIRECT"): Electron's session.resolveProxy. */
export type ProxyResolver = (url: string) => Promise<string>;

export interface RouterOptions {
  env: NodeJS.ProcessEnv;
  resolveProxy?: ProxyResolver;
  log?: ConnectorLogger;
  /** The config key of this setting, for messages: "network.proxy" or a connector's "proxy". */
  key: string;
}

/** How long a per-URL answer of the desktop app (PAC) is reused for the same origin. */
const PAC_TTL_MS = 5 * 60_000;

/** Builds the endpoint of a proxy URL; credentials from the setting win over ones in the URL (HTTPS_PROXY=http://u:p@…). */
export function proxyEndpoint(text: string, creds: { username?: string; password?: string }, credentialsKey: string): ProxyEndpoint {
  const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  const user = creds.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const pass = creds.username !== undefined ? creds.password : u.password ? decodeURIComponent(u.password) : undefined;
  const authorization = user !== undefined ? `Basic ${Buffer.from(`${user}:${pass ?? ''}`).toString('base64')}` : undefined;
  u.username = '';
  u.password = '';
  const display = `${u.protocol}//${u.host}`;
  const key = `${display}|${authorization ? crypto.createHash('sha256').update(authorization).digest('hex').slice(0, 16) : ''}`;
  return { url: u, display, authorization, credentialsKey, key };
}

const defaultPort = (u: URL) => Number(u.port) || (u.protocol === 'https:' ? 443 : 80);

export class Router {
  readonly mode: ProxyMode | 'url';
  private readonly opts: RouterOptions;
  private readonly creds: { username?: string; password?: string };
  private readonly configNoProxy: NoProxy;
  private readonly fixed?: ProxyEndpoint;
  private readonly envNoProxy: NoProxy;
  private readonly routes = new Map<string, Route>();
  private readonly pac = new Map<string, { route: Route; until: number }>();
  private system?: Promise<SystemProxy | undefined>;
  /** The OS settings once read; null where there are none (Linux). */
  private systemSettings?: SystemProxy | null;
  private warned = new Set<string>();

  constructor(setting: ProxyConfig, opts: RouterOptions) {
    const p = typeof setting === 'string' ? { url: setting, noProxy: [] as string[] } : setting;
    this.opts = opts;
    this.mode = (PROXY_MODES as readonly string[]).includes(p.url) ? (p.url as ProxyMode) : 'url';
    this.creds = { username: p.username, password: p.password };
    this.configNoProxy = new NoProxy(p.noProxy);
    if (this.mode === 'url') this.fixed = proxyEndpoint(p.url, this.creds, opts.key);
    this.envNoProxy = new NoProxy(splitRuleList(opts.env.no_proxy ?? opts.env.NO_PROXY));
    for (const i of this.envNoProxy.ignored) this.warnOnce(`NO_PROXY rule ${JSON.stringify(i.rule)} ignored: ${i.reason}`);
  }

  private warnOnce(msg: string): void {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.opts.log?.warn(msg);
  }

  /** The proxy variable for a scheme, as undici's EnvHttpProxyAgent reads them (https falls back to http). */
  private envProxy(https: boolean): { name: string; value: string } | undefined {
    const e = this.opts.env;
    const order = https ? ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] : ['http_proxy', 'HTTP_PROXY'];
    for (const name of order) if (e[name]) return { name, value: e[name]! };
    return undefined;
  }

  private viaEnv(u: URL, label: string): Route {
    const v = this.envProxy(u.protocol === 'https:');
    if (!v) return { kind: 'direct', why: `${label}: no proxy variable set` };
    const rule = this.envNoProxy.match(u.hostname, defaultPort(u));
    if (rule) return { kind: 'direct', why: `NO_PROXY ${rule}` };
    if (!this.envNoProxy.loopbackThroughProxy && !this.configNoProxy.loopbackThroughProxy && isLoopback(u.hostname)) return { kind: 'direct', why: 'loopback' };
    const problem = proxyUrlProblem(/^[a-z][a-z0-9+.-]*:\/\//i.test(v.value) ? v.value.replace(/\/\/[^@/]*@/, '//') : `http://${v.value}`);
    if (problem) {
      this.warnOnce(`${v.name} ignored: ${problem}`);
      return { kind: 'direct', why: `${v.name} is unusable (${problem})` };
    }
    return { kind: 'proxy', proxy: proxyEndpoint(v.value, this.creds, this.opts.key), why: label === 'env' ? v.name : `${label}: ${v.name}` };
  }

  private viaSystem(u: URL, sys: SystemProxy | null): Route {
    if (sys === null) return this.viaEnv(u, 'system (Linux: the environment)');
    if (sys.problem) return { kind: 'direct', why: sys.problem };
    const rule = new NoProxy(sys.bypass).match(u.hostname, defaultPort(u));
    if (rule) return { kind: 'direct', why: `system bypass ${rule}` };
    const addr = u.protocol === 'https:' ? sys.https : sys.http;
    if (addr) return { kind: 'proxy', proxy: proxyEndpoint(addr, this.creds, this.opts.key), why: `system (${sys.source})` };
    if (sys.pac || sys.autoDetect) {
      const why = `the system uses ${sys.pac ? `a PAC file (${sys.pac})` : 'proxy auto-detection'}, which only the desktop app evaluates; headless Ferry connects directly (set network.proxy.url)`;
      this.warnOnce(why);
      return { kind: 'direct', why };
    }
    return { kind: 'direct', why: `no system proxy (${sys.source})` };
  }

  private compute(origin: string): Route | undefined {
    const u = new URL(origin);
    if (this.mode === 'none') return { kind: 'direct', why: `${this.opts.key}: none` };
    const rule = this.configNoProxy.match(u.hostname, defaultPort(u));
    if (rule) return { kind: 'direct', why: `${this.opts.key}.noProxy ${rule}` };
    // env mode decides after NO_PROXY, which may itself say "<-loopback>"
    if (this.mode !== 'env' && !this.configNoProxy.loopbackThroughProxy && isLoopback(u.hostname)) return { kind: 'direct', why: 'loopback' };
    switch (this.mode) {
      case 'url':
        return { kind: 'proxy', proxy: this.fixed!, why: this.opts.key };
      case 'env':
        return this.viaEnv(u, 'env');
      case 'system': {
        if (this.opts.resolveProxy) {
          const hit = this.pac.get(origin);
          return hit && hit.until > Date.now() ? hit.route : undefined;
        }
        return this.systemSettings === undefined ? undefined : this.viaSystem(u, this.systemSettings);
      }
    }
  }

  /** The route for an origin when known without waiting (the usual case), else undefined: call resolve(). */
  cached(origin: string): Route | undefined {
    const known = this.routes.get(origin);
    if (known) return known;
    const r = this.compute(origin);
    // the desktop app's per-URL answers expire (pac); every other answer holds for the life of the setting
    if (r && !(this.mode === 'system' && this.opts.resolveProxy)) this.routes.set(origin, r);
    return r;
  }

  /** The route for an origin, asking the OS or the desktop app when needed. Never rejects. */
  async resolve(origin: string): Promise<Route> {
    const known = this.cached(origin);
    if (known) return known;
    if (this.opts.resolveProxy) {
      let route: Route;
      try {
        const answer = parsePacAnswer(await this.opts.resolveProxy(`${origin}/`));
        route =
          answer.kind === 'proxy' ? { kind: 'proxy', proxy: proxyEndpoint(answer.url, this.creds, this.opts.key), why: 'system (desktop app, PAC included)' }
          : answer.kind === 'direct' ? { kind: 'direct', why: 'system (desktop app): DIRECT' }
          : { kind: 'direct', why: `system (desktop app) answered "${answer.entry}", which Ferry cannot use` };
      } catch (err) {
        route = { kind: 'direct', why: `the desktop app could not resolve the proxy (${(err as Error).message})` };
      }
      this.pac.set(origin, { route, until: Date.now() + PAC_TTL_MS });
      return route;
    }
    this.system ??= readSystemProxy();
    const sys = (await this.system) ?? null;
    if (sys?.problem) this.warnOnce(sys.problem);
    this.systemSettings = sys;
    return this.cached(origin)!;
  }

  /** One line on where this setting sends requests, for `ferry check`. */
  async describe(): Promise<string> {
    const k = this.opts.key;
    const rules = this.configNoProxy.texts;
    const noProxy = rules.length ? `; noProxy ${rules.join(', ')}` : '';
    const user = this.creds.username !== undefined ? ` as ${this.creds.username}` : '';
    switch (this.mode) {
      case 'none':
        return `${k}: none (every request goes direct)`;
      case 'url':
        return `${k}: ${this.fixed!.display}${user}${noProxy}`;
      case 'env': {
        const https = this.envProxy(true);
        const http = this.envProxy(false);
        if (!https && !http) return `${k}: env, and no HTTPS_PROXY or HTTP_PROXY is set (direct)${noProxy}`;
        const show = (v?: { name: string; value: string }) => (v ? `${v.name}=${proxyEndpoint(v.value, {}, k).display}` : undefined);
        const envNoProxy = this.opts.env.no_proxy ?? this.opts.env.NO_PROXY;
        return `${k}: env (${[show(https), http?.name !== https?.name ? show(http) : undefined, envNoProxy ? `NO_PROXY=${envNoProxy}` : undefined].filter(Boolean).join(', ')})${user}${noProxy}`;
      }
      case 'system': {
        if (this.opts.resolveProxy) return `${k}: system (the desktop app answers per URL, PAC files included)${noProxy}`;
        this.system ??= readSystemProxy();
        const sys = (await this.system) ?? null;
        this.systemSettings = sys;
        if (sys === null) return `${k}: system; Linux has no system proxy setting beyond the environment: ${(await new Router('env', this.opts).describe()).replace(/^[^:]+: /, '')}`;
        if (sys.problem) return `${k}: system: ${sys.problem}`;
        const parts = [sys.https ? `https via ${sys.https}` : undefined, sys.http ? `http via ${sys.http}` : undefined, sys.bypass.length ? `bypass ${sys.bypass.join(', ')}` : undefined];
        if (sys.pac) parts.push(`PAC file ${sys.pac} (evaluated by the desktop app only)`);
        if (sys.autoDetect) parts.push('auto-detection (desktop app only)');
        return `${k}: system (${sys.source}): ${parts.filter(Boolean).join('; ') || 'no proxy'}${user}${noProxy}`;
      }
    }
  }
}
