// `ferry connect NAME` and `ferry disconnect NAME`: give (or withdraw) an OAuth connection's consent from a
// terminal. With an engine running, the CLI asks it through its admin API (the engine owns the tokens); without
// one, it runs the consent itself and stores the tokens in the data dir. The consent page opens in the system
// browser; on a machine without one the URL is printed to open anywhere, and the address the browser ended on
// (or the code) is pasted back.
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from '../engine/config/load.ts';
import { readAdminInfo, readAdminToken } from '../engine/admin/login.ts';
import { openStore } from '../engine/engine.ts';
import { SecretStore } from '../engine/secrets.ts';
import { silentLogger } from '../engine/logger.ts';
import { ConnectionManager } from '../engine/oauth/connections.ts';
import { TokenStore } from '../engine/oauth/token-store.ts';
import { CALLBACK_PATH, resolveConnection } from '../engine/oauth/config.ts';
import { ConsentError, redirectUriFor } from '../engine/oauth/consent.ts';
import { CALLBACK_HEADERS, callbackPage } from '../engine/admin/connections.ts';
import type { ConnectionStatus } from '../engine/oauth/state.ts';
import type { ConnectionView, ConsentStartReply } from '../engine/admin/connection-types.ts';
import { isDataDirLocked } from '../engine/store/datadir.ts';
import { HttpApi } from '../engine/api/http-api.ts';
import { FerryApiError } from '../engine/api/errors.ts';
import { Network } from '../../connectors/net/index.ts';

export class ConnectError extends Error {
  /** A mistake in the command (an unknown connection): exit code 2. */
  readonly usage: boolean;
  constructor(message: string, usage = false) {
    super(message);
    this.usage = usage;
  }
}

export interface ConnectIo {
  out(line: string): void;
  err(line: string): void;
  /** Lines typed or piped in (a pasted redirect address or code); ends when stdin ends. */
  input: NodeJS.ReadableStream;
  interactive: boolean;
}

/** The command that opens a URL in the system browser, or undefined where there is none (no display). */
export function browserCommand(url: string, platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  if (env.FERRY_NO_BROWSER === '1') return undefined;
  if (platform === 'darwin') return ['open', url];
  // rundll32 takes the URL as one argument, unlike `start`, which a shell would split at every &
  if (platform === 'win32') return ['rundll32', 'url.dll,FileProtocolHandler', url];
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return ['xdg-open', url];
  return undefined;
}

function openBrowser(url: string): boolean {
  const cmd = browserCommand(url);
  if (!cmd) return false;
  try {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** The running engine's API, when one runs on this config's data dir (its errors are this command's). */
function runningEngine(loaded: LoadedConfig): HttpApi | undefined {
  const info = readAdminInfo(loaded.dataDir);
  const token = readAdminToken(loaded.dataDir);
  return info && token && isDataDirLocked(loaded.dataDir) ? new HttpApi(info.url, token) : undefined;
}

/** An engine API refusal as this command's error. */
async function call<T>(op: Promise<T>): Promise<T> {
  try {
    return await op;
  } catch (err) {
    if (err instanceof FerryApiError) throw new ConnectError(err.message);
    throw err;
  }
}

function checkConnection(loaded: LoadedConfig, name: string): void {
  const c = loaded.config.connections[name];
  const names = Object.keys(loaded.config.connections);
  if (!c) throw new ConnectError(`no connection named "${name}" in ${loaded.file} (connections: ${names.join(', ') || 'none'})`, true);
  if (c.grant !== 'authorization_code') throw new ConnectError(`connection ${name} uses grant ${c.grant}: it needs no consent (only grant authorization_code does)`, true);
}

/** Tells the admin where to give consent, and opens the browser there when there is one. */
function announce(io: ConnectIo, name: string, authorizeUrl: string, redirectUri: string, browser: boolean): void {
  const opened = browser && openBrowser(authorizeUrl);
  io.out(opened ? `Opened the browser on ${new URL(authorizeUrl).host} to give consent for ${name}. If it did not open, visit:` : `To connect ${name}, open this address in a browser (on any machine) and give consent:`);
  io.out(`  ${authorizeUrl}`);
  io.out(`The provider sends the browser back to ${redirectUri}.`);
  io.out(
    io.interactive
      ? 'If that page does not load (another machine), paste the address the browser ended on (or the code it shows) here and press Enter:'
      : 'Waiting for the consent (or pipe in the address the browser ended on)…',
  );
}

/** Resolves with each non-empty pasted line; the returned function stops listening. */
function onPasted(io: ConnectIo, handle: (line: string) => void): () => void {
  const rl = readline.createInterface({ input: io.input, terminal: false });
  rl.on('line', (line) => {
    if (line.trim()) handle(line.trim());
  });
  return () => rl.close();
}

const CONSENT_WAIT_MS = 10 * 60_000;

/** `ferry connect NAME`: returns the exit code (0 connected, 1 not). */
export async function connectCommand(loaded: LoadedConfig, name: string, opts: { browser: boolean; port?: number }, io: ConnectIo): Promise<number> {
  checkConnection(loaded, name);
  const engine = runningEngine(loaded);
  if (engine) return connectThroughEngine(engine, name, opts, io);
  if (isDataDirLocked(loaded.dataDir)) throw new ConnectError(`Ferry runs on ${loaded.dataDir} but its admin API is off (FERRY_ADMIN=off): connect from a Ferry with its admin API, or stop it first`);
  return connectStandalone(loaded, name, opts, io);
}

async function connectThroughEngine(engine: HttpApi, name: string, opts: { browser: boolean }, io: ConnectIo): Promise<number> {
  const start = await call(engine.startConsent(name));
  announce(io, name, start.authorizeUrl, start.redirectUri, opts.browser);
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number, line: string) => {
      if (done) return;
      done = true;
      clearInterval(poll);
      clearTimeout(giveUp);
      stop();
      (code === 0 ? io.out : io.err)(line);
      resolve(code);
    };
    // the browser came back to the engine's callback: the engine says how it went
    const poll = setInterval(() => {
      call(engine.showConnection(name)).then(
        (c) => {
          if (c.consent?.id !== start.consentId || c.consent.state === 'pending') return;
          if (c.consent.state === 'connected') finish(0, `Connected ${name}.`);
          else finish(1, `ferry: ${c.consent.reason}`);
        },
        (e) => finish(1, `ferry: ${(e as Error).message}`),
      );
    }, 500);
    const giveUp = setTimeout(() => finish(1, 'ferry: no consent within 10 minutes: run ferry connect again'), CONSENT_WAIT_MS);
    const stop = onPasted(io, (line) => {
      call(engine.pasteConsent(name, line)).then(
        (r) => finish(0, `${r.message[0].toUpperCase()}${r.message.slice(1)}.`),
        (e) => finish(1, `ferry: ${(e as Error).message}`),
      );
    });
  });
}

