// Decides whether `ferry start` can open the desktop app (tray + window) here, and starts it. Runs in plain
// Node, so it never imports electron: it looks for the Electron binary the electron package downloaded.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { packageRoot } from '../engine/index.ts';

export interface DesktopProbe {
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  /** Absolute path of the Electron executable, or undefined when the electron package has none. */
  electronBinary: string | undefined;
  /** Whether the dashboard and the desktop preload are built. */
  built: boolean;
}

export type DesktopDecision = { desktop: true; electron: string } | { desktop: false; reason: string };

/** Where the desktop can run: a binary, a display (Linux), not forced headless. One-line reason otherwise. */
export function decideDesktop(p: DesktopProbe): DesktopDecision {
  const forced = p.env.FERRY_HEADLESS;
  if (forced && forced !== '0' && forced !== 'false') return { desktop: false, reason: 'FERRY_HEADLESS is set' };
  if (p.env.ELECTRON_RUN_AS_NODE) return { desktop: false, reason: 'ELECTRON_RUN_AS_NODE is set' };
  if (!p.electronBinary) return { desktop: false, reason: 'no Electron binary (node_modules/electron has not downloaded it)' };
  if (p.platform === 'linux' && !p.env.DISPLAY && !p.env.WAYLAND_DISPLAY) return { desktop: false, reason: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)' };
  if (!p.built) return { desktop: false, reason: 'the desktop app is not built (run `npm run build:desktop`)' };
  return { desktop: true, electron: p.electronBinary };
}

/** The Electron executable installed with the electron package (its path.txt names it), if present. */
export function findElectronBinary(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('electron/package.json'));
    const rel = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
    const bin = path.join(process.env.ELECTRON_OVERRIDE_DIST_PATH || path.join(dir, 'dist'), rel);
    return fs.existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

export function probeDesktop(): DesktopProbe {
  const root = packageRoot();
  const built = fs.existsSync(path.join(root, 'dist/desktop/preload.cjs')) && fs.existsSync(path.join(root, 'dist/renderer/index.html'));
  return { platform: process.platform, env: process.env, electronBinary: findElectronBinary(), built };
}

/** Runs the desktop app (main/desktop/main.js) with the given config; resolves with its exit code. */
export function runDesktop(electron: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(electron, [packageRoot(), ...args], { stdio: 'inherit', env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined } });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}
