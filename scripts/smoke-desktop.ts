// npm run smoke:desktop: the desktop end-to-end checks (test/e2e/desktop-app.test.ts) against a real Electron
// binary instead of the double. Where there is none (the electron package could not download it, as on
// machines without internet) it says so and skips; on Linux without a display it runs under xvfb-run when
// that is installed, and skips otherwise. Exit code: the tests', or 0 when skipped.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findElectronBinary } from '../main/desktop/launch.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function smokePlan(p: { electron: string | undefined; platform: NodeJS.Platform; display: boolean; xvfbRun: boolean }): { run: string[] } | { skip: string } {
  if (!p.electron) return { skip: 'no Electron binary: the electron package has not downloaded it (no internet when it was installed?); the same checks ran against the Electron double in npm test' };
  const vitest = [process.execPath, path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', 'test/e2e/desktop-app.test.ts'];
  if (p.platform === 'linux' && !p.display) {
    if (!p.xvfbRun) return { skip: 'no display (DISPLAY and WAYLAND_DISPLAY are unset) and no xvfb-run to make one (apt-get install xvfb)' };
    return { run: ['xvfb-run', '--auto-servernum', ...vitest] };
  }
  return { run: vitest };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const electron = findElectronBinary();
  const xvfbRun = spawnSync('xvfb-run', ['--help'], { stdio: 'ignore' }).error === undefined;
  const plan = smokePlan({ electron, platform: process.platform, display: !!(process.env.DISPLAY || process.env.WAYLAND_DISPLAY), xvfbRun });
  if ('skip' in plan) {
    console.log(`smoke:desktop skipped: ${plan.skip}`);
    process.exit(0);
  }
  console.log(`smoke:desktop: ${electron}`);
  const r = spawnSync(plan.run[0], plan.run.slice(1), { cwd: root, stdio: 'inherit', env: { ...process.env, FERRY_DESKTOP_ELECTRON: electron } });
  process.exit(r.status ?? 1);
}
