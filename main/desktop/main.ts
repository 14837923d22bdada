// The Electron shell (thin): one instance, the engine in-process, a tray icon that tells whether data flows,
// the dashboard in a hardened window (closing it hides it to the tray), native notifications, auto-update,
// and a clean quit (engine stopped, database closed). Every decision lives in tray.ts / notifications.ts.
import fs from 'node:fs';
import path from 'node:path';
import { app, dialog, ipcMain, Menu, nativeImage, Notification, safeStorage, shell, Tray, type BrowserWindow, type IpcMainInvokeEvent, type MenuItemConstructorOptions } from 'electron';
import { Engine } from '../engine/engine.ts';
import { createLogger, type Logger, type LogLevel } from '../engine/logger.ts';
import { errorMessage } from '../../connectors/contract.ts';
import { readDesktopSettings, writeDesktopSettings } from '../engine/admin/settings.ts';
import { secretScrubber } from '../engine/secrets.ts';
import { loadStartConfig, startConfigFile } from '../start-config.ts';
import { problemsFromStatus, trayMenuTemplate, trayState, trayTooltip, type TrayAction, type TrayMenuEntry, type TrayProblem, type TrayState } from './tray.ts';
import { NotificationLimiter } from './notifications.ts';
import { desktopMasterKey } from './secret-key.ts';
import { createMainWindow } from './window.ts';
import { startAutoUpdate } from './updater.ts';
import type { IpcChannel } from './bridge.ts';

const REFRESH_MS = 2000;

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

// the app's own files: the repo in development (`electron .`), app.asar when packaged
const resources = app.getAppPath();
const trayIconFile = (state: TrayState) =>
  path.join(resources, 'assets', 'tray', process.platform === 'darwin' ? `${state}Template.png` : process.platform === 'win32' ? `${state}.ico` : `${state}.png`);
const preloadFile = path.join(resources, 'dist', 'desktop', 'preload.cjs');

class DesktopApp {
  private engine?: Engine;
  private log!: Logger;
  private window?: BrowserWindow;
  private tray?: Tray;
  private trayKey = '';
  private iconState?: TrayState;
  private timer?: NodeJS.Timeout;
  private readonly notifier = new NotificationLimiter();
  private quitting = false;
  private stopped = false;

  async start(): Promise<void> {
    const file = startConfigFile(argValue('--config'));
    const userData = app.getPath('userData');
    const key = await desktopMasterKey(safeStorage, userData);
    const { loaded, secrets } = loadStartConfig(file, { masterKey: key.key });
    const level = (argValue('--log-level') as LogLevel | undefined) ?? loaded.config.logLevel;
    this.log = createLogger({ level, logDir: path.join(loaded.dataDir, 'logs'), stderr: !app.isPackaged, scrub: secretScrubber(secrets) });
    if (key.source.kind === 'refuse') this.log.warn(`secrets set in the dashboard are refused: ${key.source.reason}`);
    // without a protected key the engine runs without a secret store: the API answers secret writes with an error
    // OAuth tokens take the secrets' OS-protected key; without one they stay in memory (connect again after a restart)
    const refused = key.source.kind === 'refuse';
    this.engine = Engine.open(loaded, { log: this.log, secrets: refused ? undefined : secrets, tokenStorage: refused ? 'memory' : undefined, admin: { staticDir: path.join(resources, 'dist', 'renderer') } });
    await this.engine.start();
    if (key.source.kind === 'refuse') {
      new Notification({ title: 'Ferry: secrets cannot be stored safely here', body: key.source.reason }).show();
    }
    this.applyLoginItem(readDesktopSettings(loaded.dataDir).startAtLogin);
    this.registerIpc();
    this.tray = new Tray(this.icon('ok'));
    this.tray.on('click', () => this.open('#/'));
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    if (!process.argv.includes('--hidden')) this.open('#/');
    startAutoUpdate({ packaged: app.isPackaged, log: this.log });
  }

  private icon(state: TrayState) {
    const img = nativeImage.createFromPath(trayIconFile(state));
    if (process.platform === 'darwin') img.setTemplateImage(true);
    return img;
  }

  private get dashboardUrl(): string {
    const admin = this.engine?.admin;
    if (!admin) throw new Error('the admin API is not running');
    return `${admin.url}/`;
  }

  /** Shows the window (creating it once) at a dashboard route. */
  open(route: string): void {
    const url = `${this.dashboardUrl}${route.startsWith('#') ? route : `#${route}`}`;
    if (!this.window || this.window.isDestroyed()) {
      this.window = createMainWindow({ url, preload: preloadFile, icon: process.platform === 'darwin' ? undefined : path.join(resources, 'build', 'icon.png') });
      this.window.on('close', (e) => {
        if (this.quitting) return;
        e.preventDefault(); // closing hides to the tray; Quit is in the tray menu
        this.window?.hide();
      });
    } else {
      void this.window.webContents.executeJavaScript(`location.hash = ${JSON.stringify(route.replace(/^#?/, '#'))}`);
      if (this.window.isMinimized()) this.window.restore();
      this.window.show();
      this.window.focus();
    }
  }

  /** Only the dashboard page itself may use the bridge (checklist: validate the sender of every IPC message). */
  private fromDashboard(e: IpcMainInvokeEvent): boolean {
    const url = e.senderFrame?.url;
    return !!url && !!this.engine?.admin && new URL(url).origin === new URL(this.engine.admin.url).origin;
  }

