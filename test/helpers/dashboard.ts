// The dashboard in Debian's Chromium (playwright-core, never a downloaded browser): built into a folder of
// its own (so dashboard tests can run side by side) and opened logged in through a one-time link.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { repoRoot } from './cli.ts';
import { tempDir } from './tmp.ts';
import { loginLink } from '../../main/engine/admin/login.ts';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const chromiumAvailable = fs.existsSync('/usr/bin/chromium');
/** Where tests leave their screenshots. */
export const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'dashboard');

/** Builds the renderer into a temp folder (the admin server's staticDir). */
export async function buildDashboard(): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const staticDir = tempDir('ferry-renderer-');
  await build({ configFile: path.join(repoRoot, 'renderer.vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
  return staticDir;
}

/** Chromium on the dashboard at `baseUrl`, logged in with the admin token (a fresh profile each time). */
export async function openDashboard(
  baseUrl: string,
  token: string,
  opts: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(tempDir('ferry-chromium-'), { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, viewport: opts.viewport ?? { width: 1280, height: 1100 }, colorScheme: opts.colorScheme ?? 'light' });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  await page.goto(loginLink(baseUrl, token));
  await page.waitForURL(`${baseUrl}/`);
  return { context, page };
}
