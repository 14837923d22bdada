// Start at login: which OS mechanism, the XDG autostart entry Linux desktops read, and how the tray follows
// the OS (changed in its settings) and the dashboard (changed through the API) without fighting either.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loginItemBackend, readXdgAutostart, reconcileLoginItem, writeXdgAutostart, xdgAutostartEntry, xdgAutostartFile } from '../../../main/desktop/login-item.ts';
import { smokePlan } from '../../../scripts/smoke-desktop.ts';
import { tempDir } from '../../helpers/tmp.ts';

describe('start at login', () => {
  it('uses Electron login items on macOS and Windows, an XDG autostart entry on Linux', () => {
    expect(loginItemBackend('darwin')).toBe('electron');
    expect(loginItemBackend('win32')).toBe('electron');
    expect(loginItemBackend('linux')).toBe('xdg-autostart');
    expect(xdgAutostartFile({ XDG_CONFIG_HOME: '/x/cfg' }, '/home/a')).toBe(path.join('/x/cfg', 'autostart', 'ferry.desktop'));
    expect(xdgAutostartFile({}, '/home/a')).toBe(path.join('/home/a', '.config', 'autostart', 'ferry.desktop'));
  });

  it('writes, reads back and removes the autostart entry; a Hidden entry counts as off', () => {
    expect(xdgAutostartEntry('/opt/Ferry/ferry', ['--config', '/home/a/My Ferry/ferry.yaml'])).toContain('\nExec=/opt/Ferry/ferry --config "/home/a/My Ferry/ferry.yaml" --hidden\n');
    const file = path.join(tempDir(), 'autostart', 'ferry.desktop');
    expect(readXdgAutostart(file)).toBe(false);
    writeXdgAutostart(file, true, '/opt/Ferry/ferry', []);
    expect(readXdgAutostart(file)).toBe(true);
    fs.appendFileSync(file, 'Hidden=true\n');
    expect(readXdgAutostart(file)).toBe(false);
    writeXdgAutostart(file, false, '/opt/Ferry/ferry', []);
    expect(fs.existsSync(file)).toBe(false);
  });

  it('adopts a change made in the OS, applies one made in the dashboard, else leaves it', () => {
    expect(reconcileLoginItem(false, true, true)).toEqual({ store: false }); // turned off in the OS's settings
    expect(reconcileLoginItem(true, true, true)).toEqual({});
    expect(reconcileLoginItem(false, false, true)).toEqual({ apply: true }); // turned on in the dashboard
  });
});

describe('npm run smoke:desktop', () => {
  it('runs the desktop checks under a real Electron where there is one, and says why it skips', () => {
    expect(smokePlan({ electron: undefined, platform: 'linux', display: true, xvfbRun: true })).toEqual({ skip: expect.stringMatching(/^no Electron binary/) });
    expect(smokePlan({ electron: '/e', platform: 'linux', display: false, xvfbRun: false })).toEqual({ skip: expect.stringMatching(/^no display/) });
    expect(smokePlan({ electron: '/e', platform: 'linux', display: false, xvfbRun: true })).toMatchObject({ run: expect.arrayContaining(['xvfb-run', 'test/e2e/desktop-app.test.ts']) });
    expect(smokePlan({ electron: '/e', platform: 'darwin', display: false, xvfbRun: false })).toMatchObject({ run: expect.arrayContaining(['run', 'test/e2e/desktop-app.test.ts']) });
  });
});
