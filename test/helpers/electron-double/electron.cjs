// A recording double of the `electron` module, for running the desktop main process in plain Node. The real
// Electron binary cannot be downloaded on the machines that run the tests, so this stands in for it: it
// records every call the app makes (test/helpers/desktop.ts reads them) and follows Electron's documented
// behaviour where the app relies on it:
// - `ready` is emitted once the main script has run (after `will-finish-launching`); whenReady() resolves
//   then; Tray, BrowserWindow, Notification and powerMonitor refuse to be used before it;
// - requestSingleInstanceLock(): the first process holds the lock; a later one gets false, and the first
//   receives `second-instance` with the later one's argv and working directory (a real lock and socket);
// - app.quit(): `before-quit`, then every window gets `close` (a window that prevents it cancels the quit),
//   then `will-quit` (preventable), `quit`, exit; app.exit(code) exits at once without those events;
// - a Tray's context menu on Linux is what was given to setContextMenu (changing a MenuItem later shows
//   nothing until setContextMenu is called again); on macOS and Windows the items are live;
// - checkbox menu items toggle `checked` before their click handler runs;
// - nativeImage: a missing file gives an empty image; on macOS a file named …Template is a template image;
// - webContents `will-navigate` (preventable) and setWindowOpenHandler; session permission handlers;
// - safeStorage (an OS key per test "machine"), powerMonitor events, Notification `click`,
//   app.setLoginItemSettings / getLoginItemSettings (macOS and Windows only; kept in the test's "OS").
// FERRY_DOUBLE_* variables set the app path, userData, the OS state folder and the emulated platform.
'use strict';
const crypto = require('node:crypto');
const EventEmitter = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { record, onCommand, flush } = require('./channel.cjs');
const { describeMenu, findItem } = require('./menu.cjs');

const platform = process.platform;
const appPath = process.env.FERRY_DOUBLE_APP_PATH || process.cwd();
const userData = process.env.FERRY_DOUBLE_USER_DATA || path.join(os.tmpdir(), 'ferry-double-userdata');
const osDir = process.env.FERRY_DOUBLE_OS_DIR || path.join(userData, '..', 'os');
fs.mkdirSync(osDir, { recursive: true });

let ready = false;
let exiting = false;
const windows = new Set();
const trays = [];
const notifications = new Map();
const handlers = new Map();
let permissionHandler;

function preventable(extra = {}) {
  return { defaultPrevented: false, preventDefault() { this.defaultPrevented = true; }, ...extra };
}

function requireReady(what) {
  if (!ready) throw new Error(`${what} cannot be used before the app is ready`);
}

// ------------------------------------------------------------------ app

const app = new EventEmitter();
let resolveReady;
const readyPromise = new Promise((r) => (resolveReady = r));
app.isPackaged = false;
app.getAppPath = () => appPath;
app.getVersion = () => JSON.parse(fs.readFileSync(path.join(appPath, 'package.json'), 'utf8')).version;
app.getName = () => 'Ferry';
app.getPath = (name) => {
  const paths = { userData, appData: path.dirname(userData), home: os.homedir(), temp: os.tmpdir(), logs: path.join(userData, 'logs'), exe: process.execPath };
  if (!(name in paths)) throw new Error(`Failed to get '${name}' path`);
  return paths[name];
};
app.isReady = () => ready;
app.whenReady = () => readyPromise;

// the lock: a file naming the holder's pid; the holder listens on a socket for later instances
const lockId = crypto.createHash('sha1').update(userData).digest('hex').slice(0, 12);
const lockFile = path.join(userData, 'SingletonLock');
// the host's kind of socket, whatever platform is emulated
const lockSocket = os.type() === 'Windows_NT' ? `\\\\.\\pipe\\ferry-double-${lockId}` : path.join(os.tmpdir(), `ferry-double-${lockId}.sock`);
let holdsLock = false;
let lockServer;
let notifying = Promise.resolve();

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

