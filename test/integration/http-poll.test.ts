// The http-poll source against a real local API: every pagination style, incremental sync across runs
// with changed records, 429 + Retry-After and the per-host request budget, OAuth 2.0 token caching,
// refresh on 401 and the refresh-token grant, and clear errors for bad replies.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { startApi, type FakeApi } from '../helpers/api.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { writeConfig } from '../helpers/cli.ts';

let engine: Engine | undefined;
let sink: Sink | undefined;
let api: FakeApi | undefined;
afterEach(async () => {
  await engine?.stop();
  engine = undefined;
  await sink?.close();
  sink = undefined;
  await api?.close();
  api = undefined;
});

const NEVER = { schedule: '0 0 1 1 *', catchUp: false };

async function open(dir: string, flows: Array<Record<string, unknown>>): Promise<Engine> {
  const cfg = {
    dataDir: path.join(dir, 'data'),
    integrations: [{ name: 'api', flows: flows.map((f) => ({ trigger: NEVER, destination: { type: 'http', url: `${sink!.url}/in` }, retry: { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 100 }, ...f })) }],
  };
  const e = Engine.open(loadConfig(writeConfig(dir, cfg)));
  await e.start();
  return e;
}

/** Record ids the sink accepted, and how many distinct idempotency keys each id came with. */
function acceptedIds(s: Sink): Map<number, Set<string>> {
  const ids = new Map<number, Set<string>>();
  for (const [key, hits] of s.accepted) {
    for (const h of hits) {
      const rec = JSON.parse(h.body.toString('utf8')) as { id: number };
      ids.set(rec.id, (ids.get(rec.id) ?? new Set()).add(key));
    }
  }
  return ids;
}

