// The dashboard end to end: Debian's Chromium (playwright-core) against a real `ferry run` with its admin
// API, a real HTTP sink and real folders. Screenshots of every page go to test-artifacts/dashboard/.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { repoRoot, startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { loginLink } from '../../main/engine/admin/login.ts';

const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'dashboard');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const FLOW = 'inbox-to-api';

let dir: string;
let inbox: string;
let sink: Sink;
let ferry: RunningFerry;
let baseUrl: string;
let token: string;
let context: BrowserContext;
let page: Page;
/** What the dashboard sent (validate, save, check), for a failure's report. */
const sent: string[] = [];
const metrics: Record<string, unknown> = {};

async function shot(name: string, p: Page = page): Promise<void> {
  await p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Signs in the way a browser user does: the one-time login link `ferry dashboard` prints. */
async function signIn(p: Page): Promise<void> {
  await p.goto(loginLink(baseUrl, token));
  await p.waitForURL(`${baseUrl}/`);
}

const card = (p: Page = page) => p.locator(`li.card[data-flow="${FLOW}"]`);
const count = (what: string) => card().locator(`[data-count="${what}"]`);

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // the engine serves the checkout's dist/renderer: build it as `npm run build:renderer` does
  await build({ configFile: path.join(repoRoot, 'renderer.vite.config.ts'), logLevel: 'warn' });

  dir = tempDir('ferry-e2e-dash-');
  inbox = path.join(dir, 'inbox');
  fs.mkdirSync(inbox);
  sink = await startSink();
  const config = writeConfig(dir, { dataDir: './data', admin: { port: 0 }, integrations: [] });
  // keep the admin's comments: the dashboard writes into this file
  fs.writeFileSync(config, `# written by the dashboard e2e test\n${fs.readFileSync(config, 'utf8')}`);
  ferry = await startFerry(config);
  const dataDir = path.join(dir, 'data');
  const info = await waitFor(() => fs.existsSync(path.join(dataDir, 'admin.json')) && JSON.parse(fs.readFileSync(path.join(dataDir, 'admin.json'), 'utf8')), 'admin.json');
  baseUrl = info.url;
  token = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();

  context = await chromium.launchPersistentContext(tempDir('ferry-chromium-'), {
    executablePath: '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 860 },
    colorScheme: 'light',
    acceptDownloads: true,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);
  page.on('request', (r) => {
    if (r.method() !== 'GET') sent.push(`${r.method()} ${new URL(r.url()).pathname} ${r.postData() ?? ''}`);
  });
}, 120_000);