app.requestSingleInstanceLock = (additionalData) => {
  fs.mkdirSync(userData, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      holdsLock = true;
      fs.rmSync(lockSocket, { force: true });
      lockServer = net.createServer((conn) => {
        let text = '';
        conn.on('data', (d) => (text += d));
        conn.on('end', () => {
          const msg = JSON.parse(text);
          record('app.event.second-instance', [msg.argv, msg.cwd]);
          app.emit('second-instance', preventable(), msg.argv, msg.cwd, msg.additionalData);
          conn.end('ok');
        });
      });
      lockServer.listen(lockSocket);
      lockServer.unref();
      record('app.requestSingleInstanceLock', [true]);
      return true;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(lockFile, 'utf8'));
      if (alive(pid) && pid !== process.pid) {
        // tell the holder, as Electron does, then report that this process does not hold the lock
        notifying = new Promise((resolve) => {
          const conn = net.connect(lockSocket, () => conn.end(JSON.stringify({ argv: process.argv, cwd: process.cwd(), additionalData })));
          conn.on('data', () => undefined);
          conn.on('close', () => resolve());
          conn.on('error', () => resolve());
        });
        record('app.requestSingleInstanceLock', [false]);
        return false;
      }
      fs.rmSync(lockFile, { force: true }); // a holder that died (kill -9) leaves its file behind
    }
  }
  return false;
};

function releaseLock() {
  if (!holdsLock) return;
  lockServer?.close();
  fs.rmSync(lockFile, { force: true });
  if (!lockSocket.startsWith('\\\\')) fs.rmSync(lockSocket, { force: true });
}

async function exitProcess(code) {
  if (exiting) return;
  exiting = true;
  for (const w of [...windows]) w.destroy();
  await notifying;
  releaseLock();
  record('process.exit', [code]);
  await flush();
  process.exit(code);
}

let quitting = false;
app.quit = () => {
  record('app.quit');
  if (quitting) return;
  quitting = true;
  setImmediate(() => {
    const beforeQuit = preventable();
    app.emit('before-quit', beforeQuit);
    record('app.event.before-quit', [{ prevented: beforeQuit.defaultPrevented }]);
    if (beforeQuit.defaultPrevented) return void (quitting = false);
    for (const w of [...windows]) {
      if (!w.close()) {
        record('app.quit-cancelled', ['a window prevented its close']);
        quitting = false;
        return;
      }
    }
    const willQuit = preventable();
    app.emit('will-quit', willQuit);
    record('app.event.will-quit', [{ prevented: willQuit.defaultPrevented }]);
    if (willQuit.defaultPrevented) return void (quitting = false);
    app.emit('quit', preventable(), 0);
    void exitProcess(0);
  });
};
app.exit = (code = 0) => {
  record('app.exit', [code]);
  void exitProcess(code);
};

// login items: macOS and Windows only (Linux has no such API in Electron); kept in the "OS" folder
const loginFile = path.join(osDir, 'login-items.json');
const readLogin = () => {
  try {
    return JSON.parse(fs.readFileSync(loginFile, 'utf8'));
  } catch {
    return {};
  }
};
app.setLoginItemSettings = (settings) => {
  record('app.setLoginItemSettings', [settings]);
  if (platform !== 'darwin' && platform !== 'win32') return;
  const all = readLogin();
  all[process.execPath] = { openAtLogin: settings.openAtLogin === true, args: settings.args ?? [] };
  fs.writeFileSync(loginFile, JSON.stringify(all, null, 2));
};
app.getLoginItemSettings = (options) => {
  const entry = platform === 'darwin' || platform === 'win32' ? readLogin()[process.execPath] : undefined;
  const result = { openAtLogin: entry?.openAtLogin === true, openAsHidden: false, wasOpenedAtLogin: false, wasOpenedAsHidden: false, restoreState: false, executableWillLaunchAtLogin: entry?.openAtLogin === true, launchItems: [] };
  record('app.getLoginItemSettings', [options ?? {}, result.openAtLogin]);
  return result;
};

// ------------------------------------------------------------------ images, menus, tray

