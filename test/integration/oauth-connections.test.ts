// OAuth connections against a real authorization server (oidc-provider, refresh-token rotation on): consent
// through the admin API and the provider's own pages, deliveries with its tokens, one refresh per token
// lifetime for flows sharing a connection, a withdrawn consent holding deliveries until a reconnect, clear
// reasons for every bad consent answer, revocation on disconnect, and the rotated refresh token of an inline
// `grant: refresh_token` surviving a restart.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { request, startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { connectionFor, consentOverHttp, refreshTokenByHand, startAuthServer, startProtectedApi, type AuthServer, type ProtectedApi } from '../helpers/oauth-provider.ts';
import { startEngine } from '../helpers/engine.ts';
import { proxyAvailable, startTinyproxy, TINYPROXY } from '../helpers/proxies.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

let closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  closers = [];
});

async function servers(opts: Parameters<typeof startAuthServer>[0] = {}): Promise<{ auth: AuthServer; api: ProtectedApi }> {
  const auth = await startAuthServer(opts);
  const api = await startProtectedApi(auth);
  closers.push(() => auth.close(), () => api.close());
  return { auth, api };
}

const crmConnection = (auth: AuthServer, extra: Record<string, unknown> = {}) => connectionFor(auth, { clientSecret: '${secret:CRM_CLIENT_SECRET}', ...extra });

function flow(name: string, api: ProtectedApi, auth: Record<string, unknown> = { type: 'oauth2', connection: 'crm' }) {
  return {
    name,
    source: { type: 'folder', path: `./${name}`, settleMs: 0, afterDelivery: { action: 'delete' } },
    destination: { type: 'http', url: `${api.url}/${name}`, auth, concurrency: 2 },
    retry: { initialDelayMs: 50, maxDelayMs: 200, maxAttempts: 3 },
    circuitBreaker: { failureThreshold: 1000, cooldownMs: 100 },
  };
}

async function admin(auth: AuthServer, flows: unknown[], connection: Record<string, unknown> = {}): Promise<AdminHarness> {
  const h = await startAdmin(
    { connections: { crm: crmConnection(auth, connection) }, integrations: [{ name: 'crm', flows }] },
    { secrets: { CRM_CLIENT_SECRET: auth.client.secret }, logFile: true, dirs: (flows as Array<{ name: string }>).map((f) => f.name) },
  );
  closers.push(() => h.stop());
  return h;
}

/** Connect as an admin does: the API starts the consent, the provider's pages are answered, the browser lands on the callback. */
async function connect(h: AdminHarness, name = 'crm', opts: { deny?: boolean } = {}): Promise<{ status: number; text: string; redirect: string }> {
  const start = await h.api('POST', `/api/connections/${name}/connect`);
  expect(start.status).toBe(200);
  expect(start.json.redirectUri).toBe(`http://127.0.0.1:${h.port}/oauth/callback`);
  const redirect = await consentOverHttp(start.json.authorizeUrl, opts);
  const u = new URL(redirect);
  const page = await request(h.port, 'GET', `${u.pathname}${u.search}`);
  return { status: page.status, text: page.text, redirect };
}

function drop(h: AdminHarness, flowName: string, names: string[]): void {
  for (const n of names) fs.writeFileSync(path.join(h.dir, flowName, n), JSON.stringify({ n }));
}

const connection = async (h: AdminHarness, name = 'crm') => (await h.api('GET', `/api/connections/${name}`)).json;