afterAll(async () => {
  fs.writeFileSync(path.join(ARTIFACTS, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
  fs.writeFileSync(path.join(ARTIFACTS, 'requests.log'), `${sent.join('\n')}\n`);
  fs.writeFileSync(path.join(ARTIFACTS, 'ferry.log'), ferry?.output() ?? '');
  await context?.close();
  await ferry?.stop();
  await sink?.close();
  // FERRY_UPDATE_SCREENSHOTS=1 refreshes the committed screenshots of the README / docs (a plain test run
  // leaves the work tree alone; the artifacts are always in test-artifacts/dashboard)
  const docs = path.join(repoRoot, 'docs', 'screenshots');
  if (fs.existsSync(ARTIFACTS) && process.env.FERRY_UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(docs, { recursive: true });
    for (const f of fs.readdirSync(ARTIFACTS).filter((f) => f.endsWith('.png'))) fs.copyFileSync(path.join(ARTIFACTS, f), path.join(docs, f));
  }
});

describe('dashboard in Chromium against a running engine', () => {
  it('ships a bundle within 300 KB gzip, without external scripts or fonts', () => {
    const assets = path.join(repoRoot, 'dist/renderer/assets');
    const files = fs.readdirSync(assets);
    const gz = files.reduce((n, f) => n + zlib.gzipSync(fs.readFileSync(path.join(assets, f)), { level: 9 }).length, 0);
    metrics.bundleGzipBytes = gz;
    expect(gz).toBeLessThanOrEqual(300 * 1024);
    const html = fs.readFileSync(path.join(repoRoot, 'dist/renderer/index.html'), 'utf8');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    for (const f of files) expect(fs.readFileSync(path.join(assets, f), 'utf8')).not.toMatch(/@import url\(|fonts\.googleapis|https?:\/\/[^"'\s]+\.(woff2?|ttf|js)\b/);
  });

  it('signs in with a one-time link and shows the empty overview, keyboard first', async () => {
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await signIn(page);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByText('No flows yet').waitFor();
    const nav = await page.evaluate(() => {
      const n = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
      return { domContentLoadedMs: Math.round(n.domContentLoadedEventEnd - n.startTime), loadMs: Math.round(n.loadEventEnd - n.startTime) };
    });
    metrics.firstLoad = nav;
    // every request stays on the engine's origin (no external fonts or scripts)
    expect(requests.filter((u) => !u.startsWith(baseUrl))).toEqual([]);
    // keyboard: the first Tab reaches "Skip to content", which moves focus into the page
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');
    // a used login link does not work twice
    const link = loginLink(baseUrl, token);
    const other = await context.newPage();
    await other.goto(link);
    const again = await other.goto(link);
    expect(again?.status()).toBe(403);
    await other.close();
  });

  it('shows a validation error at the field it names', async () => {
    await page.goto(`${baseUrl}/#/flows/new`);
    await page.getByRole('heading', { name: 'New flow' }).waitFor();
    await page.getByLabel('Flow name').fill('bad name!');
    const nameError = page.locator('#f-name-error');
    await nameError.waitFor();
    expect(await nameError.textContent()).toContain('expected a name of letters, digits');
    expect(await page.getByLabel('Flow name').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Flow name').getAttribute('aria-describedby')).toContain('f-name-error');
    // the destination URL is checked too, at its own field
    await page.locator('#f-destination-url').fill('not a url');
    await waitFor(async () => /expected an http\(s\) URL/.test((await page.locator('#f-destination-url-error').textContent({ timeout: 1000 })) ?? ''), 'the URL problem at destination.url', 10_000);
    // submitting lists every problem, linked to its field
    await page.getByRole('button', { name: 'Add flow' }).click();
    await page.getByText(/settings? needs? fixing/).waitFor();
    expect(await page.locator('#problem-summary + ul a').allTextContents()).toEqual(expect.arrayContaining(['name', 'destination.url']));
    await shot('flow-editor-validation');
  });

  it('adds a folder watch through the form; a dropped file is delivered and shown on the overview', async () => {
    await page.goto(`${baseUrl}/#/`);
    await page.goto(`${baseUrl}/#/flows/new`);
    await page.getByRole('heading', { name: 'New flow' }).waitFor();
    await page.locator('#f-integration').selectOption({ label: 'New integration…' });
    await page.locator('#f-new-integration').fill('e2e');
    await page.getByLabel('Flow name').fill(FLOW);
    await page.locator('#f-source-path').fill(inbox);
    // dry run: what the watch would take now
    fs.writeFileSync(path.join(inbox, 'already-there.csv'), 'id\n1\n');
    await page.getByRole('button', { name: 'Preview matching files' }).click();
    await page.getByText('1 existing file matches').waitFor();
    // …and leave it alone: only files that arrive from now on
    await page.getByLabel('Only new files (leave what is there now alone)').check();
    await page.locator('#h-source').locator('..').getByText('More options').first().click();
    await page.locator('#f-source-settleMs').fill('200');
    await page.locator('#f-destination-type').selectOption('http');
    await page.locator('#f-destination-url').fill(`${sink.url}/ingest`);
    // Test connection runs the engine's check of the unsaved destination
    await page.getByRole('button', { name: 'Test connection of the destination' }).click();
    await page.getByText(/Connection (OK|failed)/).waitFor();
    // few, fast retries so the failure case below ends dead quickly
    const retries = page.locator('#h-delivery').locator('..');
    await retries.getByText('More options').first().click();
    await page.locator('#f-retry').getByText('More options').click();
    await page.locator('#f-retry-maxAttempts').fill('2');
    await page.locator('#f-retry-initialDelayMs').fill('100');
    await page.locator('#f-retry-maxDelayMs').fill('200');
    // the engine's validation (as the admin types) finds nothing left to fix
    await waitFor(async () => (await page.locator('[aria-invalid="true"]').count()) === 0 && (await page.locator('#problem-summary').count()) === 0, 'a form without problems', 10_000);
    await shot('flow-editor');
    await page.getByRole('button', { name: 'Add flow' }).click();
    await page.getByText(`Saved “${FLOW}”.`).waitFor();
    const saved = fs.readFileSync(path.join(dir, 'ferry.yaml'), 'utf8');
    expect(saved).toContain('# written by the dashboard e2e test');
    expect(saved).toContain(FLOW);
    expect(saved).toContain('existingFiles: skip');

    fs.writeFileSync(path.join(inbox, 'order-1.json'), '{"order":1}');
    await page.goto(`${baseUrl}/#/`);
    await card().waitFor();
    await waitFor(async () => (await count('delivered').textContent()) === '1', 'the overview to show 1 delivered', 30_000);
    expect(await card().locator('.badge').textContent()).toBe('OK');
    // the engine records the last delivery time within a second of the delivery
    await waitFor(async () => /just now|min ago/.test((await card().locator('[data-fact="last-delivery"]').textContent()) ?? ''), 'the last delivery time', 10_000);
    // (the connection test earlier sent a HEAD probe; deliveries are POSTs; already-there.csv was skipped)
    expect(sink.received.filter((r) => r.method === 'POST').map((r) => `${r.url} ${r.body}`)).toEqual(['/ingest {"order":1}']);
    await waitFor(async () => /[1-9]\d* delivered in the last hour/.test((await card().locator('.spark figcaption').textContent()) ?? ''), 'the sparkline to count the delivery', 10_000);
    await shot('overview');
  });

  it('a failing sink makes the item dead; retried from the queue page it is delivered', async () => {
    sink.behaviour = () => ({ status: 500, body: 'database is down' });
    fs.writeFileSync(path.join(inbox, 'order-2.json'), '{"order":2}');
    await page.goto(`${baseUrl}/#/`);
    await waitFor(async () => (await count('dead').textContent()) === '1', 'the overview to show 1 dead', 30_000);
    expect(await card().locator('.badge').textContent()).toBe('Items failed');
    expect(await card().locator('.last-error').textContent()).toContain('The destination had an internal problem (HTTP 500)');
    await shot('overview-dead');

    await card().getByRole('link', { name: `Queue of ${FLOW}` }).click();
    await page.getByRole('heading', { name: 'Queue' }).waitFor();
    expect(await page.locator('#q-state').inputValue()).toBe('dead');
    const row = page.locator('tr[data-item]', { hasText: 'order-2.json' });
    await row.waitFor();
    const id = Number(await row.getAttribute('data-item'));
    await shot('queue-dead');

    // inspect the item: attempts, the sink's reply, the body download
    await row.getByRole('link').click();
    await page.getByRole('heading', { name: `Item #${id}: order-2.json` }).waitFor();
    await page.getByText('database is down').first().waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download body' }).click()]);
    expect(fs.readFileSync((await download.path())!, 'utf8')).toBe('{"order":2}');
    await shot('queue-item');

    sink.behaviour = () => undefined;
    await page.goBack();
    await page.getByRole('checkbox', { name: `Select item ${id} order-2.json` }).check();
    await page.getByRole('button', { name: 'Retry selected (1)' }).click();
    await page.getByText('Queued again: 1 item.').waitFor();

    await page.goto(`${baseUrl}/#/`);
    await waitFor(async () => (await count('delivered').textContent()) === '2' && (await count('dead').textContent()) === '0', 'the overview to show 2 delivered, 0 dead', 30_000);
    // order 2: two failed attempts (maxAttempts 2), then the retried one; all with the same idempotency key
    const order2 = sink.received.filter((r) => r.method === 'POST' && r.body.toString() === '{"order":2}');
    expect(order2.length).toBe(3);
    expect(new Set(order2.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(sink.accepted.get(String(order2[0].headers['idempotency-key']))).toHaveLength(1);
  });

  it('shows the live activity log', async () => {
    await page.goto(`${baseUrl}/#/activity`);
    await page.getByRole('heading', { name: 'Activity' }).waitFor();
    await page.locator('.live.on').waitFor();
    await page.locator('li[data-type="delivered"]').first().waitFor();
    const before = await page.locator('li[data-type="delivered"]').count();
    fs.writeFileSync(path.join(inbox, 'order-3.json'), '{"order":3}');
    // arrives through the event stream, without reloading
    await waitFor(async () => (await page.locator('li[data-type="delivered"]').count()) > before, 'a live delivered event', 30_000);
    expect(await page.locator('li[data-type="delivered"]').first().textContent()).toContain('order-3.json');
    await shot('activity');
  });

  it('shows the settings and schedule previews', async () => {
    await page.goto(`${baseUrl}/#/settings`);
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    expect(await page.getByLabel('Log level').inputValue()).toBe('info');
    // a secret set here is listed by name; its value is never shown again
    await page.getByLabel('Name', { exact: true }).fill('API_TOKEN');
    await page.getByLabel('Value', { exact: true }).fill('s3cr3t-value-123');
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByText('Secret API_TOKEN saved.').waitFor();
    await page.locator('td code', { hasText: 'API_TOKEN' }).waitFor();
    expect(await page.getByLabel('Value', { exact: true }).inputValue()).toBe('');
    expect(await page.content()).not.toContain('s3cr3t-value-123');
    await shot('settings');

    await page.goto(`${baseUrl}/#/flows/${FLOW}`);
    await page.getByRole('heading', { name: `Flow ${FLOW}` }).waitFor();
    await page.getByLabel('On a schedule').check();
    await page.locator('#f-trigger-schedule').fill('0 8 * * 1-5');
    await page.locator('#f-trigger-timezone').fill('Europe/Berlin');
    const runs = page.locator('.next-runs li');
    await waitFor(async () => (await runs.count()) === 5 && (await page.locator('.next-runs p').textContent())?.includes('Europe/Berlin'), 'five next run times in Europe/Berlin', 10_000);
    for (const t of await runs.allTextContents()) expect(t).toMatch(/08:00/);
    await shot('flow-editor-schedule');
  });

  it('is readable at 200% zoom and in the dark theme', async () => {
    const zoomed = await context.newPage();
    // 200% zoom of a 1280 px window: a 640 px CSS viewport at twice the pixel density
    await zoomed.setViewportSize({ width: 640, height: 800 });
    // first load in a fresh tab: navigation until the first flow card is on screen (reported, not asserted)
    const t0 = Date.now();
    await zoomed.goto(`${baseUrl}/#/`);
    await card(zoomed).waitFor();
    metrics.firstCardMs = Date.now() - t0;
    expect(await zoomed.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await zoomed.goto(`${baseUrl}/#/queue`);
    await zoomed.locator('tr[data-item]').first().waitFor();
    expect(await zoomed.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await shot('queue-narrow', zoomed);
    await zoomed.emulateMedia({ colorScheme: 'dark' });
    await zoomed.goto(`${baseUrl}/#/`);
    await card(zoomed).waitFor();
    const bg = await zoomed.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe('rgb(15, 18, 22)');
    await zoomed.setViewportSize({ width: 1280, height: 860 });
    await shot('overview-dark', zoomed);
    await zoomed.close();
  });
});