class NativeImage {
  constructor(file) {
    this.file = file;
    this.empty = !file || !fs.existsSync(file);
    this.template = platform === 'darwin' && /Template(@\dx)?\.[a-z]+$/i.test(file ?? '');
  }
  isEmpty() { return this.empty; }
  setTemplateImage(on) { this.template = on === true; }
  isTemplateImage() { return this.template; }
  getSize() { return this.empty ? { width: 0, height: 0 } : { width: 16, height: 16 }; }
}
const describeImage = (img) => (img instanceof NativeImage ? { file: img.file, empty: img.empty, template: img.template } : { file: typeof img === 'string' ? img : null, empty: false, template: false });
const nativeImage = { createFromPath: (p) => new NativeImage(p), createEmpty: () => new NativeImage(undefined) };

const ITEM_TYPES = ['normal', 'separator', 'submenu', 'checkbox', 'radio'];
class MenuItem {
  constructor(opts) {
    const type = opts.type ?? (opts.submenu ? 'submenu' : 'normal');
    if (!ITEM_TYPES.includes(type)) throw new Error(`Invalid menu item type ${type}`);
    if (!opts.label && !opts.role && type !== 'separator') throw new Error('Invalid template for MenuItem: must have at least one of label, role or type');
    Object.assign(this, { label: opts.label ?? '', type, enabled: opts.enabled !== false, visible: opts.visible !== false, checked: opts.checked === true, click: opts.click });
    this.submenu = opts.submenu ? (opts.submenu instanceof Menu ? opts.submenu : Menu.buildFromTemplate(opts.submenu)) : undefined;
  }
}
class Menu {
  constructor() { this.items = []; }
  append(item) { this.items.push(item); }
  static buildFromTemplate(template) {
    const m = new Menu();
    for (const t of template) m.append(t instanceof MenuItem ? t : new MenuItem(t));
    return m;
  }
}
/** A copy of a menu as it was (what Linux shows until setContextMenu is called again); clicks reach the originals. */
function snapshot(menu) {
  const copy = new Menu();
  for (const i of menu.items) {
    const c = Object.assign(Object.create(MenuItem.prototype), i, { original: i.original ?? i });
    if (i.submenu) c.submenu = snapshot(i.submenu);
    copy.items.push(c);
  }
  return copy;
}

class Tray extends EventEmitter {
  constructor(image) {
    requireReady('Tray');
    super();
    this.destroyed = false;
    trays.push(this);
    record('Tray.new', [describeImage(image)]);
  }
  setImage(image) { record('Tray.setImage', [describeImage(image)]); }
  setToolTip(text) { record('Tray.setToolTip', [text]); }
  setContextMenu(menu) {
    this.menu = menu;
    this.shown = platform === 'linux' ? snapshot(menu) : menu;
    record('Tray.setContextMenu', [describeMenu(menu)]);
  }
  destroy() { this.destroyed = true; record('Tray.destroy'); }
  isDestroyed() { return this.destroyed; }
}


// ------------------------------------------------------------------ windows

class WebContents extends EventEmitter {
  constructor(owner) {
    super();
    this.owner = owner;
    this.url = '';
  }
  setWindowOpenHandler(h) { this.openHandler = h; record('webContents.setWindowOpenHandler'); }
  getURL() { return this.url; }
  isDestroyed() { return this.owner.destroyed; }
  getLastWebPreferences() { return this.owner.options.webPreferences ?? {}; }
  async loadURL(url) {
    record('webContents.loadURL', [url]);
    this.url = url;
    let status = 0;
    let contentType = '';
    let title = '';
    try {
      const res = await fetch(url);
      status = res.status;
      contentType = res.headers.get('content-type') ?? '';
      title = /<title>([^<]*)<\/title>/i.exec(await res.text())?.[1] ?? '';
    } catch (err) {
      record('webContents.did-fail-load', [url, String(err)]);
      this.emit('did-fail-load', preventable(), -2, String(err), url);
      return;
    }
    record('webContents.did-finish-load', [{ url, status, contentType, title }]);
    this.emit('did-finish-load');
    this.owner.emit('ready-to-show');
  }
  executeJavaScript(code) {
    record('webContents.executeJavaScript', [code]);
    const hash = /^location\.hash = ("[^"]*")$/.exec(code);
    if (hash) this.url = `${this.url.replace(/#.*$/, '')}${JSON.parse(hash[1])}`;
    return Promise.resolve();
  }
}

