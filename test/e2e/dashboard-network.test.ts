// Settings → Network in Debian's Chromium against a running engine, a real Squid with Basic auth and an HTTPS
// sink signed by a test CA: the Test button names the path (and a wrong password's 407), a bad rule is shown
// at its field, and Save writes the setting (the password as a secret) and moves the flow onto the proxy.
// The dashboard is built into its own folder, so this file can run beside the other dashboard test.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { build } from 'vite';
import { repoRoot } from '../helpers/cli.ts';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startSignedSink, type CertFiles } from '../helpers/certs.ts';
import { proxyAvailable, SQUID, startSquid, type RunningProxy } from '../helpers/proxies.ts';
import type { Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { chromiumAvailable, openDashboard } from '../helpers/chromium.ts';

const ARTIFACTS = path.join(repoRoot, 'test-artifacts', 'dashboard');

let h: AdminHarness;
let sink: Sink;
let squid: RunningProxy;
let context: BrowserContext;
let page: Page;

describe.skipIf(!chromiumAvailable || !proxyAvailable(SQUID))('Settings → Network in Chromium', () => {
  beforeAll(async () => {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const staticDir = tempDir('ferry-renderer-');
    await build({ configFile: path.join(repoRoot, 'renderer.vite.config.ts'), logLevel: 'warn', build: { outDir: staticDir, emptyOutDir: true } });
    let ca: CertFiles;
    ({ ca, sink } = await startSignedSink());
    squid = await startSquid({ auth: { user: 'ferry', password: 'squid-pw' } });
    h = await startAdmin({
      integrations: [{ name: 'api', flows: [{
        name: 'push',
        source: { type: 'folder', path: './out', settleMs: 0, afterDelivery: { action: 'delete' } },
        destination: { type: 'http', url: `${sink.url}/in`, timeoutMs: 5000 },
        retry: { maxAttempts: 100, initialDelayMs: 50, maxDelayMs: 300 },
      }] }],
    }, { dirs: ['out'], staticDir });
    fs.copyFileSync(ca.cert, path.join(h.dir, 'corp-root.pem'));
    ({ context, page } = await openDashboard(h.admin.url, h.token, { viewport: { width: 1280, height: 1100 }, colorScheme: 'light' }));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await h?.stop();
    await sink?.close();
  });

  it('tests, refuses a bad rule at its field, saves the password as a secret and moves the flow onto the proxy', async () => {
    await page.goto(`${h.admin.url}/#/settings`);
    await page.getByRole('heading', { name: 'Network' }).waitFor();
    expect(await page.getByLabel('From the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)').isChecked()).toBe(true);
    await page.locator('#n-effective').getByText(/network\.proxy: env/).waitFor();

    await page.getByLabel('This proxy server').check();
    await page.getByLabel('Proxy URL').fill(squid.url);
    await page.getByLabel('Proxy user').fill('ferry');
    await page.getByLabel('Proxy password').fill('not-the-password');
    await page.getByLabel('Reach these directly').fill('<-loopback>');
    await page.getByLabel('Trusted certificate files').fill('./corp-root.pem');
    await page.getByLabel('Test a connection').fill(`${sink.url}/ping`);
    await page.getByRole('button', { name: 'Test', exact: true }).click();
    await page.locator('#n-test-result').getByText(/^Failed: the proxy asks for credentials \(407\)/).waitFor();

    await page.getByLabel('Proxy password').fill('squid-pw');
    await page.getByRole('button', { name: 'Test', exact: true }).click();
    await page.locator('#n-test-result').getByText(`Reached: ${sink.url} answered HTTP 200 to HEAD`).waitFor();
    expect(await page.locator('#n-test-result code').textContent()).toBe(`via proxy ${squid.url} (network.proxy); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'settings-network.png'), fullPage: true });

    await page.getByLabel('Reach these directly').fill('<-loopback>\n10.0.0.0/99');
    await page.getByRole('button', { name: 'Save network settings' }).click();
    await page.locator('#n-noProxy-error').getByText('line 2: expected an address range like 10.0.0.0/8, got "10.0.0.0/99"').waitFor();
    // nothing was kept of the refused change: neither the file nor the password
    expect(h.secrets.lookup()('PROXY_PASSWORD')).toBeUndefined();
    expect(await page.getByLabel('Reach these directly').getAttribute('aria-invalid')).toBe('true');
    expect(fs.readFileSync(h.configFile, 'utf8')).not.toContain('network');

    await page.getByLabel('Reach these directly').fill('<-loopback>');
    await page.getByRole('button', { name: 'Save network settings' }).click();
    await page.getByText('Saved. 1 flow restarted with the new setting.').waitFor();
    const text = fs.readFileSync(h.configFile, 'utf8');
    expect(text).toContain('password: ${secret:PROXY_PASSWORD}');
    expect(text).not.toContain('squid-pw');
    expect(h.secrets.lookup()('PROXY_PASSWORD')).toBe('squid-pw');
    expect(await page.content()).not.toContain('squid-pw');
    await page.locator('#n-effective').getByText(`network.proxy: ${squid.url} as ferry; noProxy <-loopback>`).waitFor();

    fs.writeFileSync(path.join(h.dir, 'out', 'order.json'), '{"id":1}');
    await waitFor(() => sink.received.some((r) => r.url === '/in'), 'delivered through the proxy');
    expect((await h.engine.flow('push').destination.check()).message).toContain(`via proxy ${squid.url} (network.proxy)`);
  });
});
