// Connecting an OAuth account from the dashboard in Debian's Chromium: the admin clicks Connect, signs in and
// gives consent on the real authorization server's own pages (oidc-provider), comes back to the engine's
// loopback callback, and the waiting items go out with the new token. A denied consent says so in one line.
// Screenshots go to test-artifacts/oauth/.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { build } from 'vite';
import { repoRoot } from '../helpers/cli.ts';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { connectionFor, startAuthServer, startProtectedApi, type AuthServer, type ProtectedApi } from '../helpers/oauth-provider.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { openDashboard } from '../helpers/chromium.ts';

const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'oauth');

let auth: AuthServer;
let api: ProtectedApi;
let h: AdminHarness;
let context: BrowserContext;
let page: Page;
let baseUrl: string;

const shot = (name: string, p: Page = page) => p.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
const card = () => page.locator('li.card[data-connection="crm"]');

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // a build of the dashboard of its own (the dashboard test builds dist/renderer at the same time)
  const staticDir = tempDir('ferry-oauth-ui-');
  await build({ configFile: path.join(repoRoot, 'renderer.vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
  auth = await startAuthServer();
  api = await startProtectedApi(auth);
  h = await startAdmin(
    {
      connections: { crm: connectionFor(auth, { clientSecret: '${secret:CRM_CLIENT_SECRET}', scopes: 'openid offline_access crm.write' }) },
      integrations: [{ name: 'crm', flows: [{ name: 'orders', source: { type: 'folder', path: './orders', settleMs: 0 }, destination: { type: 'http', url: `${api.url}/orders`, auth: { type: 'oauth2', connection: 'crm' } } }] }],
    },
    { secrets: { CRM_CLIENT_SECRET: auth.client.secret }, staticDir, dirs: ['orders'] },
  );
  baseUrl = `http://127.0.0.1:${h.port}`;
  ({ context, page } = await openDashboard(baseUrl, h.token));
}, 120_000);

afterAll(async () => {
  await context?.close();
  await h?.stop();
  await api?.close();
  await auth?.close();
});

/** Clicks Connect and returns the provider's page that opened in a new tab. */
async function clickConnect(label: RegExp): Promise<Page> {
  const opened = context.waitForEvent('page');
  await card().getByRole('button', { name: label }).click();
  const provider = await opened;
  await provider.waitForLoadState();
  expect(provider.url().startsWith(auth.issuer)).toBe(true);
  return provider;
}

describe('OAuth consent from the dashboard in Chromium', () => {
  it('shows the connection needing consent, and the flow waiting for it, with its items queued', async () => {
    fs.writeFileSync(path.join(h.dir, 'orders', 'o1.json'), '{"order":1}');
    await waitFor(() => h.engine.status().flows[0].counts.queued === 1, 'the item queued');
    await page.goto(`${baseUrl}/#/`);
    await page.getByText(/Connection crm needs consent: not connected yet/).waitFor();
    await page.locator('li.card[data-flow="orders"] [data-fact="waiting-for"]').waitFor();
    await waitFor(async () => (await page.locator('li.card[data-flow="orders"] [data-count="queued"]').textContent()) === '1', 'the card to count the waiting item');
    expect(await page.locator('li.card[data-flow="orders"] .badge').textContent()).toBe('Needs attention');
    await shot('overview-consent-needed');
    await page.getByRole('link', { name: 'Connect it' }).click();
    await page.getByRole('heading', { name: 'Connections' }).waitFor();
    await card().waitFor();
    expect(await card().getAttribute('data-state')).toBe('consent_needed');
    expect(await card().locator('.badge').textContent()).toBe('Consent needed');
    expect(await card().textContent()).toContain(`http://127.0.0.1:${h.port}/oauth/callback`);
    await shot('connections-consent-needed');
  });

  it('a denied consent (Cancel on the provider page) says so in one line and leaves the connection as it was', async () => {
    await page.goto(`${baseUrl}/#/connections`);
    const provider = await clickConnect(/^Connect crm$/);
    await provider.locator('input[name="login"]').waitFor();
    await provider.getByRole('link', { name: '[ Cancel ]' }).click();
    await provider.waitForURL(/\/oauth\/callback\?/);
    expect(await provider.locator('#result').textContent()).toBe('Not connected');
    expect(await provider.locator('#message').textContent()).toMatch(/^Consent was denied at 127\.0\.0\.1:\d+ \(access_denied: End-User aborted interaction\); nothing changed/);
    await provider.close();
    await card().getByText(/consent was denied at/).waitFor();
    expect(await card().getAttribute('data-state')).toBe('consent_needed');
    await shot('connections-denied');
  });

  it('Connect: sign in and give consent on the provider\'s pages; back in Ferry the connection is connected and the waiting item goes out with its token', async () => {
    await page.goto(`${baseUrl}/#/connections`);
    const provider = await clickConnect(/^Connect crm$/);
    await card().getByText('Waiting for your consent').waitFor();
    await provider.locator('input[name="login"]').fill('alice');
    await provider.locator('input[name="password"]').fill('secret');
    await shot('provider-login', provider);
    await provider.getByRole('button', { name: 'Sign-in' }).click();
    await provider.getByRole('button', { name: 'Continue' }).waitFor();
    await shot('provider-consent', provider);
    await provider.getByRole('button', { name: 'Continue' }).click();
    await provider.waitForURL(new RegExp(`^http://127\\.0\\.0\\.1:${h.port}/oauth/callback\\?`));
    expect(await provider.locator('#result').textContent()).toBe('Connected crm');
    await shot('callback-connected', provider);
    await provider.close();

    await waitFor(async () => (await card().getAttribute('data-state')) === 'connected', 'the card to show Connected', 20_000);
    await card().getByText('crm is connected.').waitFor();
    expect(await card().locator('.badge').textContent()).toBe('Connected');
    await waitFor(() => api.accepted.length === 1, 'the waiting item delivered with the token');
    expect(auth.issued.has(api.accepted[0].token)).toBe(true);
    await shot('connections-connected');
    await page.goto(`${baseUrl}/#/`);
    await waitFor(async () => (await page.locator('li.card[data-flow="orders"] [data-count="delivered"]').textContent()) === '1', 'the overview to show the delivery');
    expect(await page.getByText(/Connection crm needs consent/).count()).toBe(0);
  });

  it('Disconnect revokes the tokens at the provider; the card asks for consent again', async () => {
    await page.goto(`${baseUrl}/#/connections`);
    const token = api.accepted[0].token;
    page.once('dialog', (d) => void d.accept());
    await card().getByRole('button', { name: /^Disconnect crm$/ }).click();
    await card().getByText(/revoked at 127\.0\.0\.1:\d+ and forgotten/).waitFor();
    await waitFor(async () => (await card().getAttribute('data-state')) === 'consent_needed', 'consent needed again');
    expect(await auth.provider.AccessToken.find(token)).toBeUndefined();
    await shot('connections-disconnected');
  });
});
