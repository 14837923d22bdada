// `npm start` (= ferry start) where Electron cannot run: the engine runs headless, prints the dashboard URL
// and one line saying why there is no tray, and stops cleanly.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ferryBin, writeConfig } from '../helpers/cli.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

async function start(env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ output: string; code: number | null }> {
  const dir = tempDir();
  const config = writeConfig(dir, { dataDir: './data', admin: { port: 0 }, integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] });
  const child = spawn(process.execPath, [ferryBin, 'start', '--config', config, ...args], { env: { ...process.env, DISPLAY: '', WAYLAND_DISPLAY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => /Dashboard: http:\/\/127\.0\.0\.1:\d+\//.test(output) || child.exitCode !== null, 'the dashboard URL', 30_000);
    // the folders of the default-style config are created for the admin
    expect(fs.existsSync(path.join(dir, 'in'))).toBe(true);
  } finally {
    child.kill('SIGTERM');
  }
  return { output, code: await exited };
}

describe('ferry start without a desktop', () => {
  it('runs headless, prints the dashboard URL and why there is no tray', async () => {
    const { output, code } = await start({});
    expect(output).toMatch(/Ferry is running headless \(no tray: (no Electron binary|no display)[^)]*\)+\.\n/);
    expect(output).toMatch(/Dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    expect(output).not.toMatch(/Cannot find module 'electron'|Electron failed to install/);
    expect(code).toBe(0);
  });

  it('names FERRY_HEADLESS and --headless as the reason when they are given', async () => {
    expect((await start({ FERRY_HEADLESS: '1' })).output).toContain('Ferry is running headless (no tray: FERRY_HEADLESS is set).');
    expect((await start({}, ['--headless'])).output).toContain('Ferry is running headless (no tray: --headless given).');
  });
});
