// A running engine's replies, route by route, against the reply schemas that /api/openapi.json shows
// (main/engine/admin/reply-schemas.ts). The schemas are strict: a reply with a field the schema lacks, without
// a required one or with a wrong type fails here. Every JSON route of the table must be called.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness, type ApiReply } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';
import { matchRoute, routes } from '../../main/engine/admin/routes.ts';
import { replySchema, replySchemas } from '../../main/engine/admin/reply-schemas.ts';
import { CHECK_REPLIES_ENV } from '../../main/engine/admin/reply-check.ts';
import { formatIssues } from '../../main/engine/config/load.ts';

let h: AdminHarness;
let sink: Sink;
const network = { proxy: 'none', tls: { systemCa: true } };
/** Routes answered 2xx (and checked), as "METHOD /path". */
const answered = new Set<string>();
let checkFlag: string | undefined;

beforeAll(async () => {
  sink = await startSink((req) => (req.url?.startsWith('/upload') ? { status: 400, body: 'rejected: bad invoice' } : undefined));
  // this test checks the replies itself: the server's own check (FERRY_CHECK_REPLIES) stays out of the way
  checkFlag = process.env[CHECK_REPLIES_ENV];
  delete process.env[CHECK_REPLIES_ENV];
  const folderFlow = (name: string, from: string, to: string) => ({ name, source: { type: 'folder', path: from, settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'folder', path: to } });
  h = await startAdmin(
    {
      network,
      // a connection never connected: its routes answer without a provider (consent needed, disconnect forgets nothing)
      connections: { crm: { type: 'oauth2', preset: 'salesforce', clientId: 'ferry-test', scopes: ['api'] } },
      integrations: [
        {
          name: 'billing',
          description: 'invoices for the SaaS',
          flows: [
            { ...folderFlow('inbox', './inbox', './archive'), trigger: { on: 'change' } },
            {
              name: 'to-api',
              source: { type: 'folder', path: './outbox', settleMs: 0, afterDelivery: { action: 'delete' } },
              trigger: { on: 'change' },
              destination: { type: 'http', url: `${sink.url}/upload`, auth: { type: 'bearer', token: '${secret:API_TOKEN}' } },
              retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20 },
            },
            { ...folderFlow('nightly', './nightly', './nightly-out'), trigger: { schedule: '0 3 1 1 *', timezone: 'Europe/Berlin', catchUp: false } },
          ],
        },
      ],
    },
    { secrets: { API_TOKEN: 'tok-123' }, dirs: ['inbox', 'outbox', 'nightly', 'preview', 'extra'] },
  );
  if (checkFlag !== undefined) process.env[CHECK_REPLIES_ENV] = checkFlag;
  fs.writeFileSync(path.join(h.dir, 'inbox', 'a.txt'), 'delivered');
  fs.writeFileSync(path.join(h.dir, 'outbox', 'b.json'), '{"dead":true}');
  fs.writeFileSync(path.join(h.dir, 'preview', 'c.csv'), 'x,y\n');
  await waitFor(async () => {
    const flows = (await h.api('GET', '/api/status')).json.flows as Array<{ flow: string; counts: Record<string, number> }>;
    return flows.find((f) => f.flow === 'inbox')?.counts.delivered === 1 && flows.find((f) => f.flow === 'to-api')?.counts.dead === 1;
  }, 'one delivered and one dead item');
});

afterAll(async () => {
  await h?.stop();
  await sink?.close();
});

/** Calls the API and checks the reply against its route's schema (an error reply against ApiError). */
async function call(method: string, url: string, body?: unknown, status = 200): Promise<ApiReply> {
  const r = await h.api(method, url, body);
  const match = matchRoute(method, new URL(url, 'http://127.0.0.1').pathname);
  expect(match, `${method} ${url} is a route`).toBeDefined();
  const { route } = match!;
  expect(r.status, `${method} ${url}: ${r.text.slice(0, 500)}`).toBe(status);
  expect(route.reply, `${method} ${url} names its reply schema`).toBeDefined();
  const ok = r.status < 300;
  const parsed = (ok ? replySchema(route.reply!) : replySchemas.ApiError).safeParse(r.json);
  expect(parsed.success ? [] : formatIssues(parsed.error.issues), `${method} ${url} (${r.status}) against ${ok ? route.reply : 'ApiError'}`).toEqual([]);
  if (ok) answered.add(`${route.method} ${route.path}`);
  return r;
}