  private registerIpc(): void {
    const handle = (channel: IpcChannel, fn: (e: IpcMainInvokeEvent, ...args: any[]) => unknown) =>
      ipcMain.handle(channel, (e, ...args) => {
        if (!this.fromDashboard(e)) throw new Error('not allowed');
        return fn(e, ...args);
      });
    handle('ferry:connection', () => ({ baseUrl: this.engine!.admin!.url, token: this.engine!.admin!.token }));
    handle('ferry:pick-folder', async (_e, opts: { title?: string; defaultPath?: string } = {}) => {
      const parent = this.window && !this.window.isDestroyed() ? this.window : undefined;
      const options = { title: typeof opts.title === 'string' ? opts.title : 'Choose a folder', defaultPath: typeof opts.defaultPath === 'string' ? opts.defaultPath : undefined, properties: ['openDirectory', 'createDirectory'] as Array<'openDirectory' | 'createDirectory'> };
      const r = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
      return r.canceled ? null : (r.filePaths[0] ?? null);
    });
    handle('ferry:set-start-at-login', (_e, enabled: unknown) => {
      const on = enabled === true;
      writeDesktopSettings(this.engine!.dataDir, { startAtLogin: on });
      this.applyLoginItem(on);
      return on;
    });
  }

  private applyLoginItem(on: boolean): void {
    if (process.platform === 'linux') return; // no login-item API; desktop environments use autostart files
    app.setLoginItemSettings({ openAtLogin: on, args: ['--hidden'] });
  }

  private startAtLogin(): boolean {
    return this.engine ? readDesktopSettings(this.engine.dataDir).startAtLogin : false;
  }

  private problems(): TrayProblem[] {
    const engine = this.engine!;
    const dead = engine.queue.list({ state: 'dead', limit: 5 }).map((i) => ({ flow: i.flow, itemId: i.id, name: i.name, message: i.last_error ?? 'could not be delivered' }));
    const report = engine.status();
    return [...dead, ...problemsFromStatus(report).filter((p) => !dead.some((d) => d.flow === p.flow))];
  }

  /** Recomputes icon, tooltip, menu and notifications from the engine's status. */
  private refresh(): void {
    const engine = this.engine;
    if (!engine || !this.tray || this.stopped) return;
    try {
      const report = engine.status();
      const state = trayState(report);
      if (state !== this.iconState) {
        this.tray.setImage(this.icon(state));
        this.iconState = state;
      }
      this.tray.setToolTip(trayTooltip(report));
      const template = trayMenuTemplate({ report, problems: this.problems(), startAtLogin: this.startAtLogin() });
      const key = JSON.stringify(template);
      if (key !== this.trayKey) {
        this.trayKey = key;
        this.tray.setContextMenu(Menu.buildFromTemplate(template.map((e) => this.toElectron(e))));
      }
      if (Notification.isSupported()) {
        for (const n of this.notifier.observe(report)) {
          const note = new Notification({ title: n.title, body: n.body });
          note.on('click', () => this.open(n.route));
          note.show();
        }
      }
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'tray refresh failed');
    }
  }

  private toElectron(e: TrayMenuEntry): MenuItemConstructorOptions {
    return {
      label: e.label,
      type: e.type,
      enabled: e.enabled,
      checked: e.checked,
      submenu: e.submenu?.map((s) => this.toElectron(s)),
      click: e.action ? () => void this.run(e.action!) : undefined,
    };
  }

  private async run(action: TrayAction): Promise<void> {
    const engine = this.engine!;
    try {
      switch (action.kind) {
        case 'open':
          return this.open(action.route);
        case 'sync-now':
          for (const f of engine.flows.values()) if (f.cfg.enabled && !f.paused) void f.runScan('sync now (tray)');
          engine.retry({ state: 'retrying' });
          break;
        case 'pause-all':
        case 'resume-all':
          for (const f of engine.flows.values()) f.setPaused(action.kind === 'pause-all');
          engine.queue.addEvent('flow', null, null, { action: action.kind === 'pause-all' ? 'pause all' : 'resume all' });
          break;
        case 'open-logs': {
          const logs = path.join(engine.dataDir, 'logs');
          fs.mkdirSync(logs, { recursive: true });
          const problem = await shell.openPath(logs);
          if (problem) this.log.warn({ problem }, 'cannot open the logs folder');
          break;
        }
        case 'toggle-start-at-login': {
          const on = !this.startAtLogin();
          writeDesktopSettings(engine.dataDir, { startAtLogin: on });
          this.applyLoginItem(on);
          break;
        }
        case 'quit':
          app.quit();
          return;
      }
    } catch (err) {
      this.log.error({ action: action.kind, err: errorMessage(err) }, 'tray action failed');
    }
    this.refresh();
  }

  /** Stops the engine (deliveries in flight finish, the database closes) before the app exits. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.tray?.destroy();
    await this.engine?.stop();
  }

  set isQuitting(v: boolean) {
    this.quitting = v;
  }
}

if (!app.requestSingleInstanceLock()) {
  // another Ferry is running: it shows its window (second-instance below) and this one leaves
  app.quit();
} else {
  const desktop = new DesktopApp();
  app.on('second-instance', () => desktop.open('#/'));
  // the app lives in the tray: closing every window does not quit
  app.on('window-all-closed', () => undefined);
  app.on('activate', () => desktop.open('#/'));
  app.on('before-quit', () => {
    desktop.isQuitting = true;
  });
  let stopping = false;
  app.on('will-quit', (e) => {
    if (stopping) return;
    stopping = true;
    e.preventDefault();
    desktop.stop().then(
      () => app.exit(0),
      (err) => {
        console.error(`ferry: stopping failed: ${errorMessage(err)}`);
        app.exit(1);
      },
    );
  });
  app.whenReady().then(
    () => desktop.start(),
  ).catch((err) => {
    dialog.showErrorBox('Ferry cannot start', errorMessage(err));
    app.exit(1);
  });
}