/**
 * A connection manager on the data dir for a CLI command (connect and disconnect while no engine runs; check at
 * any time: a refresh takes the connection's lock and re-reads what the engine stored, so the two never race).
 */
export function standaloneManager(loaded: LoadedConfig): { manager: ConnectionManager; close(): void } {
  const store = openStore(loaded.dataDir);
  // token and revocation requests take the config's network setting, as the engine's do
  const net = new Network(loaded.config.network, { log: silentLogger });
  const manager = new ConnectionManager(
    { db: store.db, store: new TokenStore(loaded.dataDir, store.db, new SecretStore(loaded.dataDir)), log: silentLogger, dispatcherFor: (url) => net.dispatcherFor(url) },
    loaded.config.connections,
  );
  return {
    manager,
    close: () => {
      manager.close();
      store.close();
      void net.close().catch(() => undefined);
    },
  };
}

async function connectStandalone(loaded: LoadedConfig, name: string, opts: { browser: boolean; port?: number }, io: ConnectIo): Promise<number> {
  const { manager, close } = standaloneManager(loaded);
  const port = opts.port ?? loaded.config.admin.port;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let finished = false;
  const finish = (code: number, line: string) => {
    if (finished) return;
    finished = true;
    (code === 0 ? io.out : io.err)(line);
    resolveDone(code);
  };
  // Ferry is not running: the CLI itself listens where the provider sends the browser back
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== CALLBACK_PATH || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    void callbackPage(manager, url, req.headers.host ?? `127.0.0.1:${port}`).then((page) => {
      res.writeHead(page.status, CALLBACK_HEADERS).end(page.html);
      const o = manager.consentOutcome(name);
      if (o?.state === 'connected') finish(0, `Connected ${name}.`);
      else if (o?.state === 'failed') finish(1, `ferry: ${o.reason}`);
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
  } catch (e) {
    close();
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConnectError(`cannot listen on 127.0.0.1:${port} for the provider's redirect (${code ?? (e as Error).message}): free the port, or pass --port with another one registered at the provider`);
  }
  const actual = (server.address() as AddressInfo).port;
  const session = manager.beginConsent(name, redirectUriFor(resolveConnection(name, loaded.config.connections[name]).redirectHost, actual));
  announce(io, name, session.authorizeUrl, session.redirectUri, opts.browser);
  const stop = onPasted(io, (line) => {
    manager.completePasted(name, line).then(
      (r) => finish(0, `${r.message[0].toUpperCase()}${r.message.slice(1)}.`),
      (e) => finish(1, `ferry: ${(e as Error).message}`),
    );
  });
  const giveUp = setTimeout(() => finish(1, 'ferry: no consent within 10 minutes: run ferry connect again'), CONSENT_WAIT_MS);
  try {
    return await done;
  } finally {
    clearTimeout(giveUp);
    stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    close();
  }
}

/** `ferry disconnect NAME`: revokes (where the provider can) and forgets the tokens. */
export async function disconnectCommand(loaded: LoadedConfig, name: string, io: ConnectIo): Promise<number> {
  if (!loaded.config.connections[name]) {
    throw new ConnectError(`no connection named "${name}" in ${loaded.file} (connections: ${Object.keys(loaded.config.connections).join(', ') || 'none'})`, true);
  }
  const engine = runningEngine(loaded);
  let message: string;
  if (engine) message = (await call(engine.disconnect(name))).message;
  else {
    if (isDataDirLocked(loaded.dataDir)) throw new ConnectError(`Ferry runs on ${loaded.dataDir} but its admin API is off: stop it first`);
    const { manager, close } = standaloneManager(loaded);
    try {
      message = (await manager.disconnect(name)).message;
    } catch (e) {
      if (e instanceof ConsentError) throw new ConnectError(e.message);
      throw e;
    } finally {
      close();
    }
  }
  io.out(`${message[0].toUpperCase()}${message.slice(1)}.`);
  return 0;
}

const STATE_WORDS: Record<ConnectionStatus['state'], string> = { connected: 'connected', refresh_failing: 'refresh failing', consent_needed: 'consent needed' };

/** The connections part of `ferry status`. */
export function connectionLines(connections: ConnectionStatus[], ago: (iso: string | null) => string): string[][] {
  return connections.map((c) => [c.name, c.provider, STATE_WORDS[c.state], ago(c.refreshedAt), c.usedBy.join(', ') || '-']);
}

export function connectionNotes(connections: ConnectionStatus[]): string[] {
  return connections.filter((c) => c.reason).map((c) => `connection ${c.name}: ${STATE_WORDS[c.state]}: ${c.reason}`);
}
