// The admin API over real HTTP on 127.0.0.1 against a real engine (folder and HTTP flows, SQLite queue).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, request, type AdminHarness } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { listFiles, waitFor } from '../helpers/tmp.ts';
import { loginLink } from '../../main/engine/admin/login.ts';
import { routes } from '../../main/engine/admin/routes.ts';

let h: AdminHarness;
let sink: Sink;
let sinkFails = false;

const COMMENTED = (sinkUrl: string) => `# Ferry test config: the admin's notes must survive API edits
dataDir: ./data
admin: { port: 0 } # any free port
integrations:
  - name: billing # invoices for the SaaS
    flows:
      # scanned folder -> local archive
      - name: inbox
        source:
          type: folder
          path: ./inbox # where the ERP drops files
          settleMs: 0
          afterDelivery: { action: delete }
        trigger: { on: change }
        destination:
          type: folder
          path: ./archive
      - name: to-api
        source:
          type: folder
          path: ./outbox
          settleMs: 0
          afterDelivery: { action: delete }
        trigger: { on: change }
        destination:
          type: http
          url: ${sinkUrl}/upload
        retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20 }
      - name: nightly
        source:
          type: folder
          path: ./nightly
          settleMs: 0
          afterDelivery: { action: delete }
        trigger: { schedule: "0 3 1 1 *", catchUp: false }
        destination:
          type: folder
          path: ./nightly-out
`;

beforeAll(async () => {
  sink = await startSink(() => (sinkFails ? { status: 400, body: 'rejected: bad invoice' } : undefined));
  h = await startAdmin(COMMENTED(sink.url), { dirs: ['inbox', 'outbox', 'nightly'] });
});

afterAll(async () => {
  await h?.stop();
  await sink?.close();
});

