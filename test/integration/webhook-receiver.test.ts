// The `webhook` source against real HTTP requests: each signature scheme accepts a valid signature and
// refuses a bad one, a stale timestamp and a replay; 413, 400 only for JSON flows, no secret echoed,
// flows sharing a port, and webhook-relay mode against a real relay server.
import crypto from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePort, startEngine, type RunningEngine } from '../helpers/engine.ts';
import { waitFor } from '../helpers/tmp.ts';

const GH_SECRET = 'gh-secret-0123456789abcdef';
const STRIPE_SECRET = 'whsec_stripe_0123456789abcdef';
const SW_KEY = crypto.randomBytes(32);
const SW_SECRET = `whsec_${SW_KEY.toString('base64')}`;
const SW_OLD_KEY = crypto.randomBytes(32);
const SW_OLD_SECRET = `whsec_${SW_OLD_KEY.toString('base64')}`;
const TOKEN = 'bearer-token-0123456789abcdef';

// independent signers (what the SaaS apps do)
const hex = (key: string | Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest('hex');
const b64 = (key: Buffer, data: string) => crypto.createHmac('sha256', key).update(data).digest('base64');
const now = () => Math.floor(Date.now() / 1000);

let port: number;
let run: RunningEngine;
let relayPort: number;
let relay: http.Server;
const relayEvents: Array<{ id: string; headers: Record<string, string>; body: string }> = [];
const relayCursorsSeen: string[] = [];

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: text ? JSON.parse(text) : undefined };
}

const count = (flow: string) => run.engine.queue.count({ flow });

beforeAll(async () => {
  port = await freePort();
  relayPort = await freePort();
  // a relay: long-poll GET ?cursor=N returns events after N
  relay = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (req.headers.authorization !== 'Bearer relay-token') {
      res.writeHead(401).end();
      return;
    }
    const cursor = Number(u.searchParams.get('cursor') ?? 0);
    relayCursorsSeen.push(String(cursor));
    const events = relayEvents.slice(cursor);
    if (events.length === 0) {
      setTimeout(() => res.writeHead(204).end(), 100);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ events, cursor: String(relayEvents.length) }));
  });
  await new Promise<void>((r) => relay.listen(relayPort, '127.0.0.1', r));
  const folder = (name: string) => ({ type: 'folder', path: `./out/${name}` });
  run = await startEngine({
    integrations: [
      {
        name: 'hooks',
        flows: [
          { name: 'gh', source: { type: 'webhook', port, verify: { scheme: 'github', secret: GH_SECRET } }, destination: folder('gh') },
          { name: 'stripe', source: { type: 'webhook', port, verify: { scheme: 'stripe', secret: STRIPE_SECRET } }, destination: folder('stripe') },
          { name: 'sw', source: { type: 'webhook', port, verify: { scheme: 'standard-webhooks', secret: [SW_SECRET, SW_OLD_SECRET] } }, destination: folder('sw') },
          { name: 'bearer', source: { type: 'webhook', port, maxBodyBytes: 1024, verify: { scheme: 'bearer', secret: TOKEN } }, destination: folder('bearer') },
          { name: 'raw', source: { type: 'webhook', port, format: 'raw', verify: { scheme: 'bearer', secret: TOKEN } }, destination: folder('raw') },
          {
            name: 'relayed',
            source: { type: 'webhook', mode: 'webhook-relay', relay: { url: `http://127.0.0.1:${relayPort}/poll`, token: 'relay-token', waitSeconds: 1 }, verify: { scheme: 'standard-webhooks', secret: SW_SECRET } },
            destination: folder('relayed'),
          },
        ],
      },
    ],
  });
});

afterAll(async () => {
  await run?.stop();
  relay?.close();
});

describe('GitHub X-Hub-Signature-256', () => {
  const body = JSON.stringify({ action: 'opened', number: 1 });
  it('accepts a valid signature once and answers a replay 2xx without queueing again', async () => {
    const headers = { 'x-hub-signature-256': `sha256=${hex(GH_SECRET, body)}`, 'x-github-delivery': 'gh-1', 'x-github-event': 'issues' };
    const first = await post('/hooks/gh', body, headers);
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ status: 'queued', id: 'gh-1' });
    expect(count('gh')).toBe(1);
    const replay = await post('/hooks/gh', body, headers);
    expect(replay.status).toBe(200);
    expect(replay.json.status).toBe('duplicate');
    expect(count('gh')).toBe(1);
    const item = run.engine.queue.list({ flow: 'gh' })[0];
    expect(JSON.parse(item.attrs)).toMatchObject({ webhookId: 'gh-1', eventType: 'issues' });
  });
  it('refuses a bad signature, a missing one and a body changed after signing', async () => {
    const before = count('gh');
    const bad = await post('/hooks/gh', body, { 'x-hub-signature-256': `sha256=${hex('wrong-secret', body)}`, 'x-github-delivery': 'gh-2' });
    expect(bad.status).toBe(401);
    expect(bad.json.error).toMatch(/signature does not match/);
    expect(bad.text).not.toContain(GH_SECRET);
    expect(bad.text).not.toContain(hex(GH_SECRET, body));
    expect((await post('/hooks/gh', body, {})).status).toBe(401);
    const tampered = await post('/hooks/gh', body.replace('1', '2'), { 'x-hub-signature-256': `sha256=${hex(GH_SECRET, body)}`, 'x-github-delivery': 'gh-3' });
    expect(tampered.status).toBe(401);
    expect(count('gh')).toBe(before);
  });
});

