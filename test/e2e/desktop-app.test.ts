// The desktop main process, end to end. main/desktop/main.ts as built by `npm run build:desktop` runs in a
// child process, driving the real engine: a real config, real folder sources, a real HTTP API on 127.0.0.1,
// the real SQLite queue, the admin server serving the dashboard to the window.
//
// `electron` is a DOUBLE here (test/helpers/electron-double/electron.cjs), not Electron: the Electron binary
// cannot be downloaded on the machines that run these tests. The double records every call the app makes on
// Electron's API and follows Electron's documented behaviour where the app relies on it (ready order,
// single-instance lock and second-instance, before-quit / window close / will-quit, a Linux tray menu that
// shows only what setContextMenu was given, will-navigate, setWindowOpenHandler, permission handlers,
// safeStorage, powerMonitor, Notification clicks, login items on macOS and Windows). The checks read the
// calls the app made (tray icon, tooltip and menu; windows; notifications; the quit sequence) and what the
// engine reports through its admin API, never engine internals. `npm run smoke:desktop` runs this file
// against a real Electron binary where one is installed (FERRY_DESKTOP_ELECTRON).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import { request } from '../helpers/admin.ts';
import { launchDesktop, machine, menuLabels, realElectron, type DesktopRun, type Machine } from '../helpers/desktop.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { isDataDirLocked } from '../../main/engine/store/datadir.ts';

// ------------------------------------------------------------------ an API the test steers

type Mode = { kind: 'ok' } | { kind: 'hold' } | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string };

interface Api {
  url: string;
  received: Array<{ url: string; name: string; at: number }>;
  mode: Mode;
  /** Answers the held requests (200 unless told otherwise). */
  release(status?: number, headers?: Record<string, string>): void;
  held(): number;
  close(): Promise<void>;
}

async function startApi(): Promise<Api> {
  const held: Array<(status: number, headers: Record<string, string>) => void> = [];
  const api: Api = {
    url: '',
    received: [],
    mode: { kind: 'ok' },
    release: (status = 200, headers = {}) => {
      for (const h of held.splice(0)) h(status, headers);
    },
    held: () => held.length,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      api.received.push({ url: req.url ?? '', name: String(req.headers['x-ferry-name'] ?? req.headers['content-disposition'] ?? ''), at: Date.now() });
      const answer = (status: number, headers: Record<string, string> = {}, body = '') => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(body);
      };
      const m = api.mode;
      if (m.kind === 'hold') held.push((s, h) => answer(s, h));
      else if (m.kind === 'status') answer(m.status, m.headers, m.body);
      else answer(200);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}

// ------------------------------------------------------------------ the set-up

const ICON = (s: string) => path.join(repoRoot, 'assets', 'tray', `${s}.png`);
let api: Api;
let dir: string;
let configFile: string;
let m: Machine;
let desktop: DesktopRun;
const running: DesktopRun[] = [];

function writeDesktopConfig(): void {
  for (const d of ['inbox', 'polled', 'nightly']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const http = (p: string) => ({ type: 'http', url: `${api.url}/${p}` });
  fs.writeFileSync(configFile, YAML.stringify({
    dataDir: './data',
    admin: { port: 0 },
    integrations: [{
      name: 'crm',
      flows: [
        { name: 'orders', source: { type: 'folder', path: './inbox', settleMs: 50 }, destination: http('orders'), retry: { maxAttempts: 2, initialDelayMs: 200, maxDelayMs: 2000 } },
        // a share polled once an hour: only a rescan (start-up, wake-up) sees new files before that
        { name: 'polled', source: { type: 'folder', path: './polled', settleMs: 0, usePolling: true, pollIntervalMs: 3_600_000 }, destination: http('polled') },
        { name: 'nightly', source: { type: 'folder', path: './nightly', settleMs: 0 }, trigger: { schedule: '0 3 * * *', catchUp: true }, destination: http('nightly') },
      ],
    }],
  }));
}

async function launch(opts: { platform?: 'linux' | 'darwin' | 'win32'; machine?: Machine; config?: string; args?: string[] } = {}): Promise<DesktopRun> {
  const run = await launchDesktop({ config: opts.config ?? configFile, machine: opts.machine ?? m, platform: opts.platform, args: opts.args });
  running.push(run);
  return run;
}

/** The admin API of the running engine, found the way the window finds it. */
async function adminApi(run: DesktopRun, dataDir = path.join(dir, 'data')) {
  const loaded = await run.waitForCall('webContents.did-finish-load');
  const origin = new URL(loaded.args[0].url).origin;
  const port = Number(new URL(origin).port);
  const token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    origin,
    token,
    call: (method: string, p: string, body?: unknown) => request(port, method, p, { headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) }),
  };
}

