// Update checks follow the network setting as far as Electron lets them. electron-updater talks through
// Electron's own network stack (Chromium, in its session "electron-updater"), not undici, so the setting is
// translated: the proxy mode, URL and bypass rules become the session's proxy config, the proxy's
// credentials answer the updater's login event, and the roots of network.tls.ca are accepted by a
// certificate check that only adds trust to Chromium's verdict (Chromium already uses the OS store, so
// systemCa is always on there). Plain functions: no electron import at run time.
import crypto from 'node:crypto';
import net from 'node:net';
import type { Session } from 'electron';
import type { NetworkConfig } from '../engine/index.ts';
import { readCertificateFile } from '../engine/index.ts';

/** Electron's ProxyConfig (session.setProxy). */
export interface ElectronProxyConfig {
  mode: 'direct' | 'system' | 'fixed_servers';
  proxyRules?: string;
  proxyBypassRules?: string;
}

const proxyObject = (n: NetworkConfig) => (typeof n.proxy === 'string' ? { url: n.proxy, noProxy: [] as string[], username: undefined, password: undefined } : n.proxy);

/** "http://user:pw@p:3128" → "http://p:3128": Chromium takes no credentials in its rules. */
function bare(url: string): string {
  const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`);
  return `${u.protocol}//${u.host}`;
}

/** The session proxy config for a network setting (`env` is read from `env`, as the engine does). */
export function electronProxyConfig(n: NetworkConfig, env: NodeJS.ProcessEnv): ElectronProxyConfig {
  const p = proxyObject(n);
  const bypass = (extra: string[]) => [...extra, ...p.noProxy].join(',');
  switch (p.url) {
    case 'none':
      return { mode: 'direct' };
    case 'system':
      return { mode: 'system', ...(p.noProxy.length ? { proxyBypassRules: bypass([]) } : {}) };
    case 'env': {
      const https = env.https_proxy ?? env.HTTPS_PROXY ?? env.http_proxy ?? env.HTTP_PROXY;
      const http = env.http_proxy ?? env.HTTP_PROXY;
      if (!https && !http) return { mode: 'direct' };
      const rules = [https ? `https=${bare(https)}` : undefined, http ? `http=${bare(http)}` : undefined].filter(Boolean).join(';');
      const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '').split(/[,\s]+/).filter(Boolean);
      return { mode: 'fixed_servers', proxyRules: rules, proxyBypassRules: bypass(noProxy) };
    }
    default:
      return { mode: 'fixed_servers', proxyRules: bare(p.url), proxyBypassRules: bypass([]) };
  }
}

/** The credentials to answer a proxy's login with: the setting's, else those in an HTTPS_PROXY URL. */
export function proxyCredentials(n: NetworkConfig, env: NodeJS.ProcessEnv): { username: string; password: string } | undefined {
  const p = proxyObject(n);
  if (p.username !== undefined) return { username: p.username, password: p.password ?? '' };
  const fromUrl = p.url === 'env' ? (env.https_proxy ?? env.HTTPS_PROXY ?? env.http_proxy ?? env.HTTP_PROXY) : p.url;
  if (!fromUrl || fromUrl === 'system' || fromUrl === 'none') return undefined;
  try {
    const u = new URL(fromUrl);
    return u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a chain (leaf first, PEM) is valid for `host` now and ends at one of `roots`: every certificate in
 * its validity period, each signed by the next, every issuer a CA, the last signed by (or being) a root.
 */
export function trustedByRoots(chainPems: string[], rootPems: string[], host: string, now = new Date()): boolean {
  if (chainPems.length === 0 || rootPems.length === 0) return false;
  let chain: crypto.X509Certificate[];
  let roots: crypto.X509Certificate[];
  try {
    chain = chainPems.map((p) => new crypto.X509Certificate(p));
    roots = rootPems.map((p) => new crypto.X509Certificate(p));
  } catch {
    return false;
  }
  const leaf = chain[0];
  if (!(net.isIP(host) ? leaf.checkIP(host) : leaf.checkHost(host))) return false;
  const valid = (c: crypto.X509Certificate) => new Date(c.validFrom) <= now && now <= new Date(c.validTo);
  const signs = (issuer: crypto.X509Certificate, c: crypto.X509Certificate) => issuer.ca && c.checkIssued(issuer) && c.verify(issuer.publicKey);
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i];
    if (!valid(c)) return false;
    if (roots.some((r) => r.fingerprint256 === c.fingerprint256 && r.ca && i > 0) || roots.some((r) => valid(r) && signs(r, c))) return true;
    const next = chain[i + 1];
    if (!next || !signs(next, c)) return false;
  }
  return false;
}

/** The PEM chain of an Electron Certificate (leaf first). */
function chainOf(cert: { data: string; issuerCert?: unknown }): string[] {
  const out: string[] = [];
  let c: { data: string; issuerCert?: unknown } | undefined = cert;
  while (c && out.length < 10) {
    out.push(c.data);
    const next = c.issuerCert as { data: string; issuerCert?: unknown } | undefined;
    c = next && next.data !== c.data ? next : undefined;
  }
  return out;
}

/** The parts of electron-updater's AppUpdater this needs. */
export interface UpdaterNet {
  readonly netSession: Session;
  on(event: 'login', handler: (authInfo: { isProxy?: boolean }, callback: (username?: string, password?: string) => void) => void): unknown;
  removeAllListeners(event: 'login'): unknown;
}

/** Points the updater's session at the network setting (called before each update check). */
export async function followNetworkSetting(updater: UpdaterNet, n: NetworkConfig, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const session = updater.netSession;
  await session.setProxy(electronProxyConfig(n, env));
  const creds = proxyCredentials(n, env);
  updater.removeAllListeners('login');
  updater.on('login', (authInfo, callback) => (authInfo?.isProxy && creds ? callback(creds.username, creds.password) : callback()));
  const roots = n.tls.ca.flatMap((f) => readCertificateFile(f));
  session.setCertificateVerifyProc(
    roots.length === 0
      ? null
      : (req, callback) => {
          // -3: Chromium's own verdict; 0: trusted by a root of network.tls.ca
          if (req.verificationResult === 'OK') return callback(-3);
          callback(trustedByRoots(chainOf(req.certificate), roots, req.hostname) ? 0 : -3);
        },
  );
}
