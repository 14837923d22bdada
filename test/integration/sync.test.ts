// The `sync` endpoint against a real SaaS stub: answers with the SaaS status and body (mapped both ways),
// times out into tickets fetched later or pushed to a callback URL, bounds concurrency with 503 +
// Retry-After, runs ordered steps stopping at the first failure, and keeps every call in the queue.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePort, startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { startFerry, writeConfig } from '../helpers/cli.ts';

let port: number;
let saas: http.Server;
let saasUrl: string;
const calls: Array<{ path: string; body: any; key?: string }> = [];
let run: RunningEngine;
let callbacks: Sink;

beforeAll(async () => {
  saas = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const body = data ? JSON.parse(data) : null;
      calls.push({ path: req.url!, body, key: req.headers['idempotency-key'] as string | undefined });
      const json = (status: number, v: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      switch (req.url) {
        case '/quote':
          return json(201, { price: body.qty * 2, currency: 'EUR' });
        case '/slow':
          return setTimeout(() => json(200, { done: body.n }), 800);
        case '/pay':
          return body.amount > 100 ? json(402, { error: 'card declined' }) : json(200, { paymentId: `pay-${body.amount}` });
        case '/fulfil':
          return json(201, { orderId: `ord-${body.paymentId}` });
        default:
          return json(404, { error: 'no such route' });
      }
    });
  });
  const saasPort = await freePort();
  await new Promise<void>((r) => saas.listen(saasPort, '127.0.0.1', r));
  saasUrl = `http://127.0.0.1:${saasPort}`;
  callbacks = await startSink();
  port = await freePort();
  run = await startEngine({
    integrations: [
      {
        name: 'shop',
        flows: [
          {
            name: 'quote',
            source: { type: 'sync', port, request: { map: '{ "qty": quantity }' }, response: { map: '{ "total": price, "currency": currency }' } },
            destination: { type: 'http', url: `${saasUrl}/quote`, contentType: 'application/json' },
          },
          {
            name: 'slow',
            source: { type: 'sync', port, timeoutMs: 200, callbackUrl: `${callbacks.url}/done`, callbackSecret: 'callback-secret-0123456789abcdef' },
            destination: { type: 'http', url: `${saasUrl}/slow`, contentType: 'application/json' },
          },
          {
            name: 'bounded',
            source: { type: 'sync', port, maxConcurrent: 2, retryAfterSec: 3, timeoutMs: 5000 },
            destination: { type: 'http', url: `${saasUrl}/slow`, contentType: 'application/json' },
          },
          {
            name: 'guarded',
            source: { type: 'sync', port, token: 'sync-token-0123456789' },
            destination: { type: 'http', url: `${saasUrl}/quote`, contentType: 'application/json' },
          },
          {
            name: 'checkout',
            source: { type: 'sync', port },
            destination: {
              type: 'http-steps',
              steps: [
                { name: 'charge', url: `${saasUrl}/pay`, body: '{ "amount": input.total }' },
                { name: 'fulfil', url: `${saasUrl}/fulfil`, body: '{ "paymentId": steps.charge.paymentId, "sku": input.sku }' },
              ],
            },
            retry: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 50 },
          },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await run?.stop();
  saas?.close();
  await callbacks?.close();
});

async function call(flow: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${port}/sync/${flow}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

async function fetchTicket(flow: string, ticket: string, wait = 0) {
  const res = await request(`http://127.0.0.1:${port}/sync/${flow}/${ticket}?wait=${wait}`);
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
}

describe('sync endpoint', () => {
  it('returns the SaaS status and body, mapped both ways, and records the call in the queue', async () => {
    const r = await call('quote', { quantity: 3, note: 'x' });
    expect(r.status).toBe(201);
    expect(r.json).toEqual({ total: 6, currency: 'EUR' });
    expect(calls.find((c) => c.path === '/quote')!.body).toEqual({ qty: 3 });
    const ticket = String(r.headers['x-ferry-ticket']);
    // asked right away, the ticket already gives the answer (its commit may still be in the group-commit window)
    expect(await fetchTicket('quote', ticket)).toEqual({ status: 201, json: { total: 6, currency: 'EUR' } });
    await waitFor(() => run.engine.queue.get(Number(ticket))?.state === 'delivered', 'the call recorded as delivered');
    expect(run.engine.queue.get(Number(ticket))!.flow).toBe('quote');
    expect(JSON.parse(run.engine.queue.reply(Number(ticket))!.body.toString())).toEqual({ price: 6, currency: 'EUR' });
    expect(await fetchTicket('quote', ticket)).toEqual({ status: 201, json: { total: 6, currency: 'EUR' } });
  });

  it('a repeated call with the same Idempotency-Key is answered from the first, without calling the SaaS again', async () => {
    const before = calls.filter((c) => c.path === '/quote').length;
    const a = await call('quote', { quantity: 5 }, { 'idempotency-key': 'order-77' });
    const b = await call('quote', { quantity: 5 }, { 'idempotency-key': 'order-77' });
    expect(a.json).toEqual({ total: 10, currency: 'EUR' });
    expect(b).toMatchObject({ status: 201, json: { total: 10, currency: 'EUR' } });
    expect(b.headers['x-ferry-ticket']).toBe(a.headers['x-ferry-ticket']);
    expect(calls.filter((c) => c.path === '/quote').length).toBe(before + 1);
  });

  it('times out into a ticket (504), keeps the call going, and gives the outcome by GET and on the callback URL', async () => {
    const r = await call('slow', { n: 42 });
    expect(r.status).toBe(504);
    expect(r.json.state).toBe('pending');
    const ticket = r.json.ticket as string;
    expect(r.headers.location).toBe(`/sync/slow/${ticket}`);
    const pending = await fetchTicket('slow', ticket);
    expect(pending.status).toBe(202);
    const done = await fetchTicket('slow', ticket, 5);
    expect(done).toEqual({ status: 200, json: { done: 42 } });
    await waitFor(() => callbacks.received.length === 1, 'the callback');
    const cb = callbacks.received[0];
    expect(JSON.parse(cb.body.toString())).toMatchObject({ flow: 'slow', ticket, state: 'delivered', status: 200 });
    expect(JSON.parse(JSON.parse(cb.body.toString()).body)).toEqual({ done: 42 });
    expect(cb.headers['webhook-signature']).toMatch(/^v1,/);
  });

  it('bounds concurrency: excess calls get 503 with Retry-After instead of piling up', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, n) => call('bounded', { n })));
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    expect(ok.length).toBe(2);
    expect(busy.length).toBe(3);
    for (const b of busy) {
      expect(b.headers['retry-after']).toBe('3');
      expect(b.json.error).toMatch(/too many calls in progress/);
    }
    // the refused calls were never queued
    expect(run.engine.queue.count({ flow: 'bounded' })).toBe(2);
    // and once the first calls finish, the endpoint takes calls again
    expect((await call('bounded', { n: 9 })).status).toBe(200);
  });

  it('runs ordered steps: fulfilment only after a successful payment, else the first failure\'s status and reason', async () => {
    const ok = await call('checkout', { total: 50, sku: 'A-1' });
    expect(ok.status).toBe(201);
    expect(ok.json).toEqual({ orderId: 'ord-pay-50' });
    const fulfilBefore = calls.filter((c) => c.path === '/fulfil').length;
    const declined = await call('checkout', { total: 500, sku: 'B-2' });
    expect(declined.status).toBe(402);
    expect(declined.json.error).toMatch(/step charge failed: HTTP 402/);
    expect(declined.json.upstreamResponse).toContain('card declined');
    expect(calls.filter((c) => c.path === '/fulfil').length).toBe(fulfilBefore);
    // each step carries its own idempotency key derived from the item's
    const charge = calls.filter((c) => c.path === '/pay').at(-1)!;
    expect(charge.key).toMatch(/^[0-9a-f]{40}:charge$/);
  });

  it('needs the bearer token when one is set, and refuses browser (Origin) requests', async () => {
    expect((await call('guarded', { qty: 1 })).status).toBe(401);
    expect((await call('guarded', { qty: 1 }, { authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    const ok = await call('guarded', { qty: 2 }, { authorization: 'Bearer sync-token-0123456789' });
    expect(ok.status).toBe(201);
    const ticket = String(ok.headers['x-ferry-ticket']);
    expect((await fetchTicket('guarded', ticket)).status).toBe(401);
    const before = calls.length;
    const fromPage = await call('quote', { quantity: 1 }, { origin: 'https://evil.example' });
    expect(fromPage.status).toBe(403);
    expect(calls.length).toBe(before);
  });

  it('refuses bad JSON (400), unknown tickets (404) and tickets of another flow', async () => {
    expect((await call('quote', '{"quantity":')).status).toBe(400);
    expect((await fetchTicket('quote', '999999')).status).toBe(404);
    expect((await fetchTicket('quote', 'abc')).status).toBe(404);
    const r = await call('quote', { quantity: 1 });
    expect((await fetchTicket('slow', String(r.headers['x-ferry-ticket']))).status).toBe(404);
  });
});

describe('sync calls survive a crash', () => {
  it('a call that timed out into a ticket completes after kill -9 and a restart', async () => {
    const dir = tempDir('ferry-sync-crash-');
    const p = await freePort();
    const file = writeConfig(dir, {
      dataDir: './data',
      integrations: [{ name: 's', flows: [{ name: 'slowcall', source: { type: 'sync', port: p, timeoutMs: 100 }, destination: { type: 'http', url: `${saasUrl}/slow`, contentType: 'application/json' } }] }],
    });
    const first = await startFerry(file);
    const res = await request(`http://127.0.0.1:${p}/sync/slowcall`, { method: 'POST', body: JSON.stringify({ n: 7 }), headers: { 'content-type': 'application/json' } });
    const pending = (await res.body.json()) as { ticket: string };
    expect(res.statusCode).toBe(504);
    await first.kill9(); // the SaaS call was still running
    const second = await startFerry(file);
    try {
      const done = await request(`http://127.0.0.1:${p}/sync/slowcall/${pending.ticket}?wait=10`);
      expect(done.statusCode).toBe(200);
      expect(await done.body.json()).toEqual({ done: 7 });
    } finally {
      await second.stop();
    }
  }, 60_000);
});