/** Waits until the tray shows `state`'s icon (set after `since`). */
const trayIcon = (run: DesktopRun, state: string, since = 0) => run.waitForCall('Tray.setImage', (a) => a[0].file === ICON(state), { since, what: `the tray icon "${state}"` });
const tooltipAfter = (run: DesktopRun, match: RegExp, since = 0) => run.waitForCall('Tray.setToolTip', (a) => match.test(a[0]), { since, what: `a tooltip matching ${match}` });
const menuWith = (run: DesktopRun, what: string, test: (labels: string[], menu: any[]) => boolean) => waitFor(async () => {
  const menu = await run.send('tray-menu');
  return test(menuLabels(menu), menu) ? menu : undefined;
}, what);
const activity = async (admin: Awaited<ReturnType<typeof adminApi>>) => (await admin.call('GET', '/api/activity?limit=1000')).json.events as Array<{ type: string; flow: string | null; data: any }>;

beforeAll(() => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run-ts.js'), path.join(repoRoot, 'scripts/build-desktop.ts')], { cwd: repoRoot, encoding: 'utf8', timeout: 170_000 });
  if (r.status !== 0) throw new Error(`npm run build:desktop failed:\n${r.stdout}\n${r.stderr}`);
}, 180_000);

afterAll(async () => {
  for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  await api?.close();
});