class BrowserWindow extends EventEmitter {
  constructor(options = {}) {
    requireReady('BrowserWindow');
    super();
    this.options = options;
    this.visible = options.show !== false;
    this.destroyed = false;
    this.minimized = false;
    this.webContents = new WebContents(this);
    windows.add(this);
    record('BrowserWindow.new', [options]);
  }
  loadURL(url) { return this.webContents.loadURL(url); }
  show() { this.visible = true; record('BrowserWindow.show'); }
  hide() { this.visible = false; record('BrowserWindow.hide'); }
  focus() { record('BrowserWindow.focus'); }
  isVisible() { return this.visible; }
  isMinimized() { return this.minimized; }
  restore() { this.minimized = false; record('BrowserWindow.restore'); }
  isDestroyed() { return this.destroyed; }
  /** Returns false when a `close` listener prevented it. */
  close() {
    if (this.destroyed) return true;
    const e = preventable();
    this.emit('close', e);
    record('BrowserWindow.close', [{ prevented: e.defaultPrevented }]);
    if (e.defaultPrevented) return false;
    this.destroy();
    return true;
  }
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    windows.delete(this);
    record('BrowserWindow.destroy');
    this.emit('closed');
  }
  static getAllWindows() { return [...windows]; }
}

const session = {
  defaultSession: {
    setPermissionRequestHandler: (h) => { permissionHandler = h; record('session.setPermissionRequestHandler'); },
    setPermissionCheckHandler: (h) => { record('session.setPermissionCheckHandler', [typeof h]); },
  },
};

// ------------------------------------------------------------------ the rest of the API the app uses

class Notification extends EventEmitter {
  constructor(options = {}) {
    requireReady('Notification');
    super();
    this.id = notifications.size + 1;
    this.options = options;
    notifications.set(this.id, this);
  }
  show() { record('Notification.show', [{ id: this.id, title: this.options.title, body: this.options.body }]); }
  static isSupported() { return true; }
}

const ipcMain = {
  handle: (channel, fn) => { handlers.set(channel, fn); record('ipcMain.handle', [channel]); },
  removeHandler: (channel) => handlers.delete(channel),
};

// the "OS" key that protects safeStorage data on this test machine
const osKey = crypto.createHash('sha256').update(`ferry-double-os-key:${osDir}`).digest();
const safeStorage = {
  isEncryptionAvailable: () => ready,
  isAsyncEncryptionAvailable: async () => { await readyPromise; return true; },
  getSelectedStorageBackend: () => { requireReady('safeStorage'); return process.env.FERRY_DOUBLE_KEYRING ?? 'gnome_libsecret'; },
  encryptStringAsync: async (text) => {
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', osKey, iv);
    const data = Buffer.concat([c.update(text, 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), data]);
  },
  decryptStringAsync: async (buf) => {
    const d = crypto.createDecipheriv('aes-256-gcm', osKey, buf.subarray(0, 12));
    d.setAuthTag(buf.subarray(12, 28));
    return { result: Buffer.concat([d.update(buf.subarray(28)), d.final()]).toString('utf8'), shouldReEncrypt: false };
  },
};

const powerEvents = new EventEmitter();
const powerMonitor = {
  on: (event, fn) => { requireReady('powerMonitor'); powerEvents.on(event, fn); record('powerMonitor.on', [event]); return powerMonitor; },
  once: (event, fn) => { requireReady('powerMonitor'); powerEvents.once(event, fn); return powerMonitor; },
  getSystemIdleTime: () => 0,
};

const shell = {
  openPath: async (p) => { record('shell.openPath', [p]); return fs.existsSync(p) ? '' : `Failed to open path ${p}`; },
  openExternal: async (url) => { record('shell.openExternal', [url]); },
};

