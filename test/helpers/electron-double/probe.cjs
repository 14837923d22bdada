// Loaded into a REAL Electron main process (NODE_OPTIONS=--require, by `npm run smoke:desktop`) before the
// app: it reports the same calls the double (electron.cjs) records and answers the same commands, so
// test/e2e/desktop-app.test.ts checks the real binary the same way. It wraps Electron's classes rather than
// replacing them: the tray, the window, notifications and power events are Electron's own. Only what
// would leave the machine or the test is replaced: shell.openExternal/openPath are recorded, not run.
'use strict';
const fs = require('node:fs');
const { record, onCommand, flush } = require('./channel.cjs');
const { describeMenu, findItem } = require('./menu.cjs');
const electron = require('electron');
const { app, BrowserWindow, Notification, Tray, ipcMain, powerMonitor, shell, session } = electron;

if (process.env.FERRY_DOUBLE_USER_DATA) app.setPath('userData', process.env.FERRY_DOUBLE_USER_DATA);

const describeImage = (img) => ({ file: img?.__file ?? null, empty: img?.isEmpty?.() ?? false, template: img?.isTemplateImage?.() ?? false });

function wrap(target, name, before) {
  const original = target[name];
  target[name] = function (...args) {
    before.call(this, ...args);
    return original.apply(this, args);
  };
}

// images keep the path they came from (for the report)
const createFromPath = electron.nativeImage.createFromPath;
electron.nativeImage.createFromPath = (p) => Object.assign(createFromPath(p), { __file: p });

let lastTray;
let lastMenu;
wrap(Tray.prototype, 'setImage', function (img) { lastTray = this; record('Tray.setImage', [describeImage(img)]); });
wrap(Tray.prototype, 'setToolTip', function (t) { lastTray = this; record('Tray.setToolTip', [t]); });
wrap(Tray.prototype, 'setContextMenu', function (menu) { lastTray = this; lastMenu = menu; record('Tray.setContextMenu', [describeMenu(menu)]); });
wrap(Tray.prototype, 'destroy', () => record('Tray.destroy'));

const wins = [];
wrap(BrowserWindow.prototype, 'loadURL', function (url) {
  if (!wins.includes(this)) {
    wins.push(this);
    record('BrowserWindow.new', [{ webPreferences: this.webContents.getLastWebPreferences?.() ?? {} }]);
    this.webContents.on('did-finish-load', () => record('webContents.did-finish-load', [{ url: this.webContents.getURL(), status: 200, contentType: 'text/html', title: this.webContents.getTitle() }]));
    this.on('show', () => record('BrowserWindow.show'));
    // listeners run in order: the app's own `close` handler has decided when this one runs last
    this.on('close', (e) => setImmediate(() => record('BrowserWindow.close', [{ prevented: e.defaultPrevented }])));
    this.on('hide', () => record('BrowserWindow.hide'));
    this.on('closed', () => record('BrowserWindow.destroy'));
    wrap(this.webContents, 'executeJavaScript', (code) => record('webContents.executeJavaScript', [code]));
  }
  record('webContents.loadURL', [url]);
});

const notes = new Map();
wrap(Notification.prototype, 'show', function () {
  const id = notes.size + 1;
  notes.set(id, this);
  record('Notification.show', [{ id, title: this.title, body: this.body }]);
});

shell.openExternal = async (url) => record('shell.openExternal', [url]);
shell.openPath = async (p) => {
  record('shell.openPath', [p]);
  return fs.existsSync(p) ? '' : `Failed to open path ${p}`;
};

const handlers = new Map();
wrap(ipcMain, 'handle', (channel, fn) => handlers.set(channel, fn));
wrap(app, 'setLoginItemSettings', (s) => record('app.setLoginItemSettings', [s]));
wrap(app, 'quit', () => record('app.quit'));
wrap(app, 'exit', (code) => {
  record('app.exit', [code ?? 0]);
  record('process.exit', [code ?? 0]);
});
const lock = app.requestSingleInstanceLock.bind(app);
app.requestSingleInstanceLock = (...a) => {
  const got = lock(...a);
  record('app.requestSingleInstanceLock', [got]);
  return got;
};

let permissionHandler;
app.on('ready', () => {
  record('app.event.ready');
  wrap(session.defaultSession, 'setPermissionRequestHandler', (h) => (permissionHandler = h));
  for (const e of ['suspend', 'resume', 'shutdown']) powerMonitor.on(e, () => undefined);
  record('powerMonitor.on', ['suspend']);
});
app.on('before-quit', (e) => record('app.event.before-quit', [{ prevented: e.defaultPrevented }]));
app.on('second-instance', (_e, argv, cwd) => record('app.event.second-instance', [argv, cwd]));
app.on('will-quit', (e) => setImmediate(() => record('app.event.will-quit', [{ prevented: e.defaultPrevented }])));
app.on('quit', () => void flush());

const win = () => wins.find((w) => !w.isDestroyed());

onCommand('tray-menu', () => describeMenu(lastMenu));
onCommand('tray-menu-click', ({ label }) => {
  const item = findItem(lastMenu, label);
  if (!item) throw new Error(`no menu item "${label}"`);
  if (!item.enabled) throw new Error(`menu item "${label}" is disabled`);
  item.click(undefined, win(), win()?.webContents);
  return { clicked: label };
});
onCommand('tray-click', () => (lastTray?.emit('click'), {}));
onCommand('close-window', () => {
  const w = win();
  w?.close();
  return { closed: w ? w.isDestroyed() : false };
});
onCommand('navigate', async ({ url }) => {
  const w = win();
  const before = w.webContents.getURL();
  let prevented = true;
  const onNav = (e) => setImmediate(() => (prevented = e.defaultPrevented));
  w.webContents.once('will-navigate', onNav);
  await w.webContents.executeJavaScript(`location.href = ${JSON.stringify(url)}; 1`).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 300));
  return { prevented: prevented && w.webContents.getURL() === before, url: w.webContents.getURL() };
});
onCommand('window-open', async ({ url }) => {
  const opened = await win().webContents.executeJavaScript(`window.open(${JSON.stringify(url)}) !== null`);
  return { action: opened ? 'allow' : 'deny' };
});
onCommand('permission', ({ permission }) => new Promise((resolve) => (permissionHandler ? permissionHandler(win()?.webContents, permission, (granted) => resolve({ granted }), {}) : resolve({ granted: true }))));
onCommand('ipc-invoke', async ({ channel, senderUrl, args }) => handlers.get(channel)({ sender: win()?.webContents, senderFrame: { url: senderUrl } }, ...(args ?? [])));
onCommand('notification-click', ({ id }) => (notes.get(id).emit('click'), {}));
onCommand('power', ({ event }) => {
  let prevented = false;
  powerMonitor.emit(event, { preventDefault: () => (prevented = true) });
  return { prevented };
});