describe(`the desktop app on Linux (${realElectron ? 'real Electron' : 'Electron double'})`, () => {
  let admin: Awaited<ReturnType<typeof adminApi>>;

  it('holds the single-instance lock, starts the engine, and its admin server serves the window', async () => {
    api = await startApi();
    dir = tempDir('ferry-desktop-');
    configFile = path.join(dir, 'ferry.yaml');
    m = machine(path.join(dir, 'machine'));
    writeDesktopConfig();
    desktop = await launch();
    admin = await adminApi(desktop);

    const seqOf = (api: string) => desktop.callsOf(api)[0]?.seq ?? Infinity;
    expect(desktop.callsOf('app.requestSingleInstanceLock')[0].args).toEqual([true]);
    expect(seqOf('app.requestSingleInstanceLock')).toBeLessThan(seqOf('app.event.ready'));
    // nothing of the UI before ready (Electron refuses it)
    for (const ui of ['Tray.new', 'BrowserWindow.new', 'powerMonitor.on']) expect(seqOf(ui), ui).toBeGreaterThan(seqOf('app.event.ready'));

    const loaded = desktop.callsOf('webContents.did-finish-load')[0].args[0];
    expect(loaded).toMatchObject({ status: 200, title: 'Ferry' });
    expect(loaded.contentType).toMatch(/^text\/html/);
    expect(loaded.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#\/$/);
    const status = await admin.call('GET', '/api/status');
    expect(status.status).toBe(200);
    expect(status.json.running).toBe(true);
    expect(status.json.flows.map((f: any) => f.flow)).toEqual(['orders', 'polled', 'nightly']);
    expect(desktop.callsOf('BrowserWindow.show').length).toBeGreaterThan(0);
    // the secret store's key, kept encrypted by the OS (safeStorage) in userData
    const keyFile = path.join(m.userData, 'secret-store-key.bin');
    expect(fs.existsSync(keyFile)).toBe(true);
    if (process.platform !== 'win32') expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  it('hardens the window: isolation and sandbox, no Node, foreign navigation and window.open denied, the bridge for the dashboard only', async () => {
    const opts = desktop.callsOf('BrowserWindow.new')[0].args[0];
    expect(opts.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, nodeIntegrationInWorker: false, webviewTag: false, webSecurity: true });
    expect(opts.webPreferences.preload).toBe(path.join(repoRoot, 'dist', 'desktop', 'preload.cjs'));
    expect(fs.existsSync(opts.webPreferences.preload)).toBe(true);

    const externals = () => desktop.callsOf('shell.openExternal').map((c) => c.args[0]);
    expect(await desktop.send('navigate', { url: 'https://attacker.example/phish' })).toMatchObject({ prevented: true });
    expect(externals()).toEqual(['https://attacker.example/phish']); // links open in the browser, not in Ferry
    expect(await desktop.send('navigate', { url: 'file:///etc/passwd' })).toMatchObject({ prevented: true });
    expect(externals()).toHaveLength(1);
    expect(await desktop.send('navigate', { url: `${admin.origin}/#/queue` })).toMatchObject({ prevented: false });
    expect(await desktop.send('window-open', { url: 'https://attacker.example/popup' })).toEqual({ action: 'deny' });
    expect(await desktop.send('window-open', { url: `${admin.origin}/#/x` })).toEqual({ action: 'deny' });
    expect(externals()).toEqual(['https://attacker.example/phish', 'https://attacker.example/popup']);
    expect(await desktop.send('permission', { permission: 'notifications' })).toEqual({ granted: false });

    await expect(desktop.send('ipc-invoke', { channel: 'ferry:connection', senderUrl: 'https://attacker.example/' })).rejects.toThrow(/not allowed/);
    expect(await desktop.send('ipc-invoke', { channel: 'ferry:connection', senderUrl: `${admin.origin}/#/` })).toEqual({ baseUrl: admin.origin, token: admin.token });
    await desktop.send('navigate', { url: `${admin.origin}/#/` });
  });

  let notice: { id: number; title: string } | undefined;

  it('follows the engine in the tray: ok → syncing → attention → error → ok → paused → ok', async () => {
    const ok = await trayIcon(desktop, 'ok');
    await tooltipAfter(desktop, /^Ferry: 3 flows OK, 0 queued, nothing synced yet$/, ok.seq - 1);
    expect(menuLabels((await desktop.tray()).menu)).toEqual(['Open Ferry', 'Sync now', 'Pause all', '---', 'No problems', '---', 'Open logs folder', 'Start at login', '---', 'Quit Ferry']);

    // syncing: a delivery held in flight by the API
    api.mode = { kind: 'hold' };
    fs.writeFileSync(path.join(dir, 'inbox', 'a.json'), '{"order":1}');
    const syncing = await trayIcon(desktop, 'syncing', ok.seq);
    await tooltipAfter(desktop, /^Ferry: 3 flows OK, 1 queued, nothing synced yet$/, syncing.seq);

    // attention: the API says 503, retry in a minute
    let mark = desktop.lastSeq();
    api.release(503, { 'retry-after': '60' });
    const attention = await trayIcon(desktop, 'attention', mark);
    await tooltipAfter(desktop, /2 of 3 flows OK, 1 flow retrying/, attention.seq);

    // error: "Sync now" retries at once, and the API refuses it for good
    api.mode = { kind: 'status', status: 400, body: 'unknown customer 42' };
    mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: 'Sync now' });
    const error = await trayIcon(desktop, 'error', mark);
    await tooltipAfter(desktop, /^Ferry: 2 of 3 flows OK, 1 dead item, 0 queued/, error.seq);
    const tray = await menuWith(desktop, 'the problem in the menu', (l) => l.includes('Last problems')).then(async () => desktop.tray());
    const problem = tray.menu.find((e) => e.label.startsWith('orders / a.json: '));
    expect(problem?.enabled).toBe(true);
    expect(menuLabels(tray.menu)).toContain('Last problems');
    const shown = await desktop.waitForCall('Notification.show', (a) => a[0].title === 'orders: an item could not be delivered');
    notice = shown.args[0];

    // the problem's menu entry opens that item in the window
    const dead = (await admin.call('GET', '/api/queue?state=dead')).json.items[0];
    mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: problem!.label });
    await desktop.waitForCall('webContents.executeJavaScript', (a) => a[0] === `location.hash = "#/queue/${dead.id}"`, { since: mark });

    // retried and delivered: back to ok, with a last sync
    api.mode = { kind: 'ok' };
    mark = desktop.lastSeq();
    expect((await admin.call('POST', '/api/queue/retry', { state: 'dead' })).json.count).toBe(1);
    await trayIcon(desktop, 'ok', mark);
    await tooltipAfter(desktop, /^Ferry: 3 flows OK, 0 queued, last sync just now$/, mark);

    // paused: through the tray menu, visible in the engine's own status
    mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: 'Pause all' });
    const paused = await trayIcon(desktop, 'paused', mark);
    expect((await admin.call('GET', '/api/status')).json.flows.every((f: any) => f.paused)).toBe(true);
    await tooltipAfter(desktop, /^Ferry: all 3 flows paused/, paused.seq);
    await menuWith(desktop, 'Resume in the menu', (l) => l.includes('Resume') && !l.includes('Pause all'));
    mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: 'Resume' });
    await trayIcon(desktop, 'ok', mark);
    expect((await admin.call('GET', '/api/status')).json.flows.some((f: any) => f.paused)).toBe(false);
    const actions = (await activity(admin)).filter((e) => e.type === 'flow').map((e) => e.data.action);
    expect(actions).toEqual(expect.arrayContaining(['pause all', 'resume all']));
  });

  it('notifies only of new failures, at most once per flow in 10 minutes; a click opens that flow', async () => {
    expect(desktop.callsOf('Notification.show').map((c) => c.args[0].title)).toEqual(['orders: an item could not be delivered']);
    // a second item of the same flow fails: no second notice
    api.mode = { kind: 'status', status: 422, body: 'invalid order' };
    let mark = desktop.lastSeq();
    fs.writeFileSync(path.join(dir, 'inbox', 'b.json'), '{"order":2}');
    await trayIcon(desktop, 'error', mark);
    await tooltipAfter(desktop, /1 dead item/, desktop.lastSeq()); // a whole refresh after the failure: the notifier has seen it
    expect(desktop.callsOf('Notification.show').map((c) => c.args[0].title)).toEqual(['orders: an item could not be delivered']);

    mark = desktop.lastSeq();
    await desktop.send('notification-click', { id: notice!.id });
    await desktop.waitForCall('webContents.executeJavaScript', (a) => a[0] === 'location.hash = "#/queue?flow=orders&state=dead"', { since: mark });
    await desktop.waitForCall('BrowserWindow.show', undefined, { since: mark });
    api.mode = { kind: 'ok' };
  });

  it('runs every menu action through the engine: open the dashboard, the logs folder, sync now', async () => {
    // closing the window hides it to the tray; "Open Ferry" brings it back
    expect(await desktop.send('close-window')).toEqual({ closed: false });
    expect(desktop.callsOf('BrowserWindow.hide').length).toBeGreaterThan(0);
    let mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: 'Open Ferry' });
    await desktop.waitForCall('BrowserWindow.show', undefined, { since: mark });
    expect(desktop.callsOf('webContents.executeJavaScript').at(-1)!.args[0]).toBe('location.hash = "#/"');

    mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: 'Open logs folder' });
    const opened = await desktop.waitForCall('shell.openPath', undefined, { since: mark });
    expect(opened.args[0]).toBe(path.join(dir, 'data', 'logs'));
    expect(fs.readdirSync(opened.args[0])).toContain('ferry.log');

    await desktop.send('tray-menu-click', { label: 'Sync now' });
    await waitFor(async () => (await activity(admin)).some((e) => e.type === 'flow' && e.data.action === 'sync now'), 'the sync-now event');
  });

  it('rescans and catches up missed schedules after sleep', async () => {
    fs.writeFileSync(path.join(dir, 'polled', 'p.json'), '{"p":1}');
    fs.writeFileSync(path.join(dir, 'nightly', 'n.json'), '{"n":1}');
    await desktop.send('power', { event: 'suspend' });
    await waitFor(async () => (await activity(admin)).some((e) => e.type === 'system' && e.data.action === 'suspend'), 'the suspend event');
    // the machine slept through the 03:00 run: its last run was two days ago
    const db = new Database(path.join(dir, 'data', 'ferry.db'));
    db.pragma('busy_timeout = 5000');
    db.prepare('UPDATE flow_state SET last_run_at = ?, first_seen_at = ? WHERE flow = ?').run(Date.now() - 2 * 86_400_000, Date.now() - 3 * 86_400_000, 'nightly');
    db.close();
    // neither file has been taken: the share is polled hourly, the schedule runs at 03:00
    expect(api.received.filter((r) => /\/(polled|nightly)$/.test(r.url))).toEqual([]);

    await desktop.send('power', { event: 'resume' });
    await waitFor(() => api.received.some((r) => r.url === '/polled') && api.received.some((r) => r.url === '/nightly'), 'both files delivered after wake-up');
    const resumed = (await activity(admin)).find((e) => e.type === 'system' && e.data.action === 'resume');
    expect(resumed?.data.rescanned).toEqual(['orders', 'polled']);
    expect(resumed?.data.caughtUp).toEqual(['nightly']);
  });

  it('starts at login through the OS (an XDG autostart entry here) and shows what the OS reports', async () => {
    const entry = path.join(m.xdgConfig, 'autostart', 'ferry.desktop');
    expect(fs.existsSync(entry)).toBe(false);
    await desktop.send('tray-menu-click', { label: 'Start at login' });
    await menuWith(desktop, 'Start at login checked', (_l, menu) => menu.find((e) => e.label === 'Start at login')?.checked === true);
    expect(fs.readFileSync(entry, 'utf8')).toMatch(/^Exec=.* --config .*ferry\.yaml --hidden$/m);
    expect((await admin.call('GET', '/api/settings')).json.startAtLogin).toBe(true);

    // the user turns it off in the desktop's own settings: the tray and the dashboard follow
    fs.appendFileSync(entry, 'Hidden=true\n');
    await menuWith(desktop, 'Start at login unchecked', (_l, menu) => menu.find((e) => e.label === 'Start at login')?.checked === false);
    await waitFor(async () => (await admin.call('GET', '/api/settings')).json.startAtLogin === false, 'the setting follows the OS');

    // the dashboard (in a browser: through the API) turns it on again: the desktop applies it
    await admin.call('PUT', '/api/settings', { startAtLogin: true });
    await menuWith(desktop, 'Start at login checked again', (_l, menu) => menu.find((e) => e.label === 'Start at login')?.checked === true);
    expect(fs.readFileSync(entry, 'utf8')).not.toMatch(/Hidden=true/);
  });

  it('lets a second instance hand over and leave', async () => {
    const mark = desktop.lastSeq();
    const second = await launch();
    expect(await second.exited).toBe(0);
    expect(second.callsOf('app.requestSingleInstanceLock')[0].args).toEqual([false]);
    expect(second.callsOf('app.quit')).toHaveLength(1);
    for (const ui of ['Tray.new', 'BrowserWindow.new', 'Notification.show']) expect(second.callsOf(ui), ui).toEqual([]);
    expect(second.output()).not.toMatch(/Ferry is running/);
    const handed = await desktop.waitForCall('app.event.second-instance', undefined, { since: mark });
    expect(handed.args[0]).toContain('--config');
    await desktop.waitForCall('BrowserWindow.show', undefined, { since: handed.seq });
  });

  it('quits cleanly: intake stops, the delivery in flight finishes, the database closes, the process exits', async () => {
    api.mode = { kind: 'hold' };
    fs.writeFileSync(path.join(dir, 'inbox', 'last.json'), '{"last":1}');
    await waitFor(() => api.held() === 1, 'a delivery in flight');
    const mark = desktop.lastSeq();
    await desktop.send('tray-menu-click', { label: 'Quit Ferry' });
    await waitFor(() => /stopping: intake closed/.test(desktop.output()), 'intake closed');
    fs.writeFileSync(path.join(dir, 'inbox', 'late.json'), '{"late":1}');
    api.release(200);
    api.mode = { kind: 'ok' };
    expect(await desktop.exited).toBe(0);

    const sequence = desktop.calls.filter((c) => c.seq > mark && /^app\.(quit|event\.before-quit|event\.will-quit|exit)$|^BrowserWindow\.close$|^Tray\.destroy$|^process\.exit$/.test(c.api)).map((c) => `${c.api} ${JSON.stringify(c.args)}`);
    expect(sequence).toEqual([
      'app.quit []',
      'app.event.before-quit [{"prevented":false}]',
      'BrowserWindow.close [{"prevented":false}]', // closing hides to the tray, except when quitting
      'Tray.destroy []',
      'app.event.will-quit [{"prevented":true}]', // held until the engine stopped
      'app.exit [0]',
      'process.exit [0]',
    ]);
    expect(isDataDirLocked(path.join(dir, 'data'))).toBe(false);
    const db = new Database(path.join(dir, 'data', 'ferry.db'), { readonly: true });
    const items = db.prepare('SELECT name, state FROM items WHERE flow = ?').all('orders') as Array<{ name: string; state: string }>;
    db.close();
    expect(items.find((i) => i.name === 'last.json')?.state).toBe('delivered');
    expect(items.some((i) => i.name === 'late.json')).toBe(false);
    expect(fs.existsSync(path.join(dir, 'inbox', 'late.json'))).toBe(true); // taken at the next start
  });

  it('after a restart: old failures raise no notification, a new one does', async () => {
    desktop = await launch();
    const since = desktop.lastSeq();
    admin = await adminApi(desktop);
    await trayIcon(desktop, 'error'); // the dead item from before
    await tooltipAfter(desktop, /dead item/, (await tooltipAfter(desktop, /dead item/, since)).seq); // two refreshes
    expect(desktop.callsOf('Notification.show')).toEqual([]);
    api.mode = { kind: 'status', status: 400, body: 'no' };
    fs.writeFileSync(path.join(dir, 'inbox', 'c.json'), '{"order":3}');
    await desktop.waitForCall('Notification.show', (a) => a[0].title === 'orders: an item could not be delivered');
  });

  it('killed mid-delivery (kill -9), starts again and delivers what was in flight', async () => {
    api.mode = { kind: 'hold' };
    const before = api.received.length;
    fs.writeFileSync(path.join(dir, 'inbox', 'crash.json'), '{"crash":1}');
    await waitFor(() => api.held() === 1 && api.received.length > before, 'a delivery in flight');
    desktop.child.kill('SIGKILL');
    await desktop.exited;
    api.release(503); // the connection is gone; the answer goes nowhere
    api.mode = { kind: 'ok' };

    desktop = await launch();
    admin = await adminApi(desktop);
    expect(desktop.callsOf('app.requestSingleInstanceLock')[0].args).toEqual([true]); // the dead holder's lock is taken over
    await waitFor(async () => (await admin.call('GET', '/api/queue?flow=orders&state=delivered&limit=1000')).json.items.some((i: any) => i.name === 'crash.json'), 'crash.json delivered after the restart');
    expect(fs.existsSync(path.join(dir, 'inbox', 'crash.json'))).toBe(true); // kept: the flow's afterDelivery is keep
    await desktop.send('tray-menu-click', { label: 'Quit Ferry' });
    expect(await desktop.exited).toBe(0);
  });
});

