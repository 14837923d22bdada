// "Start at login": the OS holds the truth. macOS and Windows through Electron's app.setLoginItemSettings /
// getLoginItemSettings (a login item; the HKCU Run key, the one the installer sets too); Linux desktops through
// an XDG autostart entry (~/.config/autostart/ferry.desktop), which Electron does not manage. What the tray
// and the dashboard show is read back from there, so a change made in System Settings or Task Manager shows.
// Pure functions and file helpers only: main.ts makes the Electron calls.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The arguments Ferry is started with at login: no window, just the tray. */
export const LOGIN_ARGS = ['--hidden'];

export type LoginItemBackend = 'electron' | 'xdg-autostart';

export function loginItemBackend(platform: NodeJS.Platform): LoginItemBackend {
  return platform === 'darwin' || platform === 'win32' ? 'electron' : 'xdg-autostart';
}

/** ~/.config/autostart/ferry.desktop (XDG_CONFIG_HOME respected). */
export function xdgAutostartFile(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'autostart', 'ferry.desktop');
}

/** Quotes one Exec argument per the Desktop Entry spec. */
function execArg(a: string): string {
  return /[\s"'\\$`]/.test(a) ? `"${a.replace(/(["\\$`])/g, '\\$1')}"` : a;
}

/** The autostart entry that starts `exec args… --hidden` at login. */
export function xdgAutostartEntry(exec: string, args: string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Ferry',
    'Comment=Ferry integration agent (tray)',
    `Exec=${[exec, ...args, ...LOGIN_ARGS].map(execArg).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** Whether an autostart entry is there and enabled (the desktop's settings may set Hidden=true instead of deleting it). */
export function readXdgAutostart(file: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  return !/^Hidden\s*=\s*true\s*$/im.test(text) && !/^X-GNOME-Autostart-enabled\s*=\s*false\s*$/im.test(text);
}

export function writeXdgAutostart(file: string, on: boolean, exec: string, args: string[]): void {
  if (!on) {
    fs.rmSync(file, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, xdgAutostartEntry(exec, args), { mode: 0o644 });
}

/**
 * What to do on a refresh, given the OS's state now, the state seen at the last refresh and the wish stored
 * in the settings (the dashboard writes it): the OS changed (the user used the OS's settings) → adopt it;
 * the wish changed → apply it; else nothing.
 */
export function reconcileLoginItem(osNow: boolean, osBefore: boolean, wish: boolean): { apply?: boolean; store?: boolean } {
  if (osNow !== osBefore) return { store: osNow };
  if (wish !== osNow) return { apply: wish };
  return {};
}