const nativeTheme = Object.assign(new EventEmitter(), { shouldUseDarkColors: process.env.FERRY_DOUBLE_DARK === '1', themeSource: 'system' });

const dialog = {
  showErrorBox: (title, content) => { record('dialog.showErrorBox', [title, content]); process.stderr.write(`${title}: ${content}\n`); },
  showOpenDialog: async (...args) => { record('dialog.showOpenDialog', [args.at(-1)]); return { canceled: true, filePaths: [] }; },
};

// ------------------------------------------------------------------ what the test can do (a user, the OS)

const mainWindow = () => [...windows][0];
const tray = () => trays.at(-1);

onCommand('tray-menu', () => describeMenu(tray()?.shown ?? new Menu()));
onCommand('tray-menu-click', ({ label }) => {
  const item = findItem(tray()?.shown, label);
  if (!item) throw new Error(`no menu item "${label}"`);
  if (!item.enabled) throw new Error(`menu item "${label}" is disabled`);
  const target = item.original ?? item;
  if (target.type === 'checkbox') target.checked = !target.checked;
  target.click?.(target, mainWindow(), {});
  return { clicked: label };
});
onCommand('tray-click', () => { tray()?.emit('click', preventable()); return {}; });
onCommand('window', () => {
  const w = mainWindow();
  return w ? { url: w.webContents.getURL(), visible: w.visible, destroyed: w.destroyed, webPreferences: w.webContents.getLastWebPreferences() } : null;
});
onCommand('close-window', () => ({ closed: mainWindow()?.close() ?? false }));
onCommand('navigate', ({ url }) => {
  const wc = mainWindow().webContents;
  const e = preventable({ url });
  wc.emit('will-navigate', e, url);
  if (!e.defaultPrevented) wc.url = url;
  return { prevented: e.defaultPrevented, url: wc.getURL() };
});
onCommand('window-open', ({ url }) => mainWindow().webContents.openHandler?.({ url, frameName: '', features: '', disposition: 'new-window', referrer: { url: '', policy: 'default' } }) ?? { action: 'allow' });
onCommand('permission', ({ permission }) =>
  new Promise((resolve) => {
    if (!permissionHandler) return resolve({ granted: true });
    permissionHandler(mainWindow()?.webContents, permission, (granted) => resolve({ granted }), {});
  }));
onCommand('ipc-invoke', async ({ channel, senderUrl, args }) => {
  const fn = handlers.get(channel);
  if (!fn) throw new Error(`No handler registered for '${channel}'`);
  return fn({ sender: mainWindow()?.webContents, senderFrame: { url: senderUrl } }, ...(args ?? []));
});
onCommand('notification-click', ({ id }) => {
  const n = notifications.get(id);
  if (!n) throw new Error(`no notification ${id}`);
  n.emit('click', preventable());
  return {};
});
onCommand('power', ({ event }) => {
  const e = preventable();
  powerEvents.emit(event, e);
  return { prevented: e.defaultPrevented };
});

// Electron emits `ready` once the main script has run
setImmediate(() => {
  if (exiting || quitting) return;
  app.emit('will-finish-launching');
  ready = true;
  record('app.event.ready');
  app.emit('ready', preventable(), {});
  resolveReady();
});

process.on('uncaughtException', (err) => {
  record('process.uncaughtException', [String(err?.stack ?? err)]);
  process.stderr.write(`${err?.stack ?? err}\n`);
  void exitProcess(1);
});

exports.app = app;
exports.BrowserWindow = BrowserWindow;
exports.dialog = dialog;
exports.ipcMain = ipcMain;
exports.Menu = Menu;
exports.MenuItem = MenuItem;
exports.nativeImage = nativeImage;
exports.nativeTheme = nativeTheme;
exports.Notification = Notification;
exports.powerMonitor = powerMonitor;
exports.safeStorage = safeStorage;
exports.session = session;
exports.shell = shell;
exports.Tray = Tray;