describe('Stripe-style t=…,v1=…', () => {
  const body = JSON.stringify({ id: 'evt_1', type: 'invoice.paid' });
  const sign = (t: number, key = STRIPE_SECRET, b = body) => `t=${t},v1=${hex(key, `${t}.${b}`)}`;
  it('accepts a valid signature (any v1 of several) and keys replays by the event id', async () => {
    const t = now();
    const ok = await post('/hooks/stripe', body, { 'stripe-signature': `t=${t},v1=${'0'.repeat(64)},v1=${hex(STRIPE_SECRET, `${t}.${body}`)}` });
    expect(ok.status).toBe(202);
    expect(ok.json.id).toBe('evt_1');
    // Stripe re-sends the same event with a fresh timestamp: recognised, 2xx, not queued again
    const again = await post('/hooks/stripe', body, { 'stripe-signature': sign(now()) });
    expect(again.status).toBe(200);
    expect(again.json.status).toBe('duplicate');
    expect(count('stripe')).toBe(1);
  });
  it('refuses a bad signature and a stale (replayed) timestamp', async () => {
    expect((await post('/hooks/stripe', body, { 'stripe-signature': sign(now(), 'other-secret') })).status).toBe(401);
    const stale = await post('/hooks/stripe', JSON.stringify({ id: 'evt_2' }), { 'stripe-signature': sign(now() - 301, STRIPE_SECRET, JSON.stringify({ id: 'evt_2' })) });
    expect(stale.status).toBe(401);
    expect(stale.json.error).toMatch(/tolerance/);
    const future = await post('/hooks/stripe', JSON.stringify({ id: 'evt_3' }), { 'stripe-signature': sign(now() + 400, STRIPE_SECRET, JSON.stringify({ id: 'evt_3' })) });
    expect(future.status).toBe(401);
    expect((await post('/hooks/stripe', body, { 'stripe-signature': 'v1=abc' })).json.error).toMatch(/malformed/);
    expect(count('stripe')).toBe(1);
  });
});

describe('Standard Webhooks', () => {
  const sign = (id: string, t: number, b: string, keys: Buffer[]) => ({
    'webhook-id': id,
    'webhook-timestamp': String(t),
    'webhook-signature': keys.map((k) => `v1,${b64(k, `${id}.${t}.${b}`)}`).join(' '),
  });
  it('accepts several signatures (key rotation) and either configured secret', async () => {
    const b1 = JSON.stringify({ type: 'order.created', n: 1 });
    expect((await post('/hooks/sw', b1, sign('msg_1', now(), b1, [crypto.randomBytes(32), SW_KEY]))).status).toBe(202);
    const b2 = JSON.stringify({ type: 'order.created', n: 2 });
    expect((await post('/hooks/sw', b2, sign('msg_2', now(), b2, [SW_OLD_KEY]))).status).toBe(202);
    expect(count('sw')).toBe(2);
  });
  it('refuses a bad signature, a stale timestamp and answers a replay 2xx without queueing', async () => {
    const b = JSON.stringify({ n: 3 });
    expect((await post('/hooks/sw', b, sign('msg_3', now(), b, [crypto.randomBytes(32)]))).status).toBe(401);
    const stale = await post('/hooks/sw', b, sign('msg_3', now() - 600, b, [SW_KEY]));
    expect(stale.status).toBe(401);
    expect(stale.json.error).toMatch(/stale/);
    const b1 = JSON.stringify({ type: 'order.created', n: 1 });
    const replay = await post('/hooks/sw', b1, sign('msg_1', now(), b1, [SW_KEY]));
    expect(replay.status).toBe(200);
    expect(replay.json.status).toBe('duplicate');
    expect(count('sw')).toBe(2);
  });
});

