// The dashboard window, set up per Electron's security checklist: context isolation, sandbox, no Node in the
// page, a minimal preload, navigation and new windows denied (http(s) links open in the browser), no
// permissions granted, no <webview>.
import { BrowserWindow, nativeTheme, session, shell, type WebContents } from 'electron';

/** Whether a URL may open in the user's browser: only http(s). */
export function isExternalWebLink(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Locks a window's contents to the dashboard's origin. */
export function harden(contents: WebContents, dashboardOrigin: string): void {
  contents.setWindowOpenHandler(({ url }) => {
    if (isExternalWebLink(url) && new URL(url).origin !== dashboardOrigin) void shell.openExternal(url);
    return { action: 'deny' };
  });
  const guard = (event: { preventDefault(): void }, url: string) => {
    let origin = '';
    try {
      origin = new URL(url).origin;
    } catch {
      // unparsable: deny
    }
    if (origin === dashboardOrigin) return;
    event.preventDefault();
    if (isExternalWebLink(url)) void shell.openExternal(url);
  };
  contents.on('will-navigate', (e, url) => guard(e, url));
  contents.on('will-redirect', (e, url) => guard(e, url));
  contents.on('will-attach-webview', (e) => e.preventDefault());
}

const LIGHT_BACKGROUND = '#f6f7f9';
const DARK_BACKGROUND = '#0f1216';

export function createMainWindow(opts: { url: string; preload: string; icon?: string }): BrowserWindow {
  const origin = new URL(opts.url).origin;
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  const win = new BrowserWindow({
    width: 1200,
    height: 820,
    minWidth: 420,
    minHeight: 400,
    show: false,
    title: 'Ferry',
    icon: opts.icon,
    autoHideMenuBar: true,
    // the page's own background until it paints: no white flash in dark mode
    backgroundColor: nativeTheme.shouldUseDarkColors ? DARK_BACKGROUND : LIGHT_BACKGROUND,
    webPreferences: {
      preload: opts.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
    },
  });
  harden(win.webContents, origin);
  win.once('ready-to-show', () => win.show());
  void win.loadURL(opts.url);
  return win;
}
