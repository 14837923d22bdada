// The Electron shell (thin): one instance, the engine in-process, a tray icon that tells whether data flows,
// the dashboard in a hardened window (closing it hides it to the tray), native notifications, start at login,
// sleep and wake-up, auto-update, and a clean quit (engine stopped, database closed). Every decision lives in
// tray.ts / notifications.ts / login-item.ts; every action on the engine goes through the engine API (EngineApi),
// as the dashboard's and the CLI's do.
import fs from 'node:fs';
import path from 'node:path';
import { app, dialog, ipcMain, Menu, nativeImage, Notification, powerMonitor, safeStorage, session, shell, Tray, type BrowserWindow, type IpcMainInvokeEvent, type MenuItemConstructorOptions } from 'electron';
import { createLogger, Engine, errorMessage, logsDir, noteSuspend, readDesktopSettings, resumeAfterSleep, scrubberFor, startWithAdmin, writeDesktopSettings, type AdminServer, type EngineApi, type Logger, type LogLevel } from '../engine/index.ts';
import { loadStartConfig, startConfigFile } from '../start-config.ts';
import { problemsFromStatus, trayMenuTemplate, trayState, trayTooltip, type TrayAction, type TrayMenuEntry, type TrayProblem, type TrayState } from './tray.ts';
import { NotificationLimiter } from './notifications.ts';
import { LOGIN_ARGS, loginItemBackend, readXdgAutostart, reconcileLoginItem, writeXdgAutostart, xdgAutostartFile } from './login-item.ts';
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
  /** The admin API on top of the engine (the dashboard's), and through it the engine API the tray calls. */
  private admin?: AdminServer;
  private log!: Logger;
  private window?: BrowserWindow;
  private tray?: Tray;
  private trayKey = '';
  private iconState?: TrayState;
  private timer?: NodeJS.Timeout;
  private readonly notifier = new NotificationLimiter();
  private quitting = false;
  private stopped = false;
  /** What the OS reported at the last refresh (start at login). */
  private loginItemSeen = false;
  /** A window asked for before the engine was up (a second instance started during start-up). */
  private pendingOpen?: string;

  async start(): Promise<void> {
    const file = startConfigFile(argValue('--config'));
    const userData = app.getPath('userData');
    const key = await desktopMasterKey(safeStorage, userData);
    const { loaded, secrets } = loadStartConfig(file, { masterKey: key.key });
    const level = (argValue('--log-level') as LogLevel | undefined) ?? loaded.config.logLevel;
    const scrubber = scrubberFor(loaded, secrets);
    this.log = createLogger({ level, logDir: path.join(loaded.dataDir, 'logs'), stderr: !app.isPackaged, scrub: scrubber.text });
    if (key.source.kind === 'refuse') this.log.warn(`secrets set in the dashboard are refused: ${key.source.reason}`);
    // without a protected key the engine runs without a secret store: the API answers secret writes with an error
    // OAuth tokens take the secrets' OS-protected key; without one they stay in memory (connect again after a restart)
    const refused = key.source.kind === 'refuse';
    // network.proxy: system asks Chromium per URL, which evaluates the OS's PAC file or auto-detection
    this.engine = Engine.open(loaded, { log: this.log, scrubber, secrets: refused ? undefined : secrets, tokenStorage: refused ? 'memory' : undefined, resolveProxy: (url) => session.defaultSession.resolveProxy(url) });
    this.admin = await startWithAdmin(this.engine, { staticDir: path.join(resources, 'dist', 'renderer') });
    if (key.source.kind === 'refuse') {
      new Notification({ title: 'Ferry: secrets cannot be stored safely here', body: key.source.reason }).show();
    }
    // the OS says whether Ferry starts at login (the installer, or the OS's own settings, may have changed it)
    this.loginItemSeen = this.readLoginItem();
    writeDesktopSettings(loaded.dataDir, { startAtLogin: this.loginItemSeen });
    this.registerIpc();
    this.tray = new Tray(this.icon('ok'));
    this.tray.on('click', () => this.open('#/'));
    this.watchPower();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    if (!process.argv.includes('--hidden') || this.pendingOpen) this.open(this.pendingOpen ?? '#/');
    this.pendingOpen = undefined;
    startAutoUpdate({ packaged: app.isPackaged, log: this.log, version: app.getVersion(), network: () => this.engine!.config.network });
  }

  /** Sleep: noted; wake-up: sources rescanned and missed schedule ticks run; shutdown: a clean quit first. */
  private watchPower(): void {
    powerMonitor.on('suspend', () => this.engine && noteSuspend(this.engine));
    powerMonitor.on('resume', () => {
      if (this.engine) resumeAfterSleep(this.engine);
      this.refresh();
    });
    // delays the shutdown until Ferry has stopped (deliveries in flight finish, the database closes); the
    // typings omit the event the documentation gives this listener
    const onShutdown = (e?: { preventDefault?(): void }) => {
      e?.preventDefault?.();
      app.quit();
    };
    powerMonitor.on('shutdown', onShutdown as () => void);
  }

  private icon(state: TrayState) {
    const img = nativeImage.createFromPath(trayIconFile(state));
    if (process.platform === 'darwin') img.setTemplateImage(true);
    return img;
  }

  private get dashboardUrl(): string {
    const admin = this.admin;
    if (!admin) throw new Error('the admin API is not running');
    return `${admin.url}/`;
  }

  /** Shows the window (creating it once) at a dashboard route. */
  open(route: string): void {
    if (!this.admin) {
      this.pendingOpen = route;
      return;
    }
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
    return !!url && !!this.admin && new URL(url).origin === new URL(this.admin.url).origin;
  }

  private registerIpc(): void {
    const handle = (channel: IpcChannel, fn: (e: IpcMainInvokeEvent, ...args: any[]) => unknown) =>
      ipcMain.handle(channel, (e, ...args) => {
        if (!this.fromDashboard(e)) throw new Error('not allowed');
        return fn(e, ...args);
      });
    handle('ferry:connection', () => ({ baseUrl: this.admin!.url, token: this.admin!.token }));
    handle('ferry:pick-folder', async (_e, opts: { title?: string; defaultPath?: string } = {}) => {
      const parent = this.window && !this.window.isDestroyed() ? this.window : undefined;
      const options = { title: typeof opts.title === 'string' ? opts.title : 'Choose a folder', defaultPath: typeof opts.defaultPath === 'string' ? opts.defaultPath : undefined, properties: ['openDirectory', 'createDirectory'] as Array<'openDirectory' | 'createDirectory'> };
      const r = parent ? await dialog.showOpenDialog(parent, options) : await dialog.showOpenDialog(options);
      return r.canceled ? null : (r.filePaths[0] ?? null);
    });
    handle('ferry:set-start-at-login', (_e, enabled: unknown) => this.setStartAtLogin(enabled === true));
  }

  /** The command line the OS starts at login: this executable (and the app folder in development), --config. */
  private loginCommand(): { exec: string; args: string[] } {
    const config = argValue('--config');
    return { exec: process.execPath, args: [...(app.isPackaged ? [] : [app.getAppPath()]), ...(config ? ['--config', path.resolve(config)] : [])] };
  }

  /** Whether the OS starts Ferry at login, as the OS reports it. */
  private readLoginItem(): boolean {
    if (loginItemBackend(process.platform) === 'xdg-autostart') return readXdgAutostart(xdgAutostartFile());
    return app.getLoginItemSettings({ args: LOGIN_ARGS }).openAtLogin;
  }

  /** Registers or removes the login item, then stores and returns what the OS reports back. */
  private setStartAtLogin(on: boolean): boolean {
    if (loginItemBackend(process.platform) === 'xdg-autostart') {
      const { exec, args } = this.loginCommand();
      writeXdgAutostart(xdgAutostartFile(), on, exec, args);
    } else {
      app.setLoginItemSettings({ openAtLogin: on, args: LOGIN_ARGS });
    }
    const reported = this.readLoginItem();
    if (reported !== on) this.log.warn({ wanted: on, reported }, 'the OS did not take the start-at-login setting');
    this.loginItemSeen = reported;
    if (this.engine) writeDesktopSettings(this.engine.dataDir, { startAtLogin: reported });
    return reported;
  }

  /** Follows the OS (changed in its settings) and the dashboard (changed through the API) on each refresh. */
  private syncLoginItem(): boolean {
    const osNow = this.readLoginItem();
    const step = reconcileLoginItem(osNow, this.loginItemSeen, readDesktopSettings(this.engine!.dataDir).startAtLogin);
    if (step.apply !== undefined) return this.setStartAtLogin(step.apply);
    if (step.store !== undefined) writeDesktopSettings(this.engine!.dataDir, { startAtLogin: step.store });
    this.loginItemSeen = osNow;
    return osNow;
  }

  /** The engine API the tray calls (the one the dashboard reaches over HTTP). */
  private get api(): EngineApi {
    if (!this.admin) throw new Error('the engine is not running');
    return this.admin.api;
  }

  /** Recomputes icon, tooltip, menu and notifications from the engine's status. */
  private refresh(): void {
    void this.refreshNow();
  }

  private async refreshNow(): Promise<void> {
    if (!this.admin || !this.tray || this.stopped) return;
    try {
      const report = await this.api.status();
      const dead = await this.api.recentDead();
      const problems: TrayProblem[] = [...dead, ...problemsFromStatus(report).filter((p) => !dead.some((d) => d.flow === p.flow))];
      if (!this.tray || this.stopped) return;
      const state = trayState(report);
      if (state !== this.iconState) {
        this.tray.setImage(this.icon(state));
        this.iconState = state;
      }
      this.tray.setToolTip(trayTooltip(report));
      const template = trayMenuTemplate({ report, problems, startAtLogin: this.syncLoginItem() });
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
          await this.api.syncNow();
          break;
        case 'pause-all':
          await this.api.pause();
          break;
        case 'resume-all':
          await this.api.resume();
          break;
        case 'open-logs': {
          const logs = logsDir(engine);
          fs.mkdirSync(logs, { recursive: true });
          const problem = await shell.openPath(logs);
          if (problem) this.log.warn({ problem }, 'cannot open the logs folder');
          break;
        }
        case 'toggle-start-at-login':
          this.setStartAtLogin(!this.readLoginItem());
          break;
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