describe('admin API security', () => {
  it('answers 401 without a token or with a wrong one', async () => {
    const none = await h.api('GET', '/api/status', undefined, { authorization: '' });
    expect(none.status).toBe(401);
    expect(none.json.error).toMatch(/token/);
    expect(none.text).not.toContain(h.token);
    const wrong = await h.api('GET', '/api/status', undefined, { authorization: 'Bearer not-the-token' });
    expect(wrong.status).toBe(401);
    const ok = await h.api('GET', '/api/status');
    expect(ok.status).toBe(200);
  });

  it('answers 403 to a foreign Host header (DNS rebinding), even with the token', async () => {
    for (const host of ['evil.example', `evil.example:${h.port}`, `127.0.0.1:${h.port + 1}`, `localhost.evil.example:${h.port}`]) {
      const r = await h.api('GET', '/api/status', undefined, { host });
      expect(r.status, host).toBe(403);
    }
    for (const host of [`localhost:${h.port}`, `127.0.0.1:${h.port}`, `[::1]:${h.port}`, 'localhost']) {
      const r = await h.api('GET', '/api/status', undefined, { host });
      expect(r.status, host).toBe(200);
    }
  });

  it('sends no CORS headers and sets the security headers', async () => {
    const pre = await h.api('OPTIONS', '/api/status', undefined, { origin: 'http://evil.example', 'access-control-request-method': 'GET' });
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    const r = await h.api('GET', '/api/status', undefined, { origin: `http://127.0.0.1:${h.port}` });
    expect(r.status).toBe(200);
    expect(r.headers['access-control-allow-origin']).toBeUndefined();
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    const foreign = await h.api('POST', '/api/flows/inbox/pause', undefined, { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
  });

  it('keeps the token in <dataDir>/admin-token with mode 0600 and announces the port in admin.json', () => {
    const file = path.join(h.dataDir, 'admin-token');
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(h.token);
    expect(h.token.length).toBeGreaterThanOrEqual(40);
    if (process.platform !== 'win32') expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const info = JSON.parse(fs.readFileSync(path.join(h.dataDir, 'admin.json'), 'utf8'));
    expect(info.port).toBe(h.port);
    expect(info.url).toBe(`http://127.0.0.1:${h.port}`);
  });

  it('exchanges a one-time login link for an HttpOnly SameSite=Strict session cookie', async () => {
    const link = new URL(loginLink(`http://127.0.0.1:${h.port}`, h.token));
    const r = await request(h.port, 'GET', link.pathname + link.search);
    expect(r.status).toBe(303);
    const cookie = String(r.headers['set-cookie']);
    expect(cookie).toMatch(/ferry_session=[\w-]+/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = /ferry_session=[\w-]+/.exec(cookie)![0];
    const withCookie = await h.api('GET', '/api/status', undefined, { authorization: '', cookie: session });
    expect(withCookie.status).toBe(200);
    const again = await request(h.port, 'GET', link.pathname + link.search);
    expect(again.status).toBe(403);
    expect(again.text).toMatch(/already used/);
    const forged = await request(h.port, 'GET', link.pathname + link.search.replace(/s=[^&]+/, 's=AAAA'));
    expect(forged.status).toBe(403);
    const bogus = await h.api('GET', '/api/status', undefined, { authorization: '', cookie: 'ferry_session=made-up' });
    expect(bogus.status).toBe(401);
  });

  it('says where the dashboard is when it is not built, with a strict CSP', async () => {
    const r = await h.api('GET', '/', undefined, { authorization: '' });
    expect(r.headers['content-security-policy']).toMatch(/default-src 'self'; script-src 'self'/);
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect([200, 404]).toContain(r.status);
  });
});

describe('status and OpenAPI', () => {
  it('reports every flow with counts and trigger', async () => {
    const r = await h.api('GET', '/api/status');
    expect(r.json.running).toBe(true);
    expect(r.json.flows.map((f: any) => f.flow)).toEqual(['inbox', 'to-api', 'nightly']);
    expect(r.json.flows[2].trigger).toMatch(/schedule "0 3 1 1 \*"/);
    expect(r.json.flows[2].nextRunAt).toMatch(/-01-01T/);
    expect(r.json.adminUrl).toBe(`http://127.0.0.1:${h.port}`);
  });

  it('generates the OpenAPI document from the route table', async () => {
    const r = await h.api('GET', '/api/openapi.json');
    expect(r.json.openapi).toBe('3.1.0');
    for (const route of routes) {
      const p = route.path.replace(/:([a-zA-Z]+)/g, '{$1}');
      expect(r.json.paths[p]?.[route.method.toLowerCase()]?.summary, `${route.method} ${route.path}`).toBe(route.summary);
    }
    const schemas = r.json.components.schemas;
    expect(schemas.QueueActionRequest.properties.ids.type).toBe('array');
    expect(schemas.SettingsUpdate.properties.logLevel.enum).toContain('debug');
    expect(schemas.RawFlow.properties.source).toBeDefined();
    expect(r.json.paths['/api/queue/retry'].post.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/QueueActionRequest');
  });

  it('makes the OpenAPI document\'s text once: later requests, after other replies, do not serialise it again', async () => {
    const first = await h.api('GET', '/api/openapi.json');
    const scrubber = h.engine.scrubber as { text(t: string): string };
    const text = scrubber.text.bind(scrubber);
    const scrubbed: number[] = [];
    scrubber.text = (t: string) => (scrubbed.push(t.length), text(t));
    try {
      await h.api('GET', '/api/queue?limit=1'); // another reply in between: the 250 ms reuse of the last reply does not apply
      const again = await h.api('GET', '/api/openapi.json');
      expect(again.json).toEqual(first.json);
      // only the queue page went through the scrubber, not the document (tens of KB)
      expect(scrubbed.length).toBe(1);
      expect(scrubbed[0]).toBeLessThan(JSON.stringify(first.json).length);
    } finally {
      scrubber.text = text;
    }
  });

  it('answers 404 for unknown routes and 405 for a wrong method', async () => {
    expect((await h.api('GET', '/api/nope')).status).toBe(404);
    const r = await h.api('DELETE', '/api/status');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET');
  });
});

describe('queue routes', () => {
  it('lists, shows, downloads, discards and retries items', async () => {
    sinkFails = true;
    fs.writeFileSync(path.join(h.dir, 'outbox', 'inv-1.json'), '{"invoice":1}');
    fs.writeFileSync(path.join(h.dir, 'outbox', 'inv-2.json'), '{"invoice":2}');
    const dead = await waitFor(async () => {
      const r = await h.api('GET', '/api/queue?flow=to-api&state=dead');
      return r.json.total === 2 ? r.json : undefined;
    }, 'two dead items');
    expect(dead.items.map((i: any) => i.name).sort()).toEqual(['inv-1.json', 'inv-2.json']);
    const paged = await h.api('GET', '/api/queue?flow=to-api&limit=1&offset=1');
    expect(paged.json.items).toHaveLength(1);
    expect(paged.json.total).toBe(2);

    const one = dead.items.find((i: any) => i.name === 'inv-1.json');
    const shown = await h.api('GET', `/api/queue/${one.id}`);
    expect(shown.json.item.state).toBe('dead');
    expect(shown.json.item.attributes.relativePath).toBe('inv-1.json');
    expect(shown.json.attempts[0].outcome).toBe('dead');
    expect(shown.json.attempts[0].status).toBe(400);
    expect(shown.json.lastResponse).toMatch(/rejected: bad invoice/);
    expect(shown.json.hasBody).toBe(true);

    const body = await h.api('GET', `/api/queue/${one.id}/body`);
    expect(body.status).toBe(200);
    expect(body.text).toBe('{"invoice":1}');
    expect(body.headers['content-disposition']).toMatch(/attachment; filename="inv-1.json"/);

    const two = dead.items.find((i: any) => i.name === 'inv-2.json');
    const discarded = await h.api('POST', '/api/queue/discard', { ids: [two.id] });
    expect(discarded.json.count).toBe(1);
    expect((await h.api('GET', `/api/queue/${two.id}`)).json.item.state).toBe('discarded');
    expect((await h.api('GET', `/api/queue/${two.id}/body`)).status).toBe(410);

    sinkFails = false;
    const retried = await h.api('POST', '/api/queue/retry', { flow: 'to-api', state: 'dead' });
    expect(retried.json.count).toBe(1);
    await waitFor(async () => (await h.api('GET', `/api/queue/${one.id}`)).json.item.state === 'delivered', 'retried item delivered');
    expect(sink.accepted.size).toBeGreaterThanOrEqual(1);
  });

  it('rejects bad queue requests with the field named', async () => {
    const r = await h.api('GET', '/api/queue?state=lost');
    expect(r.status).toBe(400);
    expect(r.json.problems[0].path).toBe('state');
    const noFilter = await h.api('POST', '/api/queue/retry', {});
    expect(noFilter.status).toBe(400);
    expect(noFilter.json.error).toMatch(/ids, flow or state/);
    const badIds = await h.api('POST', '/api/queue/retry', { ids: [3, 0] });
    expect(badIds.status).toBe(400);
    expect(badIds.json.problems[0].path).toBe('ids[1]');
    const badState = await h.api('POST', '/api/queue/discard', { state: 'lost' });
    expect(badState.json.problems[0]).toMatchObject({ path: 'state', message: expect.stringMatching(/expected one of .*"dead"/) });
    const extra = await h.api('POST', '/api/queue/discard', { flow: 'inbox', force: true });
    expect(extra.json.problems[0]).toEqual({ path: 'force', message: 'unknown key' });
    const unknownFlow = await h.api('POST', '/api/queue/discard', { flow: 'ghost' });
    expect(unknownFlow.status).toBe(404);
    expect((await h.api('GET', '/api/queue/999999')).status).toBe(404);
    expect((await h.api('GET', '/api/queue/abc')).status).toBe(400);
    const notJson = await h.api('POST', '/api/queue/retry', undefined, { 'content-type': 'text/plain' });
    expect(notJson.status).toBe(400);
  });
});

describe('flow routes', () => {
  it('pauses and resumes deliveries, and runs a scheduled flow now', async () => {
    const inbox = h.engine.flow('inbox').counters;
    const beforePause = inbox.dispatchTurns;
    const paused = await h.api('POST', '/api/flows/inbox/pause');
    expect(paused.json).toMatchObject({ flow: 'inbox', paused: true });
    await waitFor(() => inbox.dispatchTurns > beforePause, 'the dispatcher to see the pause');
    const turns = inbox.dispatchTurns;
    fs.writeFileSync(path.join(h.dir, 'inbox', 'while-paused.txt'), 'hold me');
    await waitFor(async () => (await h.api('GET', '/api/queue?flow=inbox&state=queued')).json.total === 1, 'item queued while paused');
    // the item's commit wakes the paused dispatcher, which looks and sends nothing
    await waitFor(() => inbox.dispatchTurns > turns, 'the paused dispatcher to look at its queue after the item came');
    expect(listFiles(path.join(h.dir, 'archive'))).toEqual([]);
    expect(inbox.delivered).toBe(0);
    expect((await h.api('GET', '/api/status')).json.flows[0].paused).toBe(true);
    const resumed = await h.api('POST', '/api/flows/inbox/resume');
    expect(resumed.json.paused).toBe(false);
    await waitFor(() => listFiles(path.join(h.dir, 'archive')).includes('while-paused.txt'), 'delivery after resume');

    fs.writeFileSync(path.join(h.dir, 'nightly', 'report.csv'), 'a,b\n1,2\n');
    // a scheduled flow looks only on its tick (none is due during the test) or when asked to
    expect(h.engine.flow('nightly').counters.scans).toBe(0);
    expect(listFiles(path.join(h.dir, 'nightly-out'))).toEqual([]);
    const run = await h.api('POST', '/api/flows/nightly/run');
    expect(run.status).toBe(202);
    expect(run.json.running).toBe(true);
    await waitFor(() => listFiles(path.join(h.dir, 'nightly-out')).includes('report.csv'), 'run-now delivery');
    expect((await h.api('POST', '/api/flows/ghost/run')).status).toBe(404);
  });
});

describe('activity and the event stream', () => {
  it('lists activity and resumes the SSE stream from since and from Last-Event-ID', async () => {
    const all = await h.api('GET', '/api/activity?since=0&limit=1000');
    const events = all.json.events;
    expect(events.length).toBeGreaterThan(3);
    expect(events.some((e: any) => e.type === 'delivered')).toBe(true);
    expect(events.some((e: any) => e.type === 'dead')).toBe(true);
    const middle = events[1].id;
    // without since: the newest `limit` events (an outcome committing meanwhile may add one, so compare with a fresh list)
    const latest = await h.api('GET', '/api/activity?limit=2');
    const latestIds = latest.json.events.map((e: any) => e.id);
    const after = (await h.api('GET', '/api/activity?since=0&limit=1000')).json.events.map((e: any) => e.id);
    expect(latestIds).toEqual(after.filter((id: number) => id <= latestIds[1]).slice(-2));
    expect(latest.json.cursor).toBe(latestIds[1]);

    const fromSince = await readSse(`/api/events?since=${middle}`, 3);
    expect(fromSince.map((e) => e.id)).toEqual(events.slice(2, 5).map((e: any) => e.id));
    const fromHeader = await readSse('/api/events', 2, { 'last-event-id': String(events[0].id) });
    expect(fromHeader.map((e) => e.id)).toEqual(events.slice(1, 3).map((e: any) => e.id));

    // live: a new event arrives on an open stream
    const last = events[events.length - 1].id;
    const live = readSse(`/api/events?since=${(await h.api('GET', '/api/activity?limit=1')).json.cursor}`, 1);
    await h.api('POST', '/api/flows/inbox/pause');
    const got = await live;
    expect(got[0].id).toBeGreaterThan(last);
    expect(got[0].type).toBe('flow');
    await h.api('POST', '/api/flows/inbox/resume');
    const noToken = await h.api('GET', '/api/events', undefined, { authorization: '' });
    expect(noToken.status).toBe(401);
  });
});

/** Reads `count` events from the SSE route (bounded by a timeout). */
function readSse(p: string, count: number, headers: Record<string, string> = {}): Promise<Array<{ id: number; type: string }>> {
  return new Promise((resolve, reject) => {
    const got: Array<{ id: number; type: string }> = [];
    const req = http.get({ host: '127.0.0.1', port: h.port, path: p, headers: { host: `127.0.0.1:${h.port}`, authorization: `Bearer ${h.token}`, ...headers }, agent: false }, (res) => {
      expect(res.headers['content-type']).toMatch(/text\/event-stream/);
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (\d+)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (id && data) got.push({ id: Number(id), type: JSON.parse(data).type });
          if (got.length >= count) {
            clearTimeout(timer);
            req.destroy();
            resolve(got);
            return;
          }
        }
      });
    });
    const timer = setTimeout(() => (req.destroy(), reject(new Error(`SSE: got ${got.length} of ${count} events`))), 15_000);
    req.on('error', (err) => {
      if (got.length < count) reject(err);
    });
  });
}
