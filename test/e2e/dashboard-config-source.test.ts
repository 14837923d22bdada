// The dashboard in Debian's Chromium on an engine whose integrations come from a central server: the
// overview shows the applied version and a refused one with its reason; the flow editor is read-only and
// says why; the "Add a flow" button is gone.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startConfigServer, type ConfigServer } from '../helpers/config-server.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { ARTIFACTS, buildDashboard, chromiumAvailable, openDashboard } from '../helpers/dashboard.ts';
import { readPrivateKey, signBytes, versionOf, writeKeyPair } from '../../main/engine/config-source/signing.ts';


let h: AdminHarness;
let server: ConfigServer;
let context: BrowserContext;
let page: Page;
const keys = writeKeyPair(path.join(tempDir('ferry-dash-keys-'), 'k'));
const key = readPrivateKey(keys.keyFile);
const centralText = YAML.stringify({ integrations: [{ name: 'branch', flows: [{ name: 'orders', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] });

describe.skipIf(!chromiumAvailable)('dashboard with a central configuration', () => {
  beforeAll(async () => {
    const staticDir = await buildDashboard();
    server = await startConfigServer();
    server.files.set('/c.yaml', Buffer.from(centralText));
    server.files.set('/c.yaml.sig', Buffer.from(signBytes(Buffer.from(centralText), key)));
    h = await startAdmin(YAML.stringify({
      dataDir: './data',
      admin: { port: 0 },
      configSource: { url: `${server.url}/c.yaml`, pollSec: 1, publicKey: fs.readFileSync(keys.pubFile, 'utf8').trim() },
    }), { staticDir, dirs: ['in', 'out'] });
    await waitFor(() => h.engine.status().configSource?.version, 'first version applied');
    ({ context, page } = await openDashboard(h.admin.url, h.token));
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await h?.stop();
    await server?.close();
  });

  it('the overview shows the applied version, then a refused one with its reason', async () => {
    const version = versionOf(Buffer.from(centralText));
    await page.locator('[data-fact="config-version"]').getByText(version).waitFor();
    expect(await page.getByRole('link', { name: 'Add a flow' }).count()).toBe(0);
    server.files.set('/c.yaml', Buffer.from(centralText.replace('./out', './elsewhere')));
    await page.locator('[data-fact="config-refused"]').getByText(/signature does not match/).waitFor();
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview-config-refused.png'), fullPage: true });
    expect(await page.locator('[data-fact="config-version"]').textContent()).toBe(version);
  });

  it('the flow editor is read-only and says why', async () => {
    await page.goto(`${h.admin.url}/#/flows/orders`);
    await page.locator('#managed-notice').getByText(/Read-only\. Managed centrally: the integrations come from http:\/\/127\.0\.0\.1:\d+\/c\.yaml/).waitFor();
    expect(await page.locator('fieldset.plain').getAttribute('disabled')).not.toBeNull();
    expect(await page.getByRole('textbox', { name: 'Flow name' }).isDisabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Save changes' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Delete flow' }).count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'flow-editor-managed.png'), fullPage: true });
  });
});