describe('bearer token, limits and format', () => {
  it('accepts the token, refuses a wrong or missing one without echoing it', async () => {
    expect((await post('/hooks/bearer', '{"a":1}', { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'b-1' })).status).toBe(202);
    const wrong = await post('/hooks/bearer', '{"a":1}', { authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.text).not.toContain(TOKEN);
    expect((await post('/hooks/bearer', '{"a":1}')).status).toBe(401);
    const replay = await post('/hooks/bearer', '{"a":1}', { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'b-1' });
    expect(replay.json.status).toBe('duplicate');
    expect(count('bearer')).toBe(1);
  });
  it('answers 413 over maxBodyBytes and 400 on bad JSON only when the flow expects JSON', async () => {
    const big = await post('/hooks/bearer', JSON.stringify({ pad: 'x'.repeat(2000) }), { authorization: `Bearer ${TOKEN}` });
    expect(big.status).toBe(413);
    const bad = await post('/hooks/bearer', '{"a":', { authorization: `Bearer ${TOKEN}` });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/not valid JSON/);
    const raw = await post('/hooks/raw', 'name;amount\nx;1\n', { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/csv' });
    expect(raw.status).toBe(202);
    expect(count('bearer')).toBe(1);
    expect(count('raw')).toBe(1);
  });
  it('routes by flow: unknown flows get 404, GET gets 405', async () => {
    expect((await post('/hooks/nope', '{}')).status).toBe(404);
    const res = await request(`http://127.0.0.1:${port}/hooks/gh`);
    expect(res.statusCode).toBe(405);
    await res.body.dump();
  });
  it('delivers what it queued', async () => {
    await waitFor(() => run.engine.queue.count({ flow: 'gh', state: 'delivered' }) === 1 && run.engine.queue.count({ flow: 'sw', state: 'delivered' }) === 2, 'deliveries');
  });
});

describe('webhook-relay mode', () => {
  it('polls the relay, verifies each event, queues with the cursor and refuses forged ones', async () => {
    const b1 = JSON.stringify({ n: 'r1' });
    const t = now();
    relayEvents.push({ id: 'r1', headers: { 'webhook-id': 'r1', 'webhook-timestamp': String(t), 'webhook-signature': `v1,${b64(SW_KEY, `r1.${t}.${b1}`)}` }, body: b1 });
    relayEvents.push({ id: 'r2', headers: { 'webhook-id': 'r2', 'webhook-timestamp': String(t), 'webhook-signature': `v1,${b64(crypto.randomBytes(32), `r2.${t}.${b1}`)}` }, body: b1 });
    await waitFor(() => run.engine.queue.count({ flow: 'relayed' }) === 1 && relayCursorsSeen.includes('2'), 'relayed event queued and cursor advanced');
    const item = run.engine.queue.list({ flow: 'relayed' })[0];
    expect(JSON.parse(item.attrs).webhookId).toBe('r1');
    const status = run.engine.status().flows.find((f) => f.flow === 'relayed')!;
    expect(status.lastError ?? run.engine.flow('relayed').facts.lastError).toMatch(/r2 refused: verification failed/);
  });
});

describe('TLS and listener sharing', () => {
  it('serves HTTPS with a cert/key pair and refuses a second TLS setting on the same port', async () => {
    const { spawnSync } = await import('node:child_process');
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { tempDir } = await import('../helpers/tmp.ts');
    const dir = tempDir('ferry-tls-');
    const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    expect(r.status).toBe(0);
    const tlsPort = await freePort();
    const tls = { cert: './cert.pem', key: './key.pem' };
    const e = await startEngine(
      {
        integrations: [
          {
            name: 'secure',
            flows: [
              { name: 'tls-hook', source: { type: 'webhook', port: tlsPort, tls, verify: { scheme: 'bearer', secret: TOKEN } }, destination: { type: 'folder', path: './out' } },
              { name: 'plain-hook', source: { type: 'webhook', port: tlsPort, verify: { scheme: 'bearer', secret: TOKEN } }, destination: { type: 'folder', path: './out2' } },
            ],
          },
        ],
      },
      dir,
    );
    try {
      const { Agent } = await import('undici');
      const agent = new Agent({ connect: { ca: fs.readFileSync(path.join(dir, 'cert.pem')), rejectUnauthorized: false } });
      const res = await request(`https://127.0.0.1:${tlsPort}/hooks/tls-hook`, { method: 'POST', body: '{"x":1}', headers: { authorization: `Bearer ${TOKEN}` }, dispatcher: agent });
      expect(res.statusCode).toBe(202);
      await res.body.dump();
      await agent.close();
      // the second flow asked for the same port without TLS: it could not start, and says why
      expect(e.engine.flow('plain-hook').facts.lastError).toMatch(/already served with a different TLS certificate|without TLS/);
    } finally {
      await e.stop();
    }
  });
});