describe.each(['darwin', 'win32'] as const)('the desktop app on %s (emulated by the double)', (platform) => {
  it('shows the platform’s tray images and keeps start-at-login in the OS', async () => {
    if (realElectron && platform !== process.platform) return void console.log(`skipped: a real Electron runs as ${process.platform} only`);
    if (!api) api = await startApi();
    const root = tempDir(`ferry-desktop-${platform}-`);
    fs.mkdirSync(path.join(root, 'in'));
    const config = path.join(root, 'ferry.yaml');
    fs.writeFileSync(config, YAML.stringify({ dataDir: './data', admin: { port: 0 }, integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', usePolling: true, pollIntervalMs: 200 }, destination: { type: 'http', url: `${api.url}/x` } }] }] }));
    const mach = machine(path.join(root, 'machine'));
    const run = await launch({ platform, machine: mach, config });
    await run.waitForCall('Tray.setContextMenu');

    const image = (await run.tray()).image!;
    expect(image.empty).toBe(false);
    if (platform === 'darwin') {
      // template images: black with alpha, recoloured by macOS for light and dark menu bars (1x and @2x)
      expect(image.file).toBe(path.join(repoRoot, 'assets', 'tray', 'okTemplate.png'));
      expect(image.template).toBe(true);
      expect(fs.existsSync(image.file.replace('.png', '@2x.png'))).toBe(true);
      expect(run.callsOf('BrowserWindow.new')[0].args[0].icon).toBeUndefined(); // the app bundle's icon
    } else {
      expect(image.file).toBe(path.join(repoRoot, 'assets', 'tray', 'ok.ico'));
      expect(image.template).toBe(false);
    }

    // start at login: Electron's login item, read back from what the OS reports
    await run.send('tray-menu-click', { label: 'Start at login' });
    const set = await run.waitForCall('app.setLoginItemSettings');
    expect(set.args[0]).toEqual({ openAtLogin: true, args: ['--hidden'] });
    await menuWith(run, 'Start at login checked', (_l, menu) => menu.find((e) => e.label === 'Start at login')?.checked === true);
    // the user removes Ferry from the login items in the OS's settings
    const osFile = path.join(mach.osDir, 'login-items.json');
    const items = JSON.parse(fs.readFileSync(osFile, 'utf8'));
    for (const k of Object.keys(items)) items[k].openAtLogin = false;
    fs.writeFileSync(osFile, JSON.stringify(items));
    await menuWith(run, 'Start at login unchecked', (_l, menu) => menu.find((e) => e.label === 'Start at login')?.checked === false);
    expect(run.callsOf('app.setLoginItemSettings')).toHaveLength(1); // followed, not fought

    await run.send('tray-menu-click', { label: 'Quit Ferry' });
    expect(await run.exited).toBe(0);
  });
});