describe('OAuth connections: consent, deliveries, shared refresh', () => {
  it('starts as "consent needed" with deliveries waiting; Connect (PKCE, state) connects it, deliveries use its token, reconnecting replaces the tokens without restarting the flow, disconnecting revokes them', async () => {
    const { auth, api } = await servers();
    const h = await admin(auth, [flow('orders', api)]);
    expect(await connection(h)).toMatchObject({ state: 'consent_needed', consentable: true, usedBy: ['orders'], reason: expect.stringMatching(/not connected yet.*ferry connect crm/) });

    drop(h, 'orders', ['a.json', 'b.json']);
    await waitFor(() => h.engine.status().flows[0].counts.queued === 2, 'two items queued');
    expect(h.engine.status().flows[0].waitingFor).toBe('connection crm needs consent');
    expect(h.engine.status().flows[0].counts.dead).toBe(0);
    expect(api.accepted).toHaveLength(0);

    const page = await connect(h);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Connected crm');
    // the consent request carried PKCE S256 and a state (the provider requires PKCE and checked the verifier)
    const asked = auth.authorizeRequests[0];
    expect(asked.get('code_challenge_method')).toBe('S256');
    expect(asked.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(asked.get('state')).toMatch(/^[\w-]{43}$/);
    expect(asked.get('redirect_uri')).toBe(`http://127.0.0.1:${h.port}/oauth/callback`);
    expect(auth.tokenRequests.find((r) => r.grant === 'authorization_code')!.status).toBe(200);
    await waitFor(() => api.accepted.length === 2, 'both items delivered with the token');
    expect(new Set(api.accepted.map((a) => a.token)).size).toBe(1);
    expect(auth.issued.has(api.accepted[0].token)).toBe(true);
    expect(await connection(h)).toMatchObject({ state: 'connected', reason: null, consent: { state: 'connected' } });
    expect(h.engine.status().flows[0].waitingFor).toBeNull();

    // reconnect: new tokens, the same flow runtime (not restarted), deliveries go on with the new token
    const runtime = h.engine.flow('orders');
    const firstToken = api.accepted[0].token;
    expect((await connect(h)).status).toBe(200);
    drop(h, 'orders', ['c.json']);
    await waitFor(() => api.accepted.length === 3, 'delivered after reconnecting');
    expect(api.accepted[2].token).not.toBe(firstToken);
    expect(h.engine.flow('orders')).toBe(runtime);
    expect(await auth.provider.AccessToken.find(firstToken)).toBeDefined(); // the old grant was not touched by Ferry

    // disconnect: revoked at the provider (the API refuses the token now), the flow waits again
    const lastToken = api.accepted[2].token;
    const off = await h.api('POST', '/api/connections/crm/disconnect');
    expect(off.json).toMatchObject({ revoked: true, message: expect.stringMatching(/revoked at 127\.0\.0\.1:\d+ and forgotten/) });
    expect(await auth.provider.AccessToken.find(lastToken)).toBeUndefined();
    expect(await connection(h)).toMatchObject({ state: 'consent_needed', reason: expect.stringMatching(/^disconnected .*connect again/) });
    drop(h, 'orders', ['d.json']);
    await waitFor(() => h.engine.status().flows[0].counts.queued === 1, 'queued while disconnected');
    expect(h.engine.connections.store.list()).toEqual([]);
  });

  it('two flows sharing a connection refresh once per token lifetime, never in a race that revokes each other', async () => {
    const { auth, api } = await servers({ accessTtlSec: 2 });
    const h = await admin(auth, [flow('orders', api), flow('invoices', api)]);
    expect((await connect(h)).status).toBe(200);
    const started = Date.now();
    // steady load on both flows for a little over three token lifetimes
    let n = 0;
    while (Date.now() - started < 7000) {
      drop(h, 'orders', [`o${n}.json`]);
      drop(h, 'invoices', [`i${n}.json`]);
      n++;
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor(() => api.accepted.length === 2 * n, `all ${2 * n} items delivered`, 30_000);
    const refreshes = auth.tokenRequests.filter((r) => r.grant === 'refresh_token');
    // one per token lifetime (2 s, used until 1.8 s) over the span of the deliveries; a refresh per flow would be
    // twice that, one per request hundreds
    const consentAt = auth.tokenRequests.find((r) => r.grant === 'authorization_code')!.at;
    const lifetimes = (Math.max(...api.accepted.map((a) => a.at)) - consentAt) / 1800;
    expect(refreshes.length).toBeGreaterThanOrEqual(Math.max(2, Math.floor(lifetimes) - 1));
    expect(refreshes.length).toBeLessThanOrEqual(Math.ceil(lifetimes) + 1);
    expect(refreshes.every((r) => r.status === 200)).toBe(true);
    expect(new Set(refreshes.map((r) => r.refreshToken)).size).toBe(refreshes.length); // each refresh token used once
    expect(auth.reuseDetected).toBe(0);
    expect(api.refused).toBe(0);
    // the refresh count (for metrics) is recorded within 2 s of a refresh
    await waitFor(async () => (await connection(h)).refreshes === refreshes.length, 'the refresh count recorded', 5000);
    expect((await connection(h)).state).toBe('connected');
  }, 60_000);

  it('a withdrawn consent: "consent needed" with the provider\'s reason, deliveries wait with nothing lost, and resume after reconnecting', async () => {
    const { auth, api } = await servers();
    const h = await admin(auth, [flow('orders', api), flow('invoices', api)]);
    await connect(h);
    drop(h, 'orders', ['a.json']);
    await waitFor(() => api.accepted.length === 1, 'first delivery');

    await auth.revokeConsents(); // the user removed the app's access at the provider
    drop(h, 'orders', ['b.json', 'c.json']);
    drop(h, 'invoices', ['x.json']);
    await waitFor(async () => (await connection(h)).state === 'consent_needed', 'consent needed');
    expect((await connection(h)).reason).toMatch(/refused the refresh token \(invalid_grant: .+\): give consent again/);
    await waitFor(() => h.engine.status().totals.queued === 3, 'three items waiting');
    const status = h.engine.status();
    expect(status.totals.dead).toBe(0);
    expect(status.flows.map((f) => f.waitingFor)).toEqual(['connection crm needs consent', 'connection crm needs consent']);
    // held items did not use their attempts
    expect(h.engine.queue.list({ flow: 'orders', state: 'queued' }).every((i) => i.attempts === 0)).toBe(true);

    expect((await connect(h)).status).toBe(200);
    await waitFor(() => api.accepted.length === 4, 'the waiting items delivered after reconnecting');
    // outcomes commit in groups, a moment after the API's answers
    await waitFor(() => h.engine.status().totals.delivered === 4, 'the deliveries recorded');
    expect(h.engine.status().totals).toMatchObject({ queued: 0, dead: 0, delivered: 4 });
  });
});

describe('OAuth connections: a token endpoint outage', () => {
  it('"refresh failing" with the provider\'s error while it is down: deliveries retry as for any outage; connected again once it answers', async () => {
    const { auth, api } = await servers({ accessTtlSec: 1 });
    const h = await admin(auth, [{ ...flow('orders', api), retry: { initialDelayMs: 200, maxDelayMs: 400, maxAttempts: 100 } }]);
    await connect(h);
    auth.tokenOutage = 503;
    const connectedAt = Date.now();
    await waitFor(() => Date.now() - connectedAt > 1100, 'the 1 s token to expire', 5000);
    drop(h, 'orders', ['a.json']);
    await waitFor(async () => (await connection(h)).state === 'refresh_failing', 'refresh failing');
    expect((await connection(h)).reason).toMatch(/^OAuth token request to 127\.0\.0\.1:\d+\/token answered HTTP 503 \(temporarily_unavailable: the token service is down\)/);
    await waitFor(() => h.engine.status().flows[0].counts.retrying === 1, 'the item retrying (not held, not dead)');
    expect(h.engine.status().flows[0].waitingFor).toBeNull();
    auth.tokenOutage = undefined;
    await waitFor(() => api.accepted.length === 1, 'delivered once the token endpoint answers');
    expect((await connection(h)).state).toBe('connected');
  });
});

describe.skipIf(!proxyAvailable(TINYPROXY))('OAuth connections: token requests follow the network setting', () => {
  it('with network.proxy set (tinyproxy), the code exchange, every refresh and the revocation go through the proxy, though the flow reaches its API directly', async () => {
    const { auth, api } = await servers({ accessTtlSec: 1 });
    const tiny = await startTinyproxy();
    closers.push(() => tiny.stop());
    // the servers are on 127.0.0.1, which goes direct unless the rules say "<-loopback>"; the flow's own
    // proxy: none sends its API calls direct, so only the connection's requests can use the proxy
    const h = await startAdmin(
      {
        network: { proxy: { url: tiny.url, noProxy: ['<-loopback>'] } },
        connections: { crm: crmConnection(auth) },
        integrations: [{ name: 'crm', flows: [{ ...flow('orders', api), destination: { ...flow('orders', api).destination, proxy: 'none' } }] }],
      },
      { secrets: { CRM_CLIENT_SECRET: auth.client.secret }, dirs: ['orders'] },
    );
    closers.push(() => h.stop());
    const tunnelsTo = (url: string) => (tiny.log().match(new RegExp(`CONNECT 127\\.0\\.0\\.1:${new URL(url).port} `, 'g')) ?? []).length;

    expect((await connect(h)).status).toBe(200);
    expect(tunnelsTo(auth.tokenUrl)).toBe(1); // the code exchange (the browser's consent pages are not Ferry's)
    drop(h, 'orders', ['a.json']);
    await waitFor(() => api.accepted.length === 1, 'delivered with the token');
    const consentAt = Date.now();
    await waitFor(() => Date.now() - consentAt > 1100, 'the 1 s token to expire', 5000);
    drop(h, 'orders', ['b.json']);
    await waitFor(() => api.accepted.length === 2, 'delivered after a refresh');
    const refreshes = auth.tokenRequests.filter((r) => r.grant === 'refresh_token');
    expect(refreshes.length).toBeGreaterThanOrEqual(1);
    expect(refreshes.every((r) => r.status === 200)).toBe(true);
    expect(tunnelsTo(auth.tokenUrl)).toBeGreaterThanOrEqual(1);
    expect(tunnelsTo(api.url)).toBe(0);

    // the proxy goes away: the next refresh fails naming it (it did not go direct), the item waits for a retry
    await tiny.stop();
    const refreshesBefore = auth.tokenRequests.length;
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt > 1100, 'the refreshed token to expire', 5000);
    drop(h, 'orders', ['c.json']);
    await waitFor(async () => (await connection(h)).state === 'refresh_failing', 'refresh failing');
    expect((await connection(h)).reason).toContain(`proxy ${tiny.url} unreachable (connection refused)`);
    expect(auth.tokenRequests.length).toBe(refreshesBefore);
    expect(h.engine.status().flows[0].counts.dead).toBe(0);

    // the revocation goes the same way: it fails naming the proxy, and the tokens are forgotten all the same
    const off = await h.api('POST', '/api/connections/crm/disconnect');
    expect(off.json).toMatchObject({ revoked: false, message: expect.stringContaining(`proxy ${tiny.url} unreachable (connection refused)`) });
    expect(h.engine.connections.store.list()).toEqual([]);
  });
});

describe('OAuth consent: bad answers get one clear line', () => {
  it('denied consent, state mismatch, wrong redirect, a code used twice, a missing refresh token, a pasted code and URL', async () => {
    const { auth, api } = await servers({ codeTtlSec: 1 });
    const h = await admin(auth, [flow('orders', api)]);

    const denied = await connect(h, 'crm', { deny: true });
    expect(denied.status).toBe(400);
    expect(denied.text).toMatch(/Consent was denied at 127\.0\.0\.1:\d+ \(access_denied: End-User aborted interaction\)/);
    expect((await connection(h)).consent).toMatchObject({ state: 'failed', reason: expect.stringMatching(/consent was denied/) });

    // a forged or stale answer: unknown state
    const forged = await request(h.port, 'GET', '/oauth/callback?code=abc&state=not-ours');
    expect(forged.status).toBe(400);
    expect(forged.text).toMatch(/State mismatch: this answer does not belong to a consent Ferry started here/);

    // pasted: the redirect went elsewhere (another port)
    const start = await h.api('POST', '/api/connections/crm/connect');
    const redirect = new URL(await consentOverHttp(start.json.authorizeUrl));
    const elsewhere = `http://127.0.0.1:1${redirect.pathname}${redirect.search}`;
    const wrong = await h.api('POST', '/api/connections/crm/callback', { input: elsewhere });
    expect(wrong.status).toBe(400);
    expect(wrong.json.error).toBe(`wrong redirect: the consent must come back to http://127.0.0.1:${h.port}/oauth/callback, this answer went to http://127.0.0.1:1/oauth/callback`);

    // the right address pasted: connected; the same answer again is a replay
    const pasted = await h.api('POST', '/api/connections/crm/callback', { input: redirect.toString() });
    expect(pasted.status).toBe(200);
    expect(pasted.json.message).toMatch(/^connection crm connected \(scopes: .*offline_access.*\); flows using it: orders$/);
    const replay = await h.api('POST', '/api/connections/crm/callback', { input: redirect.toString() });
    expect(replay.json.error).toMatch(/^state mismatch/);

    // an expired code (codes live 1 s here): refused by the provider, said so
    const again = await h.api('POST', '/api/connections/crm/connect');
    const late = await consentOverHttp(again.json.authorizeUrl);
    const issuedAt = Date.now();
    await waitFor(() => Date.now() - issuedAt > 1500, 'the code to expire', 5000);
    const expired = await h.api('POST', '/api/connections/crm/callback', { input: late });
    expect(expired.status).toBe(400);
    expect(expired.json.error).toMatch(/^the authorization code was refused: it expired or was already used \(invalid_grant: .+\); codes live about a minute: connect again \(Connect, or ferry connect\)$/);
    // the failed attempts left the connection as it was
    expect((await connection(h)).state).toBe('connected');

    // a bare code pasted belongs to the latest consent of the connection
    const third = await h.api('POST', '/api/connections/crm/connect');
    const code = new URL(await consentOverHttp(third.json.authorizeUrl)).searchParams.get('code')!;
    const byCode = await h.api('POST', '/api/connections/crm/callback', { input: code });
    expect(byCode.status).toBe(200);

    // nothing pasted, and an unknown connection
    expect((await h.api('POST', '/api/connections/crm/callback', { input: '' })).json.error).toMatch(/input: expected the address the browser ended on/);
    expect((await h.api('POST', '/api/connections/nope/connect')).json.error).toBe('no connection named "nope" (connections: crm)');
  }, 60_000);

  it('a consent without offline_access brings no refresh token: refused with the scope to add', async () => {
    const { auth, api } = await servers();
    const h = await admin(auth, [flow('orders', api)], { scopes: ['openid', 'crm.write'] });
    const page = await connect(h);
    expect(page.status).toBe(400);
    expect(page.text).toMatch(/127\.0\.0\.1:\d+ gave no refresh token, so Ferry could not renew access after 60 min: ask for the scope the provider gives refresh tokens for \(often offline_access/);
    expect((await connection(h)).state).toBe('consent_needed');
  });
});

describe('OAuth: every HTTP connector takes a connection', () => {
  it('http-poll, http-steps and webhook destinations authenticate with the shared connection', async () => {
    const { auth, api } = await servers();
    const h = await admin(auth, [
      { name: 'poll', source: { type: 'http-poll', url: `${api.url}/records`, auth: { type: 'oauth2', connection: 'crm' } }, trigger: { schedule: '0 0 1 1 *', catchUp: false }, destination: { type: 'folder', path: './poll-out' } },
      { name: 'steps', source: { type: 'folder', path: './steps', settleMs: 0 }, destination: { type: 'http-steps', auth: { type: 'oauth2', connection: 'crm' }, steps: [{ name: 'create', url: `${api.url}/create` }, { name: 'attach', url: `${api.url}/attach` }] } },
      { name: 'hook', source: { type: 'folder', path: './hook', settleMs: 0 }, destination: { type: 'webhook', url: `${api.url}/hook`, secret: 'a-signing-secret-of-24-bytes-or-more', auth: { type: 'oauth2', connection: 'crm' } } },
    ]);
    expect((await connection(h)).usedBy.sort()).toEqual(['hook', 'poll', 'steps']);
    await connect(h);
    fs.writeFileSync(path.join(h.dir, 'steps', 's.json'), '{"a":1}');
    fs.writeFileSync(path.join(h.dir, 'hook', 'h.json'), '{"b":2}');
    await h.engine.flow('poll').runScan('test');
    await waitFor(() => api.accepted.filter((a) => a.path !== '/records').length === 3, 'create, attach and hook delivered');
    expect(api.accepted.map((a) => a.path).sort()).toEqual(['/attach', '/create', '/hook', '/records']);
    expect(new Set(api.accepted.map((a) => a.token)).size).toBe(1);
    expect(api.refused).toBe(0);
  });
});

describe('OAuth: inline settings keep their tokens durable', () => {
  it('grant refresh_token with rotation: the rotated refresh token survives a restart (it used to send the revoked one again)', async () => {
    const { auth, api } = await servers({ accessTtlSec: 1 });
    // the manual token dance an admin does outside Ferry: a consent, a code exchange, a refresh token to paste
    const pasted = await refreshTokenByHand(auth);

    const dir = tempDir('ferry-inline-');
    fs.mkdirSync(path.join(dir, 'orders'));
    const cfg = {
      admin: { port: 0 },
      integrations: [{ name: 'crm', flows: [flow('orders', api, { type: 'oauth2', grant: 'refresh_token', tokenUrl: auth.tokenUrl, clientId: auth.client.id, clientSecret: auth.client.secret, refreshToken: pasted })] }],
    };
    let e = await startEngine(cfg, dir);
    fs.writeFileSync(path.join(dir, 'orders', 'a.json'), '{}');
    await waitFor(() => api.accepted.length === 1, 'delivered before the restart');
    await e.stop();
    const before = auth.tokenRequests.filter((r) => r.grant === 'refresh_token').length;
    expect(before).toBe(1);

    // the access token expires while Ferry is stopped; after the restart it refreshes with the rotated token
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt > 1100, 'the access token to expire', 5000);
    e = await startEngine(cfg, dir);
    closers.push(() => e.stop());
    fs.writeFileSync(path.join(dir, 'orders', 'b.json'), '{}');
    await waitFor(() => api.accepted.length === 2, 'delivered after the restart');
    const refreshes = auth.tokenRequests.filter((r) => r.grant === 'refresh_token');
    expect(refreshes).toHaveLength(2);
    expect(refreshes[1].status).toBe(200);
    expect(refreshes[1].refreshToken).not.toBe(pasted);
    expect(auth.reuseDetected).toBe(0);
    expect(e.engine.status().connections).toMatchObject([{ name: 'orders (inline)', inline: true, state: 'connected' }]);
    const kept = e.engine.connections.store.list();
    expect(kept).toHaveLength(1);

    // the admin pastes a new refresh token: a fresh start with it; the old tokens are removed at the start
    await e.stop();
    const pastedAgain = { ...cfg, integrations: [{ name: 'crm', flows: [flow('orders', api, { type: 'oauth2', grant: 'refresh_token', tokenUrl: auth.tokenUrl, clientId: auth.client.id, clientSecret: auth.client.secret, refreshToken: 'a-newly-pasted-refresh-token' })] }] };
    e = await startEngine(pastedAgain, dir);
    expect(e.engine.connections.store.list()).not.toContain(kept[0]);
  }, 60_000);

  it('client credentials: the token is kept encrypted and reused after a restart', async () => {
    const { auth, api } = await servers();
    const dir = tempDir('ferry-cc-');
    fs.mkdirSync(path.join(dir, 'orders'));
    const cfg = {
      admin: { port: 0 },
      connections: { svc: { type: 'oauth2', grant: 'client_credentials', tokenUrl: auth.tokenUrl, clientId: auth.service.id, clientSecret: auth.service.secret } },
      integrations: [{ name: 'crm', flows: [flow('orders', api, { type: 'oauth2', connection: 'svc' })] }],
    };
    let e = await startEngine(cfg, dir);
    fs.writeFileSync(path.join(dir, 'orders', 'a.json'), '{}');
    await waitFor(() => api.accepted.length === 1, 'delivered');
    await e.stop();
    e = await startEngine(cfg, dir);
    closers.push(() => e.stop());
    fs.writeFileSync(path.join(dir, 'orders', 'b.json'), '{}');
    await waitFor(() => api.accepted.length === 2, 'delivered after the restart');
    expect(auth.tokenRequests.filter((r) => r.grant === 'client_credentials')).toHaveLength(1);
    expect(e.engine.connections.store.list()).toEqual(['svc']);
    for (const f of fs.readdirSync(path.join(dir, 'data')).filter((f) => f.startsWith('ferry.db'))) expect(fs.readFileSync(path.join(dir, 'data', f)).includes(api.accepted[0].token)).toBe(false);
  });
});

describe('OAuth: providers with their own ways', () => {
  it('a token without expires_in and without refresh token (it lives until revoked) is accepted and used until an API refuses it', async () => {
    // a provider of that kind (Shopify's offline tokens): answers the code exchange with a bare access token
    const exchanges: URLSearchParams[] = [];
    const provider = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        exchanges.push(new URLSearchParams(body));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'shpat_longlived_0123456789', scope: 'write_orders' }));
      });
    });
    await new Promise<void>((r) => provider.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => provider.close(r)));
    const base = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    const seen: string[] = [];
    const shop = http.createServer((req, res) => {
      seen.push(String(req.headers.authorization));
      req.resume();
      req.on('end', () => res.writeHead(200).end('{}'));
    });
    await new Promise<void>((r) => shop.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => { shop.closeAllConnections(); shop.close(r); }));
    const h = await startAdmin(
      {
        connections: { shop: { type: 'oauth2', authorizeUrl: `${base}/admin/oauth/authorize`, tokenUrl: `${base}/admin/oauth/access_token`, clientId: 'app', clientSecret: 'app-secret-value', clientAuth: 'body', scopes: 'write_orders' } },
        integrations: [{ name: 'shop', flows: [{ name: 'orders', source: { type: 'folder', path: './orders', settleMs: 0 }, destination: { type: 'http', url: `http://127.0.0.1:${(shop.address() as AddressInfo).port}/orders`, auth: { type: 'oauth2', connection: 'shop' } } }] }],
      },
      { dirs: ['orders'] },
    );
    closers.push(() => h.stop());
    const start = await h.api('POST', '/api/connections/shop/connect');
    const state = new URL(start.json.authorizeUrl).searchParams.get('state');
    // the provider's consent page sends the browser back with a code
    const page = await request(h.port, 'GET', `/oauth/callback?code=granted-code&state=${state}`);
    expect(page.text).toContain('Connected shop');
    expect(Object.fromEntries(exchanges[0])).toMatchObject({ grant_type: 'authorization_code', code: 'granted-code', client_id: 'app', client_secret: 'app-secret-value', redirect_uri: `http://127.0.0.1:${h.port}/oauth/callback` });
    expect(exchanges[0].get('code_verifier')).toMatch(/^[\w-]{43}$/);
    fs.writeFileSync(path.join(h.dir, 'orders', 'o.json'), '{}');
    await waitFor(() => seen.length === 1, 'delivered');
    expect(seen[0]).toBe('Bearer shpat_longlived_0123456789');
    expect((await connection(h, 'shop')).state).toBe('connected');
  });
});
