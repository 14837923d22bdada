// The dashboard's Fleet page in Debian's Chromium: an engine with `fleet.view` reads a real RabbitMQ where two
// agents publish heartbeats, one of them failing; the page lists both with their state and the reason.
// The dashboard is built into its own folder, so this file can run beside the other dashboard tests.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { repoRoot } from '../helpers/cli.ts';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startRabbit, rabbitAvailable, type Rabbit } from '../helpers/rabbitmq.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir } from '../helpers/tmp.ts';
import { loginLink } from '../../main/engine/admin/login.ts';

const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'dashboard');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const available = fs.existsSync('/usr/bin/chromium') && rabbitAvailable();
if (!available) console.warn("skipping: needs Debian's chromium and rabbitmq-server");

describe.skipIf(!available)('the Fleet page in Chromium', () => {
  let rabbit: Rabbit;
  let sink: Sink;
  let viewer: AdminHarness;
  let plain: AdminHarness;
  const agents: RunningEngine[] = [];
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const staticDir = tempDir('ferry-renderer-');
    await build({ configFile: path.join(repoRoot, 'renderer.vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    rabbit = await startRabbit();
    sink = await startSink((req) => (req.url?.startsWith('/fail') ? { status: 503, body: 'down for maintenance' } : undefined));
    for (const [agent, route, region] of [['branch-north', 'ok', 'north'], ['branch-south', 'fail', 'south']]) {
      const dir = tempDir('ferry-fleet-');
      fs.mkdirSync(path.join(dir, 'in'));
      agents.push(await startEngine({
        admin: { port: 0 },
        minFreeDiskMb: 0,
        fleet: { agent, labels: { region }, publish: { type: 'amqp', url: rabbit.url, intervalSec: 1 } },
        integrations: [{ name: 'erp', flows: [{
          name: 'invoices',
          source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } },
          destination: { type: 'http', url: `${sink.url}/${route}` },
          retry: { maxAttempts: 100, initialDelayMs: 50, maxDelayMs: 200 },
          circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 },
        }] }],
      }, dir));
    }
    fs.writeFileSync(path.join(agents[1].dir, 'in', 'inv-9.csv'), 'invoice 9\n');
    viewer = await startAdmin({ fleet: { agent: 'hq', view: { amqp: rabbit.url } }, integrations: [] }, { staticDir });
    plain = await startAdmin({ integrations: [] }, { staticDir });
    context = await chromium.launchPersistentContext(tempDir('ferry-chromium-'), { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
  }, 180_000);

  afterAll(async () => {
    await context?.close();
    await viewer?.stop();
    await plain?.stop();
    for (const a of agents) await a.stop();
    await sink?.close();
    await rabbit?.stop();
  });

  it('lists the agents with their state, labels and the failing reason, read-only', async () => {
    const baseUrl = viewer.admin.url;
    await page.goto(loginLink(baseUrl, viewer.token));
    await page.waitForURL(`${baseUrl}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Fleet' }).click();
    await page.getByRole('heading', { name: 'Fleet' }).waitFor();
    const north = page.locator('tr[data-agent="branch-north"]');
    const south = page.locator('tr[data-agent="branch-south"]');
    await north.getByText('ok', { exact: true }).waitFor();
    await south.getByText(/invoices: destination http unreachable since .*503/).waitFor();
    expect(await south.locator('.badge').textContent()).toBe('failing');
    expect(await north.getByRole('cell', { name: 'region=north' }).count()).toBe(1);
    expect(await page.getByText(/2 agents on 127\.0\.0\.1:\d+ \(exchange ferry\.fleet\): 1 ok, 1 failing, 0 silent\. Read-only\./).count()).toBe(1);
    // read-only: no buttons, no forms on the page
    expect(await page.locator('main button, main form, main input').count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'fleet.png'), fullPage: true });
  });

  it('has no Fleet page without fleet.view', async () => {
    const baseUrl = plain.admin.url;
    await page.goto(loginLink(baseUrl, plain.token));
    await page.waitForURL(`${baseUrl}/`);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Fleet' }).count()).toBe(0);
  });
});
