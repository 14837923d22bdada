// Debian's Chromium driven by playwright-core for the dashboard's end-to-end tests (never a downloaded browser).
import fs from 'node:fs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { loginLink } from '../../main/engine/admin/login.ts';
import { tempDir } from './tmp.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
export const chromiumAvailable = fs.existsSync(CHROMIUM);

/** A fresh Chromium profile signed in to the dashboard at baseUrl with the admin token (one-time login link). */
export async function openDashboard(
  baseUrl: string,
  token: string,
  opts: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark' } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(tempDir('ferry-chromium-'), { executablePath: CHROMIUM, args: CHROMIUM_ARGS, viewport: opts.viewport ?? { width: 1280, height: 900 }, colorScheme: opts.colorScheme });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  await page.goto(loginLink(baseUrl, token));
  await page.waitForURL(`${baseUrl}/`);
  return { context, page };
}
