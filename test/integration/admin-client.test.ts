// The renderer's typed client (renderer/api/client.ts) against the real admin API, and the dashboard's
// static files served at `/` with their CSP.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, request, type AdminHarness } from '../helpers/admin.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { ApiRequestError, createClient, type ActivityEvent } from '../../renderer/api/client.ts';

let h: AdminHarness;
let staticDir: string;

beforeAll(async () => {
  const base = tempDir('ferry-dist-');
  staticDir = path.join(base, 'renderer');
  fs.mkdirSync(path.join(staticDir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>Ferry</title><script type="module" src="/assets/app-1a2b3c4d.js"></script>');
  fs.writeFileSync(path.join(staticDir, 'assets', 'app-1a2b3c4d.js'), 'console.log("ferry")');
  fs.writeFileSync(path.join(base, 'outside.txt'), 'secret'); // next to the dashboard folder: must stay unreachable
  h = await startAdmin(
    { integrations: [{ name: 'docs', flows: [{ name: 'scans', source: { type: 'folder', path: './scans', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'folder', path: './done' } }] }] },
    { staticDir, dirs: ['scans'] },
  );
});
afterAll(async () => {
  await h?.stop();
});

describe('typed client', () => {
  it('drives every area of the API', async () => {
    const api = createClient({ baseUrl: `http://127.0.0.1:${h.port}`, token: h.token });
    const status = await api.status();
    expect(status.flows[0].flow).toBe('scans');
    const config = await api.config();
    expect(config.config.integrations?.[0].name).toBe('docs');
    const v = await api.validate({ integration: 'docs', flow: { name: 'x', source: { type: 'folder' }, destination: { type: 'folder', path: './y' } } });
    expect(v.problems[0].path).toBe('source.path');

    const put = await api.putFlow('docs', 'invoices', { source: { type: 'folder', path: './invoices' }, destination: { type: 'folder', path: './inv-out' } });
    expect(put.applied.started).toEqual(['invoices']);
    await expect(api.putFlow('docs', 'broken', { source: { type: 'folder' }, destination: { type: 'folder', path: './z' } })).rejects.toMatchObject({ status: 400, problems: [{ path: 'source.path' }] });
    const err = await api.deleteFlow('docs', 'nope').catch((e) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err.status).toBe(404);
    expect((await api.deleteFlow('docs', 'invoices')).applied.stopped).toEqual(['invoices']);

    const seen: ActivityEvent[] = [];
    const cursor = (await api.activity()).cursor;
    // EventSource is a browser API; Node 20 has none, so the stream is covered in admin-api.test.ts
    expect(typeof api.events).toBe('function');
    fs.writeFileSync(path.join(h.dir, 'scans', 'one.pdf'), '%PDF');
    await waitFor(async () => (await api.activity(cursor)).events.find((e) => e.type === 'delivered'), 'delivered event');
    seen.push(...(await api.activity(cursor)).events);
    const q = await api.queue({ flow: 'scans', state: 'delivered' });
    expect(q.items[0].name).toBe('one.pdf');
    const item = await api.item(q.items[0].id);
    expect(item.item.attributes.relativePath).toBe('one.pdf');
    expect(api.itemBodyUrl(q.items[0].id)).toBe(`http://127.0.0.1:${h.port}/api/queue/${q.items[0].id}/body`);
    expect((await api.retry({ ids: [q.items[0].id] })).count).toBe(0); // delivered items are not retried
    expect((await api.pause('scans')).paused).toBe(true);
    expect((await api.resume('scans')).paused).toBe(false);
    expect((await api.runNow('scans')).running).toBe(true);
    expect((await api.check({ flow: 'scans', role: 'destination' })).ok).toBe(true);
    expect((await api.dryRun({ source: { type: 'folder', path: './scans' } })).ok).toBe(true);
    expect((await api.nextRuns('0 6 * * *', 'UTC', 3)).times).toHaveLength(3);
    await api.setSecret('TOKEN_X', 'value-x-123456');
    expect((await api.secrets()).secrets.map((s) => s.name)).toEqual(['TOKEN_X']);
    await api.deleteSecret('TOKEN_X');
    expect((await api.updateSettings({ startAtLogin: true })).startAtLogin).toBe(true);
    expect((await api.settings()).startAtLogin).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(listFiles(path.join(h.dir, 'done'))).toEqual(['one.pdf']);
  });

  it('answers 401 through the client without a token', async () => {
    const api = createClient({ baseUrl: `http://127.0.0.1:${h.port}` });
    await expect(api.status()).rejects.toMatchObject({ status: 401 });
  });
});

describe('dashboard files', () => {
  it('serves the built dashboard with a strict CSP, app routes fall back to index.html, nothing outside', async () => {
    const index = await request(h.port, 'GET', '/');
    expect(index.status).toBe(200);
    expect(index.text).toContain('<title>Ferry</title>');
    expect(index.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(index.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(index.headers['x-frame-options']).toBe('DENY');
    const js = await request(h.port, 'GET', '/assets/app-1a2b3c4d.js');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toMatch(/immutable/);
    const route = await request(h.port, 'GET', '/queue/12');
    expect(route.text).toContain('<title>Ferry</title>');
    expect((await request(h.port, 'GET', '/assets/missing.js')).status).toBe(404);
    for (const p of ['/../outside.txt', '/%2e%2e/outside.txt', '/assets/..%2f..%2foutside.txt']) {
      const r = await request(h.port, 'GET', p);
      expect(r.text, p).not.toContain('secret');
    }
    expect((await request(h.port, 'POST', '/')).status).toBe(405);
    expect((await request(h.port, 'GET', '/', { headers: { host: 'evil.example' } })).status).toBe(403);
  });
});
