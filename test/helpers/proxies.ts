// Real forward proxies, started by the tests on 127.0.0.1 with their own config in a scratch folder:
// Debian's tinyproxy and Squid (both with optional Basic auth; their logs show every CONNECT) and
// mitmproxy's mitmdump as a TLS-inspecting proxy re-signing every server with its own CA.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './net.ts';
import { makeCa, sharedDir, type CertFiles } from './certs.ts';

export const TINYPROXY = '/usr/bin/tinyproxy';
export const SQUID = '/usr/sbin/squid';
export const MITMDUMP = '/usr/bin/mitmdump';

export interface RunningProxy {
  /** "http://127.0.0.1:<port>" */
  url: string;
  port: number;
  pid: number;
  /** The proxy's log so far (tinyproxy/Squid: one line per CONNECT). */
  log(): string;
  /** How many tunnels (CONNECT requests that were let through) the log shows. */
  tunnels(): number;
  stop(): Promise<void>;
}

const running = new Set<RunningProxy>();
/** Stops every proxy still running (after a test file, by vitest; benchmarks call it themselves). */
export async function stopAllProxies(): Promise<void> {
  for (const p of [...running]) await p.stop();
}
if (process.env.VITEST) (await import('vitest')).afterAll(stopAllProxies);

export const proxyAvailable = (bin: string) => fs.existsSync(bin);

async function listening(port: number, child: ChildProcess, output: () => string, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what} did not listen on ${port}: ${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Launched = ReturnType<typeof launch>;

/** The RunningProxy of a launched proxy, stopped with the test file (or stopAllProxies). */
function tracked(p: Launched, port: number, log: () => string, tunnels: () => number): RunningProxy {
  const proxy: RunningProxy = {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: p.child.pid!,
    log,
    tunnels,
    stop: async () => {
      running.delete(proxy);
      await p.stop();
    },
  };
  running.add(proxy);
  return proxy;
}

function launch(cmd: string, args: string[]): { child: ChildProcess; output: () => string; stop(): Promise<void> } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out.slice(-4000),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const late = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(late);
    },
  };
}

/** Debian's tinyproxy; with `auth`, Basic credentials are required (wrong ones get 401, none get 407). */
export async function startTinyproxy(opts: { auth?: { user: string; password: string } } = {}): Promise<RunningProxy> {
  const dir = sharedDir('ferry-tinyproxy-');
  const port = await freePort();
  const logFile = path.join(dir, 'tinyproxy.log');
  const conf = path.join(dir, 'tinyproxy.conf');
  fs.writeFileSync(conf, [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Timeout 600',
    `LogFile "${logFile}"`,
    'LogLevel Connect',
    'MaxClients 512',
    'DisableViaHeader Yes',
    ...(opts.auth ? [`BasicAuth ${opts.auth.user} ${opts.auth.password}`] : []),
  ].join('\n'));
  const p = launch(TINYPROXY, ['-d', '-c', conf]);
  await listening(port, p.child, p.output, 'tinyproxy');
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  return tracked(p, port, log, () => (log().match(/Established connection to host/g) ?? []).length);
}

/** The uid Squid switches to when started as root (Debian's `proxy`), which must own its logs. */
function squidUser(): number | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    return Number(execFileSync('id', ['-u', 'proxy'], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

/** Debian's Squid with Basic auth (basic_ncsa_auth and an htpasswd file made with openssl); wrong credentials get 407. */
export async function startSquid(opts: { auth?: { user: string; password: string } } = {}): Promise<RunningProxy> {
  const dir = sharedDir('ferry-squid-');
  const port = await freePort();
  const access = path.join(dir, 'access.log');
  const cache = path.join(dir, 'cache.log');
  const htpasswd = path.join(dir, 'htpasswd');
  if (opts.auth) {
    const hash = execFileSync('openssl', ['passwd', '-apr1', opts.auth.password], { encoding: 'utf8' }).trim();
    fs.writeFileSync(htpasswd, `${opts.auth.user}:${hash}\n`, { mode: 0o644 });
  }
  for (const f of [access, cache]) fs.writeFileSync(f, '', { mode: 0o644 });
  const uid = squidUser();
  if (uid !== undefined) {
    fs.chownSync(dir, uid, -1);
    for (const f of [access, cache]) fs.chownSync(f, uid, -1);
  }
  const conf = path.join(dir, 'squid.conf');
  fs.writeFileSync(conf, [
    `http_port 127.0.0.1:${port}`,
    `pid_filename ${path.join(dir, 'squid.pid')}`,
    'cache deny all',
    'cache_mem 8 MB',
    `access_log stdio:${access}`,
    `cache_log ${cache}`,
    'cache_store_log none',
    `coredump_dir ${dir}`,
    'pinger_enable off',
    'shutdown_lifetime 0 seconds',
    // the tests' servers listen on high ports: let CONNECT reach any port
    'acl SSL_ports port 1-65535',
    ...(opts.auth
      ? [`auth_param basic program /usr/lib/squid/basic_ncsa_auth ${htpasswd}`, 'auth_param basic realm ferry-test', 'acl authed proxy_auth REQUIRED', 'http_access allow authed']
      : ['http_access allow localhost']),
    'http_access deny all',
  ].join('\n'));
  const p = launch(SQUID, ['-N', '-f', conf]);
  await listening(port, p.child, () => `${p.output()}\n${fs.readFileSync(cache, 'utf8').slice(-2000)}`, 'squid');
  const log = () => fs.readFileSync(access, 'utf8');
  return tracked(p, port, log, () => log().split('\n').filter((l) => / CONNECT /.test(l) && !/TCP_DENIED|\/40[37] /.test(l)).length);
}

/**
 * mitmproxy's mitmdump as a TLS-inspecting proxy: it answers every HTTPS server with a certificate signed by
 * `ca` (as a company's inspection CA would), and itself trusts the servers signed by `upstreamCa`.
 */
export async function startMitmproxy(opts: { ca: CertFiles; upstreamCa: string }): Promise<RunningProxy> {
  const dir = sharedDir('ferry-mitm-');
  fs.writeFileSync(path.join(dir, 'mitmproxy-ca.pem'), `${opts.ca.keyPem}${opts.ca.certPem}`, { mode: 0o600 });
  const port = await freePort();
  const p = launch(MITMDUMP, ['--listen-host', '127.0.0.1', '--listen-port', String(port), '--set', `confdir=${dir}`, '--set', `ssl_verify_upstream_trusted_ca=${opts.upstreamCa}`, '--flow-detail', '0']);
  await listening(port, p.child, p.output, 'mitmdump', 60_000);
  return tracked(p, port, p.output, () => (p.output().match(/client connect/g) ?? []).length);
}

/** A TLS-inspecting proxy with a fresh root named 'Corp Inspection CA', in front of servers signed by `upstreamCa`. */
export async function startInspectingProxy(upstreamCa: string): Promise<{ ca: CertFiles; proxy: RunningProxy }> {
  const ca = makeCa('Corp Inspection CA');
  return { ca, proxy: await startMitmproxy({ ca, upstreamCa }) };
}
