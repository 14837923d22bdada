// Runs the desktop main process and talks to it. By default the built main process (npm run build:desktop)
// runs in plain Node with `electron` resolving to the recording double (electron-double/); with
// FERRY_DESKTOP_ELECTRON=<binary> (npm run smoke:desktop) it runs in that real Electron with a probe that
// records the same calls and answers the same commands. Either way the test sees what the app did through
// the calls it made on Electron's API, and acts as the user and the OS through commands.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from './cli.ts';
import { waitFor } from './tmp.ts';

export interface Call {
  seq: number;
  api: string;
  args: any[];
  at: number;
}

export interface MenuEntry {
  label: string;
  type: string;
  enabled: boolean;
  checked: boolean;
  submenu?: MenuEntry[];
}

export interface DesktopRun {
  child: ChildProcess;
  pid: number;
  calls: Call[];
  /** stdout + stderr of the process. */
  output(): string;
  send<T = any>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /** The first call of `api` after `since` (a seq) that matches. */
  waitForCall(api: string, match?: (args: any[]) => boolean, opts?: { since?: number; what?: string; timeoutMs?: number }): Promise<Call>;
  callsOf(api: string): Call[];
  /** The tray as the user sees it now: the last image and tooltip set, and the menu it shows. */
  tray(): Promise<{ image: { file: string; empty: boolean; template: boolean } | undefined; tooltip: string | undefined; menu: MenuEntry[] }>;
  exited: Promise<number | null>;
  lastSeq(): number;
}

export const doubleDir = path.join(repoRoot, 'test/helpers/electron-double');
export const builtMain = path.join(repoRoot, 'dist/app/main/desktop/main.js');
/** The real Electron binary to run instead of the double (npm run smoke:desktop sets it). */
export const realElectron = process.env.FERRY_DESKTOP_ELECTRON || undefined;

/** One simulated machine: the app's userData, the OS's state (login items, keyring), the XDG config home. */
export interface Machine {
  userData: string;
  osDir: string;
  xdgConfig: string;
}

export function machine(root: string): Machine {
  const m = { userData: path.join(root, 'userData'), osDir: path.join(root, 'os'), xdgConfig: path.join(root, 'xdg-config') };
  for (const d of Object.values(m)) fs.mkdirSync(d, { recursive: true });
  return m;
}

export async function launchDesktop(opts: { config: string; machine: Machine; platform?: 'linux' | 'darwin' | 'win32'; args?: string[]; env?: NodeJS.ProcessEnv }): Promise<DesktopRun> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FERRY_DESKTOP_PROBE: `127.0.0.1:${port}`,
    FERRY_DOUBLE_APP_PATH: repoRoot,
    FERRY_DOUBLE_USER_DATA: opts.machine.userData,
    FERRY_DOUBLE_OS_DIR: opts.machine.osDir,
    FERRY_DOUBLE_PLATFORM: opts.platform && opts.platform !== process.platform ? opts.platform : '',
    XDG_CONFIG_HOME: opts.machine.xdgConfig,
    FERRY_MASTER_KEY: '',
    ...opts.env,
  };
  const args = ['--config', opts.config, ...(opts.args ?? [])];
  const child = realElectron
    ? spawn(realElectron, [repoRoot, ...args], { env: { ...env, NODE_OPTIONS: `--require ${path.join(doubleDir, 'probe.cjs')}`, ELECTRON_RUN_AS_NODE: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['--import', path.join(doubleDir, 'register.mjs'), builtMain, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => server.close());

  const calls: Call[] = [];
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let nextId = 0;
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    server.once('connection', resolve);
    void exited.then((code) => reject(new Error(`the desktop process exited (${code}) before reporting:\n${out}`)));
  });
  let buffer = '';
  socket.on('data', (d) => {
    buffer += d.toString('utf8');
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
      if (msg.type === 'call') calls.push(msg);
      else if (msg.type === 'reply') {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.ok) p?.resolve(msg.result);
        else p?.reject(new Error(msg.error));
      }
    }
  });
  socket.on('error', () => undefined);

  const callsOf = (api: string) => calls.filter((c) => c.api === api);
  const run: DesktopRun = {
    child,
    pid: child.pid!,
    calls,
    output: () => out,
    send: (cmd, args = {}) =>
      new Promise((resolve, reject) => {
        if (child.exitCode !== null) return reject(new Error(`the desktop process has exited (${child.exitCode})`));
        const id = ++nextId;
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        socket.write(`${JSON.stringify({ id, cmd, args })}\n`);
      }),
    callsOf,
    lastSeq: () => calls.at(-1)?.seq ?? 0,
    waitForCall: (api, match = () => true, o = {}) =>
      waitFor(
        () => {
          if (child.exitCode !== null && !calls.some((c) => c.api === api && c.seq > (o.since ?? 0) && match(c.args))) throw new Error(`the desktop process exited (${child.exitCode}) before ${o.what ?? api}:\n${out}`);
          return calls.find((c) => c.api === api && c.seq > (o.since ?? 0) && match(c.args));
        },
        o.what ?? api,
        o.timeoutMs ?? 30_000,
      ),
    tray: async () => ({
      image: callsOf('Tray.setImage').at(-1)?.args[0],
      tooltip: callsOf('Tray.setToolTip').at(-1)?.args[0],
      menu: await run.send<MenuEntry[]>('tray-menu'),
    }),
    exited,
  };
  return run;
}

/** Labels of a menu (separators as "---"). */
export function menuLabels(menu: MenuEntry[]): string[] {
  return menu.map((m) => (m.type === 'separator' ? '---' : m.label));
}