describe('live replies match their schemas', () => {
  it('status and the OpenAPI document', async () => {
    const status = await call('GET', '/api/status');
    expect(status.json.flows.map((f: any) => f.flow)).toEqual(['inbox', 'to-api', 'nightly']);
    expect(status.json.flows[0].counters).toMatchObject({ delivered: 1 });
    expect(status.json.flows[2].nextRunAt).toMatch(/^\d{4}-01-01T/);
    await call('GET', '/api/fleet', undefined, 404);
    const doc = await call('GET', '/api/openapi.json');
    expect(doc.json.components.schemas.StatusReply.properties).toBeDefined();
  });

  it('the queue: lists, a delivered and a dead item, retry and discard', async () => {
    const all = await call('GET', '/api/queue');
    expect(all.json.total).toBe(2);
    const dead = await call('GET', '/api/queue?flow=to-api&state=dead&limit=5');
    const deadId = dead.json.items[0].id;
    const deliveredId = all.json.items.find((i: any) => i.state === 'delivered').id;
    const delivered = await call('GET', `/api/queue/${deliveredId}`);
    expect(delivered.json.item).toMatchObject({ state: 'delivered', settledAt: expect.any(String), lastError: null });
    const shown = await call('GET', `/api/queue/${deadId}`);
    expect(shown.json.item).toMatchObject({ state: 'dead', lastStatus: 400, lastResponse: expect.stringMatching(/rejected/) });
    expect(shown.json.hasBody).toBe(true);
    expect((await call('POST', '/api/queue/retry', { ids: [deadId] })).json.count).toBe(1);
    await waitFor(async () => (await h.api('GET', `/api/queue/${deadId}`)).json.item.state === 'dead', 'the retried item dead again');
    expect((await call('POST', '/api/queue/discard', { flow: 'to-api', state: 'dead' })).json.count).toBe(1);
    await call('GET', '/api/queue/999999', undefined, 404);
    const refused = await call('POST', '/api/queue/retry', {}, 400);
    expect(refused.json.problems.length).toBeGreaterThan(0);
  });

  it('flows: pause, resume, pause all, resume all, sync now, run now', async () => {
    expect((await call('POST', '/api/flows/inbox/pause')).json).toEqual({ flow: 'inbox', paused: true });
    expect((await call('POST', '/api/flows/inbox/resume')).json).toEqual({ flow: 'inbox', paused: false });
    expect((await call('POST', '/api/flows/pause-all')).json).toHaveLength(3);
    expect((await call('POST', '/api/flows/resume-all')).json.every((f: any) => !f.paused)).toBe(true);
    expect((await call('POST', '/api/sync-now')).json.flows).toEqual(['inbox', 'to-api', 'nightly']);
    expect((await call('POST', '/api/flows/nightly/run', undefined, 202)).json).toEqual({ flow: 'nightly', paused: false, running: true });
    await call('POST', '/api/flows/nope/pause', undefined, 404);
  });

  it('config: read, validate, put and delete an integration and a flow', async () => {
    const view = await call('GET', '/api/config');
    expect(view.json.config.network).toEqual(network);
    expect(view.json.connectors.length).toBeGreaterThan(3);
    expect((await call('POST', '/api/config/validate', { config: view.json.config })).json.ok).toBe(true);
    const invalid = await call('POST', '/api/config/validate', { integration: 'billing', flow: { name: 'x', source: { type: 'folder' }, destination: { type: 'folder', path: './y' } } });
    expect(invalid.json).toMatchObject({ ok: false, problems: [expect.objectContaining({ path: 'source.path' })] });
    const extraFlow = { name: 'extra-1', source: { type: 'folder', path: './extra' }, destination: { type: 'folder', path: './extra-out' } };
    expect((await call('PUT', '/api/config/integrations/extra', { flows: [extraFlow] })).json.applied.started).toEqual(['extra-1']);
    expect((await call('PUT', '/api/config/integrations/extra/flows/extra-2', { ...extraFlow, name: 'extra-2' })).json.applied.started).toEqual(['extra-2']);
    expect((await call('DELETE', '/api/config/integrations/extra/flows/extra-2')).json.applied.stopped).toEqual(['extra-2']);
    expect((await call('DELETE', '/api/config/integrations/extra')).json).toEqual({ ok: true, applied: { started: [], stopped: ['extra-1'], restarted: [], restartRequired: [] } });
    const bad = await call('PUT', '/api/config/integrations/billing/flows/inbox', { source: { type: 'folder' }, destination: { type: 'folder', path: './x' } }, 400);
    expect(bad.json.problems[0].path).toMatch(/source\.path/);
  });

  it('check, dry run and the schedule preview', async () => {
    expect((await call('POST', '/api/check', { flow: 'inbox', role: 'source' })).json.ok).toBe(true);
    const dest = await call('POST', '/api/check', { destination: { type: 'http', url: `${sink.url}/ping` } });
    expect(typeof dest.json.ok).toBe('boolean');
    const invalid = await call('POST', '/api/check', { source: { type: 'folder' } });
    expect(invalid.json).toMatchObject({ ok: false, problems: [expect.objectContaining({ path: 'path' })] });
    const dry = await call('POST', '/api/dry-run', { source: { type: 'folder', path: './preview', settleMs: 0 } });
    expect(dry.json).toMatchObject({ ok: true, complete: 1, files: [expect.objectContaining({ relativePath: 'c.csv' })] });
    const next = await call('GET', `/api/schedule/next?cron=${encodeURIComponent('0 6 1 * 1')}&timezone=Europe/Berlin&count=3`);
    expect(next.json.times).toHaveLength(3);
    expect((await call('GET', '/api/schedule/next?cron=nope')).json.problems[0].path).toBe('cron');
  });

  it('activity', async () => {
    const latest = await call('GET', '/api/activity');
    expect(latest.json.events.some((e: any) => e.type === 'dead')).toBe(true);
    expect((await call('GET', '/api/activity?since=0&limit=2')).json.events).toHaveLength(2);
  });

  it('secrets: list, one, set and delete (never a value)', async () => {
    const list = await call('GET', '/api/secrets');
    expect(list.json.secrets).toEqual([expect.objectContaining({ name: 'API_TOKEN', usedBy: ['to-api'] })]);
    expect((await call('GET', '/api/secrets/API_TOKEN')).json.usedBy).toEqual(['to-api']);
    expect((await call('PUT', '/api/secrets/API_TOKEN', { value: 'tok-456' })).json.applied.restarted).toEqual(['to-api']);
    expect((await call('PUT', '/api/secrets/SPARE', { value: 'x' })).json.name).toBe('SPARE');
    expect((await call('DELETE', '/api/secrets/SPARE')).json).toEqual({ name: 'SPARE' });
    await call('GET', '/api/secrets/SPARE', undefined, 404);
  });

  it('settings and network', async () => {
    expect((await call('GET', '/api/settings')).json.startAtLogin).toBe(false);
    expect((await call('PUT', '/api/settings', { startAtLogin: true, logLevel: 'debug' })).json).toMatchObject({ startAtLogin: true, logLevel: 'debug', restartRequired: [] });
    await call('PUT', '/api/settings', { adminPort: 70000 }, 400);
    const view = await call('GET', '/api/network');
    expect(view.json.network).toEqual(network);
    expect(view.json.effective.length).toBeGreaterThan(0);
    const changed = await call('PUT', '/api/network', { network: { proxy: 'none' } });
    expect(changed.json).toMatchObject({ network: { proxy: 'none' }, applied: expect.any(Object) });
    const tested = await call('POST', '/api/network/test', { url: `${sink.url}/ping` });
    expect(tested.json).toMatchObject({ ok: true, status: 200 });
    expect((await call('POST', '/api/network/test', { url: sink.url, network: { proxy: 'socks5://p:1080' } })).json.problems[0].path).toMatch(/proxy/);
  });

  it('OAuth connections: list, one, a consent started and a pasted answer refused, disconnect', async () => {
    const list = await call('GET', '/api/connections');
    expect(list.json.connections).toEqual([expect.objectContaining({ name: 'crm', state: 'consent_needed', consentable: true })]);
    expect((await call('GET', '/api/connections/crm')).json.consent).toBe(null);
    const started = await call('POST', '/api/connections/crm/connect');
    expect(started.json.authorizeUrl).toMatch(/^https:\/\/login\.salesforce\.com\//);
    await call('POST', '/api/connections/crm/callback', { input: 'not-a-code-from-this-consent' }, 400);
    expect((await call('POST', '/api/connections/crm/disconnect')).json).toMatchObject({ connection: 'crm', revoked: false });
    await call('GET', '/api/connections/nope', undefined, 404);
  });

  it('every route that answers JSON was called and checked', () => {
    // answered 2xx elsewhere, where the server's own check (FERRY_CHECK_REPLIES, on in the suite) parses them: a
    // completed consent needs a real provider (oauth-connections.test.ts, against oidc-provider), a central
    // configuration check a config server and `configSource` (config-source.test.ts), the fleet view a broker
    // (fleet.test.ts, against rabbitmq-server; here, without fleet.view, its 404 is checked against ApiError)
    const elsewhere = new Set(['POST /api/connections/:name/callback', 'POST /api/config/source/check', 'GET /api/fleet']);
    const json = routes.filter((r) => !r.produces).map((r) => `${r.method} ${r.path}`);
    expect(json.filter((k) => !answered.has(k) && !elsewhere.has(k))).toEqual([]);
  });
});
