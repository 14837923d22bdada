// `ferry start` opens the desktop only where Electron can run; otherwise it says why in one line.
import { describe, expect, it } from 'vitest';
import { decideDesktop, findElectronBinary, probeDesktop } from '../../../main/desktop/launch.ts';

const base = { platform: 'linux' as NodeJS.Platform, env: { DISPLAY: ':0' }, electronBinary: '/opt/electron/electron', built: true };

describe('decideDesktop', () => {
  it('runs the desktop with a binary, a display and a build', () => {
    expect(decideDesktop(base)).toEqual({ desktop: true, electron: '/opt/electron/electron' });
    expect(decideDesktop({ ...base, env: { WAYLAND_DISPLAY: 'wayland-0' } })).toEqual({ desktop: true, electron: '/opt/electron/electron' });
    expect(decideDesktop({ ...base, platform: 'win32', env: {} })).toEqual({ desktop: true, electron: '/opt/electron/electron' });
    expect(decideDesktop({ ...base, platform: 'darwin', env: {} })).toEqual({ desktop: true, electron: '/opt/electron/electron' });
  });

  it('gives a one-line reason when it cannot', () => {
    expect(decideDesktop({ ...base, electronBinary: undefined })).toEqual({ desktop: false, reason: 'no Electron binary (node_modules/electron has not downloaded it)' });
    expect(decideDesktop({ ...base, env: {} })).toEqual({ desktop: false, reason: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)' });
    expect(decideDesktop({ ...base, env: { DISPLAY: ':0', FERRY_HEADLESS: '1' } })).toEqual({ desktop: false, reason: 'FERRY_HEADLESS is set' });
    expect(decideDesktop({ ...base, built: false })).toEqual({ desktop: false, reason: 'the desktop app is not built (run `npm run build:desktop`)' });
  });

  it('FERRY_HEADLESS=0 does not force headless', () => {
    expect(decideDesktop({ ...base, env: { DISPLAY: ':0', FERRY_HEADLESS: '0' } }).desktop).toBe(true);
  });

  it('probes this machine consistently (build machines have the electron package but no binary)', () => {
    const bin = findElectronBinary();
    const d = decideDesktop({ ...probeDesktop(), env: { DISPLAY: ':0' }, built: true });
    if (bin) expect(d).toEqual({ desktop: true, electron: bin });
    else expect(d).toEqual({ desktop: false, reason: 'no Electron binary (node_modules/electron has not downloaded it)' });
  });
});