describe('http-poll: pagination', () => {
  it.each([
    ['page', { path: '/page/orders', recordPath: 'data', pagination: { type: 'page', param: 'page', sizeParam: 'per_page', size: 10 } }],
    ['offset', { path: '/offset/orders', recordPath: 'items', pagination: { type: 'offset', offsetParam: 'offset', limitParam: 'limit', limit: 10 } }],
    ['cursor in the body', { path: '/cursor/orders', recordPath: 'results', pagination: { type: 'cursor', param: 'cursor', nextPath: 'meta.next_cursor' } }],
    ['RFC 8288 Link rel=next', { path: '/link/orders', pagination: { type: 'link' } }],
  ])('%s: every record arrives once, keyed by id', async (_style, p) => {
    const dir = tempDir();
    api = await startApi();
    sink = await startSink();
    const { path: route, ...rest } = p as { path: string } & Record<string, unknown>;
    engine = await open(dir, [{ name: 'orders', source: { type: 'http-poll', url: `${api.url}${route}`, key: 'id', ...rest } }]);
    await engine.flow('orders').runScan('test');
    await waitFor(() => sink!.accepted.size === 25, '25 records delivered', 20_000);
    const ids = acceptedIds(sink);
    expect([...ids.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(api.dataRequests()).toHaveLength(3);
    expect(JSON.parse(sink.received[0].body.toString())).toMatchObject({ id: expect.any(Number), customer: expect.stringMatching(/@example.com$/) });
  });
});

describe('http-poll: incremental sync', () => {
  it('sends only new and changed records on the next run; an unchanged record polled again is a duplicate', async () => {
    const dir = tempDir();
    api = await startApi();
    sink = await startSink();
    engine = await open(dir, [{
      name: 'orders',
      source: {
        type: 'http-poll', url: `${api.url}/page/orders`, recordPath: 'data', key: 'id',
        pagination: { type: 'page', sizeParam: 'per_page', size: 10 },
        incremental: { field: 'updated_at', param: 'updated_since', start: '2000-01-01T00:00:00.000Z' },
      },
    }]);
    await engine.flow('orders').runScan('run 1');
    await waitFor(() => sink!.accepted.size === 25, 'first run delivered', 20_000);
    expect(api.dataRequests()[0].query.updated_since).toBe('2000-01-01T00:00:00.000Z');
    const hwm = api.orders[24].updated_at;

    // between runs: order 3 changes, order 26 is new
    api.orders[2] = { ...api.orders[2], amount: 999, updated_at: '2024-06-01T00:00:00.000Z' };
    api.orders.push({ id: 26, customer: 'new@example.com', amount: 1, status: 'OPEN', updated_at: '2024-06-02T00:00:00.000Z' });
    const before = api.dataRequests().length;
    await engine.flow('orders').runScan('run 2');
    await waitFor(() => sink!.accepted.size === 27, 'changed and new records delivered', 20_000);
    const run2 = api.dataRequests().slice(before);
    expect(run2[0].query.updated_since).toBe(hwm);
    const newest = sink.received.slice(-2).map((r) => JSON.parse(r.body.toString()));
    expect(newest.map((r) => r.id).sort((a, b) => a - b)).toEqual([3, 26]);
    expect(newest.find((r) => r.id === 3).amount).toBe(999);
    // order 25 (the high-water mark itself) came back with updated_since >= and was dropped as a duplicate
    expect([...acceptedIds(sink).get(25)!]).toHaveLength(1);

    const run3Before = api.dataRequests().length;
    const taken = engine.flow('orders').counters.taken;
    await engine.flow('orders').runScan('run 3');
    expect(api.dataRequests()[run3Before].query.updated_since).toBe('2024-06-02T00:00:00.000Z');
    // the third run found nothing new: it queued nothing, and the flow's queue is empty
    expect(engine.flow('orders').counters.taken).toBe(taken);
    await waitFor(() => engine!.flow('orders').isIdle, 'the flow to find nothing left to send');
    expect(sink.accepted.size).toBe(27);
  });

  it('a sync token from the last page is the next run\'s cursor', async () => {
    const dir = tempDir();
    api = await startApi();
    sink = await startSink();
    engine = await open(dir, [{
      name: 'orders',
      source: { type: 'http-poll', url: `${api.url}/page/orders`, recordPath: 'data', key: 'id', pagination: { type: 'page', size: 10, sizeParam: 'per_page' }, incremental: { tokenPath: 'sync_token', param: 'sync' } },
    }]);
    await engine.flow('orders').runScan('run 1');
    expect(api.dataRequests()[0].query.sync).toBeUndefined();
    const n = api.dataRequests().length;
    await engine.flow('orders').runScan('run 2');
    expect(api.dataRequests()[n].query.sync).toBe('sync-25');
  });
});

describe('http-poll: rate limits', () => {
  it('waits out 429 Retry-After between pages and keeps to maxRequestsPerMinute', async () => {
    const dir = tempDir();
    api = await startApi();
    sink = await startSink();
    engine = await open(dir, [{
      name: 'orders',
      source: { type: 'http-poll', url: `${api.url}/offset/orders`, recordPath: 'items', key: 'id', pagination: { type: 'offset', limit: 10 }, maxRequestsPerMinute: 300 },
    }]);
    api.throttleNext(1, 1);
    await engine.flow('orders').runScan('test');
    const reqs = api.dataRequests();
    expect(reqs).toHaveLength(4); // one 429 + three pages
    expect(reqs[1].at - reqs[0].at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    for (let i = 2; i < reqs.length; i++) expect(reqs[i].at - reqs[i - 1].at).toBeGreaterThanOrEqual(180); // 300/min = one per 200 ms
    expect(reqs.map((r) => r.query.offset)).toEqual(['0', '0', '10', '20']);
    await waitFor(() => sink!.accepted.size === 25, 'all records', 20_000);
  });

  it('a page that keeps failing stops the run with a clear problem, and the next run resumes at that page', async () => {
    const dir = tempDir();
    api = await startApi();
    sink = await startSink();
    engine = await open(dir, [{
      name: 'orders',
      source: { type: 'http-poll', url: `${api.url}/page/orders`, recordPath: 'data', key: 'id', pagination: { type: 'page', size: 10, sizeParam: 'per_page' }, maxRetries: 1 },
    }]);
    api.failPage = { page: 2, times: 2 };
    await engine.flow('orders').runScan('run 1');
    const served = api.dataRequests().length;
    expect(served).toBe(3);
    expect(engine.flow('orders').facts.lastError).toMatch(/polling .*\/page\/orders failed on page 2: 127\.0\.0\.1:\d+ answered HTTP 429 2 times/);
    await engine.flow('orders').runScan('run 2');
    expect(api.dataRequests().slice(served).map((r) => r.query.page)).toEqual(['2', '3']);
    await waitFor(() => sink!.accepted.size === 25, 'all records after the resumed run', 20_000);
  });
});

describe('http-poll: OAuth 2.0', () => {
  it('client credentials: one token for many pages, a new one when it expires, refreshed once on 401; a refused client is a clear error', async () => {
    const dir = tempDir();
    api = await startApi();
    api.oauth.required = true;
    sink = await startSink();
    const auth = { type: 'oauth2', tokenUrl: `${api.url}/token`, clientId: api.oauth.clientId, clientSecret: api.oauth.clientSecret, scope: 'orders:read' };
    engine = await open(dir, [{
      name: 'orders',
      source: { type: 'http-poll', url: `${api.url}/cursor/orders`, recordPath: 'results', key: 'id', pagination: { type: 'cursor', nextPath: 'meta.next_cursor' }, auth },
    }]);
    await engine.flow('orders').runScan('run 1');
    expect(api.oauth.issued).toHaveLength(1);
    expect(api.dataRequests().every((r) => r.headers.authorization === 'Bearer tok-1')).toBe(true);
    const tokenReq = api.requests.find((r) => r.path === '/token')!;
    expect(new URLSearchParams(tokenReq.body).get('scope')).toBe('orders:read');
    expect(tokenReq.headers.authorization).toMatch(/^Basic /);

    // the server revokes the token early: the next request gets 401, Ferry fetches a new token once and goes on
    api.oauth.revokeAll();
    const n = api.dataRequests().length;
    await engine.flow('orders').runScan('run 2');
    expect(api.oauth.issued).toHaveLength(2);
    const run2 = api.dataRequests().slice(n);
    expect(run2.map((r) => r.headers.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2', 'Bearer tok-2', 'Bearer tok-2']);
    expect(engine.flow('orders').facts.lastError).toBeUndefined();

    // wrong secret: a clear error naming the token endpoint, no endless retries
    api.oauth.clientSecret = 'rotated';
    api.oauth.revokeAll();
    await engine.flow('orders').runScan('run 3');
    expect(engine.flow('orders').facts.lastError).toMatch(/OAuth token request to 127\.0\.0\.1:\d+\/token answered HTTP 401 \(invalid_client: unknown client or wrong secret\)/);
    await waitFor(() => sink!.accepted.size === 25, 'records of the good runs', 20_000);
  });

  it('a token is fetched again once it expires, without waiting for a 401', async () => {
    const dir = tempDir();
    api = await startApi();
    api.oauth.required = true;
    api.oauth.expiresInSec = 1; // cached at most 1 s (Ferry refreshes early)
    sink = await startSink();
    engine = await open(dir, [{
      name: 'orders',
      source: { type: 'http-poll', url: `${api.url}/link/orders`, key: 'id', pagination: { type: 'link' }, auth: { type: 'oauth2', tokenUrl: `${api.url}/token`, clientId: api.oauth.clientId, clientSecret: api.oauth.clientSecret } },
    }]);
    await engine.flow('orders').runScan('run 1');
    expect(api.oauth.issued).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    await engine.flow('orders').runScan('run 2');
    expect(api.oauth.issued).toHaveLength(2);
    expect(api.dataRequests().filter((r) => r.headers.authorization === 'Bearer tok-1')).toHaveLength(3);
    expect(api.requests.filter((r) => r.path !== '/token').every((r) => r.headers.authorization !== undefined)).toBe(true);
    expect(engine.flow('orders').facts.lastError).toBeUndefined();
  });

  it('refresh-token grant (with rotation) and a POST query with parameters in the body', async () => {
    const dir = tempDir();
    api = await startApi();
    api.oauth.required = true;
    sink = await startSink();
    engine = await open(dir, [{
      name: 'orders',
      source: {
        type: 'http-poll', url: `${api.url}/page/orders`, method: 'POST', paramsIn: 'body', body: { status: 'any' }, recordPath: 'data', key: 'id',
        pagination: { type: 'page', size: 10, sizeParam: 'per_page' },
        auth: { type: 'oauth2', grant: 'refresh_token', tokenUrl: `${api.url}/token`, clientId: api.oauth.clientId, clientSecret: api.oauth.clientSecret, refreshToken: api.oauth.refreshToken },
      },
    }]);
    await engine.flow('orders').runScan('run 1');
    const tokenReq = api.requests.find((r) => r.path === '/token')!;
    expect(Object.fromEntries(new URLSearchParams(tokenReq.body))).toEqual({ grant_type: 'refresh_token', refresh_token: 'refresh-1' });
    expect(api.dataRequests().map((r) => JSON.parse(r.body))).toEqual([
      { status: 'any', page: 1, per_page: 10 }, { status: 'any', page: 2, per_page: 10 }, { status: 'any', page: 3, per_page: 10 },
    ]);
    api.oauth.revokeAll();
    await engine.flow('orders').runScan('run 2');
    // the server rotated the refresh token: Ferry used the new one
    const second = api.requests.filter((r) => r.path === '/token')[1];
    expect(new URLSearchParams(second.body).get('refresh_token')).toBe('refresh-2');
    expect(engine.flow('orders').facts.lastError).toBeUndefined();
    await waitFor(() => sink!.accepted.size === 25, 'records', 20_000);
  });
});

describe('http-poll: bad replies', () => {
  it('names what is wrong: an object without recordPath, a non-JSON body, a 404', async () => {
    const dir = tempDir();
    api = await startApi();
    sink = await startSink();
    engine = await open(dir, [
      { name: 'no-path', source: { type: 'http-poll', url: `${api.url}/page/orders` } },
      { name: 'missing', source: { type: 'http-poll', url: `${api.url}/nothing/here` } },
    ]);
    await engine.flow('no-path').runScan('t');
    expect(engine.flow('no-path').facts.lastError).toMatch(/the response is an object, not an array of records: set recordPath/);
    await engine.flow('missing').runScan('t');
    expect(engine.flow('missing').facts.lastError).toMatch(/\/nothing\/here answered HTTP 404: \{"error":"no route \/nothing\/here"\}/);
    expect(engine.queue.count({})).toBe(0);
  });
});
