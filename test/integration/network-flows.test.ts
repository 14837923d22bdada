// Every outbound HTTP(S) path of a running engine honours the network setting, against real proxies on
// 127.0.0.1: the http, webhook and http-steps destinations, a sync flow's destination, http-poll and OAuth
// token requests go through Squid (Basic auth; its access log shows each tunnel); a wrong password, a
// TLS-inspecting proxy (mitmproxy) whose root is not trusted and a server wanting a client certificate
// make items retry and go dead with the reason that names the cause.
import fs from 'node:fs';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../main/engine/engine.ts';
import { startApi, type FakeApi } from '../helpers/api.ts';
import { issue, makeCa, startSignedSink, type CertFiles } from '../helpers/certs.ts';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { freePort } from '../helpers/net.ts';
import { MITMDUMP, proxyAvailable, SQUID, startInspectingProxy, startSquid, type RunningProxy } from '../helpers/proxies.ts';
import { startHttpsSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const AUTH = { user: 'ferry', password: 'proxy-pass-1' };
const PASSWORD_VAR = 'FERRY_TEST_PROXY_PASSWORD';
/** The servers are on 127.0.0.1, which goes direct unless the rules say "<-loopback>" (as in browsers). */
const THROUGH = '<-loopback>';
const FAST_RETRY = { maxAttempts: 3, initialDelayMs: 50, maxDelayMs: 200 };
const NEVER = { schedule: '0 0 1 1 *', catchUp: false };

let sinkCa: CertFiles;
let sink: Sink;
let running: RunningEngine | undefined;

beforeAll(async () => {
  process.env[PASSWORD_VAR] = AUTH.password;
  ({ ca: sinkCa, sink } = await startSignedSink());
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
afterAll(async () => {
  delete process.env[PASSWORD_VAR];
  await sink.close();
});

/** One folder → destination flow (or the given flows) in a fresh engine with this network setting. */
async function engineWith(network: unknown, flows: Array<Record<string, unknown>>): Promise<{ engine: Engine; dir: string }> {
  const dir = tempDir('ferry-net-');
  fs.mkdirSync(path.join(dir, 'out'));
  running = await startEngine({
    minFreeDiskMb: 0,
    network,
    integrations: [{ name: 'net', flows: flows.map((f) => ({ retry: FAST_RETRY, circuitBreaker: { failureThreshold: 100, cooldownMs: 100 }, ...f })) }],
  }, dir);
  return { engine: running.engine, dir };
}

const folder = { type: 'folder', path: './out', settleMs: 50, afterDelivery: { action: 'delete' } };

function drop(dir: string, n: number, prefix: string, body = (i: number) => JSON.stringify({ n: i })): string[] {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}.json`);
  names.forEach((name, i) => fs.writeFileSync(path.join(dir, 'out', name), body(i)));
  return names;
}

/** Items of the engine in this state, across flows. */
const count = (engine: Engine, state: string) => engine.queue.counts().filter((c) => c.state === state).reduce((n, c) => n + c.n, 0);

const receivedNames = (s: Sink, prefix: string) => s.received.filter((r) => decodeURIComponent(String(r.headers['x-ferry-filename'] ?? '')).startsWith(prefix));

describe.skipIf(!proxyAvailable(SQUID))('through Squid with Basic auth', () => {
  let squid: RunningProxy;
  const viaSquid = () => ({ proxy: { url: squid.url, username: AUTH.user, password: `\${env:${PASSWORD_VAR}}`, noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } });
  const tunnelsTo = (port: number) => squid.log().split('\n').filter((l) => l.includes(`TCP_TUNNEL/200`) && l.includes(`CONNECT 127.0.0.1:${port} ${AUTH.user}`)).length;

  beforeAll(async () => {
    squid = await startSquid({ auth: AUTH });
  });

  it('http destination: deliveries pass through the proxy, over a few reused tunnels, and check names the path', async () => {
    const { engine, dir } = await engineWith(viaSquid(), [{ name: 'up', source: folder, destination: { type: 'http', url: `${sink.url}/in`, concurrency: 2, timeoutMs: 10_000 } }]);
    const before = sink.connections;
    drop(dir, 40, 'via-proxy');
    await waitFor(() => receivedNames(sink, 'via-proxy').length === 40 && count(engine, 'delivered') === 40, '40 deliveries');
    const opened = sink.connections - before;
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(2);
    const check = await engine.flow('up').destination.check();
    expect(check).toEqual({ ok: true, message: `${sink.url} reachable (HTTP 200 to HEAD); via proxy ${squid.url} (network.proxy); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)` });
    await running!.stop();
    running = undefined;
    // Squid writes a tunnel to its access log when it closes: as many tunnels as connections the sink saw
    await waitFor(() => tunnelsTo(sink.port) >= opened, 'the tunnels in the proxy log');
  });

  it('a wrong proxy password: items retry with the 407 reason, then go dead with it', async () => {
    const { engine, dir } = await engineWith({ ...viaSquid(), proxy: { url: squid.url, username: AUTH.user, password: 'not-the-password', noProxy: [THROUGH] } }, [
      { name: 'up', source: folder, destination: { type: 'http', url: `${sink.url}/in`, timeoutMs: 10_000 } },
    ]);
    drop(dir, 1, 'wrong-pw');
    await waitFor(() => count(engine, 'dead') === 1, 'the item dead');
    const [item] = engine.queue.list({ state: 'dead' });
    expect(item.last_error).toBe(`gave up after 3 attempts: the proxy asks for credentials (407): ${squid.url} refused the username and password; check network.proxy.username and network.proxy.password`);
    expect(receivedNames(sink, 'wrong-pw')).toHaveLength(0);
  });

  it('noProxy sends a host direct: the proxy sees nothing of it', async () => {
    const { engine, dir } = await engineWith({ ...viaSquid(), proxy: { url: squid.url, noProxy: [THROUGH, `127.0.0.1:${sink.port}`] } }, [
      { name: 'up', source: folder, destination: { type: 'http', url: `${sink.url}/in`, timeoutMs: 10_000 } },
    ]);
    const tunnels = squid.tunnels();
    drop(dir, 3, 'bypass');
    await waitFor(() => count(engine, 'delivered') === 3, '3 deliveries');
    expect((await engine.flow('up').destination.check()).message).toMatch(new RegExp(`; direct \\(network\\.proxy\\.noProxy 127\\.0\\.0\\.1:${sink.port}\\); TLS by`));
    await running!.stop();
    running = undefined;
    expect(squid.tunnels()).toBe(tunnels);
  });

  it('webhook destination: signed events go through the proxy', async () => {
    const { engine, dir } = await engineWith(viaSquid(), [
      { name: 'hooks', source: folder, destination: { type: 'webhook', url: `${sink.url}/hooks`, secret: 'whsec-0123456789abcdef012345', timeoutMs: 10_000 } },
    ]);
    drop(dir, 2, 'event');
    await waitFor(() => count(engine, 'delivered') === 2, 'two events delivered');
    expect(sink.received.filter((r) => r.url === '/hooks' && r.headers['webhook-signature'])).toHaveLength(2);
    expect((await engine.flow('hooks').destination.check()).message).toContain(`via proxy ${squid.url} (network.proxy)`);
  });

  it('http-steps and a sync flow\'s destination go through the proxy', async () => {
    const port = await freePort();
    const { engine, dir } = await engineWith(viaSquid(), [
      { name: 'steps', source: folder, destination: { type: 'http-steps', steps: [{ name: 'charge', url: `${sink.url}/charge` }, { name: 'ship', url: `${sink.url}/ship` }], timeoutMs: 10_000 } },
      { name: 'quote', source: { type: 'sync', port, timeoutMs: 10_000 }, destination: { type: 'http', url: `${sink.url}/quote`, timeoutMs: 10_000 } },
    ]);
    drop(dir, 1, 'order');
    await waitFor(() => engine.queue.list({ flow: 'steps', state: 'delivered' }).length === 1, 'both steps done');
    const res = await request(`http://127.0.0.1:${port}/sync/quote`, { method: 'POST', body: '{"q":1}', headers: { 'content-type': 'application/json' } });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('ok');
    expect(sink.received.map((r) => r.url)).toEqual(expect.arrayContaining(['/charge', '/ship', '/quote']));
    expect((await engine.flow('steps').destination.check()).message).toContain(`via proxy ${squid.url}`);
  });

  describe('against an HTTP API behind the proxy', () => {
    let api: FakeApi;
    beforeAll(async () => {
      api = await startApi();
    });
    afterAll(async () => {
      await api.close();
    });

    it('http-poll pages come through the proxy', async () => {
      const { engine } = await engineWith(viaSquid(), [{
        name: 'orders', trigger: NEVER,
        source: { type: 'http-poll', url: `${api.url}/page/orders`, recordPath: 'data', key: 'id', pagination: { type: 'page', sizeParam: 'per_page', size: 10 } },
        destination: { type: 'http', url: `${sink.url}/orders`, timeoutMs: 10_000 },
      }]);
      await engine.flow('orders').runScan('test');
      await waitFor(() => engine.queue.list({ flow: 'orders', state: 'delivered', limit: 100 }).length === 25, '25 records delivered');
      expect((await engine.flow('orders').source.check()).message).toMatch(new RegExp(`records on the first page; via proxy ${squid.url} \\(network\\.proxy\\)$`));
      await running!.stop();
      running = undefined;
      await waitFor(() => tunnelsTo(Number(new URL(api.url).port)) >= 1, 'a tunnel to the API in the proxy log');
    });

    it('OAuth token requests go through the proxy too', async () => {
      api.oauth.required = false;
      const tokenServer = await startApi();
      tokenServer.oauth.required = true;
      try {
        const { engine, dir } = await engineWith(viaSquid(), [{
          name: 'up', source: folder,
          destination: { type: 'http', url: `${sink.url}/secured`, timeoutMs: 10_000, auth: { type: 'oauth2', tokenUrl: `${tokenServer.url}/token`, clientId: tokenServer.oauth.clientId, clientSecret: tokenServer.oauth.clientSecret } },
        }]);
        drop(dir, 2, 'with-token');
        await waitFor(() => count(engine, 'delivered') === 2, 'delivered with a token');
        expect(tokenServer.oauth.issued).toHaveLength(1);
        expect(sink.received.filter((r) => r.url === '/secured').map((r) => r.headers.authorization)).toEqual([`Bearer ${tokenServer.oauth.issued[0]}`, `Bearer ${tokenServer.oauth.issued[0]}`]);
        await running!.stop();
        running = undefined;
        await waitFor(() => tunnelsTo(Number(new URL(tokenServer.url).port)) === 1, 'the token request\'s tunnel in the proxy log');
      } finally {
        await tokenServer.close();
      }
    });
  });
});

describe.skipIf(!proxyAvailable(MITMDUMP))('behind a TLS-inspecting proxy', () => {
  let mitmCa: CertFiles;
  let mitm: RunningProxy;
  beforeAll(async () => {
    ({ ca: mitmCa, proxy: mitm } = await startInspectingProxy(sinkCa.cert));
  }, 90_000);

  it('without its root the item retries, then goes dead naming the inspecting CA; with network.tls.ca it is delivered', async () => {
    const flows = [{ name: 'up', source: folder, destination: { type: 'http', url: `${sink.url}/inspected`, timeoutMs: 10_000 } }];
    const first = await engineWith({ proxy: { url: mitm.url, noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } }, flows);
    drop(first.dir, 1, 'inspected');
    await waitFor(() => count(first.engine, 'dead') === 1, 'the item dead');
    const reason = "certificate of 127.0.0.1 is signed by 'Corp Inspection CA', which is not trusted: a TLS-inspecting proxy? Add its root with network.tls.ca or install it in the system store";
    const [dead] = first.engine.queue.list({ state: 'dead' });
    expect(dead.last_error).toBe(`gave up after 3 attempts: ${reason}`);
    // it retried (maxAttempts 3) with the same reason before it went dead
    const retries = first.engine.queue.events(0, 100).filter((e) => e.type === 'retrying');
    expect(retries.map((e) => JSON.parse(e.data!).detail)).toEqual([reason, reason]);
    expect(receivedNames(sink, 'inspected')).toHaveLength(0);
    await running!.stop();
    running = undefined;

    const second = await engineWith({ proxy: { url: mitm.url, noProxy: [THROUGH] }, tls: { ca: [mitmCa.cert] } }, flows);
    drop(second.dir, 1, 'inspected-ok');
    await waitFor(() => count(second.engine, 'delivered') === 1, 'delivered through the inspecting proxy');
    expect(receivedNames(sink, 'inspected-ok')).toHaveLength(1);
    expect((await second.engine.flow('up').destination.check()).message).toContain(`via proxy ${mitm.url} (network.proxy); TLS by 'Corp Inspection CA' (trusted: network.tls.ca)`);
  });
});

describe('mutual TLS', () => {
  it('an API that requires a client certificate accepts Ferry with tls.cert/key, and refuses it without, with the reason', async () => {
    const clientCa = makeCa('Partner Client CA');
    const client = issue(clientCa, 'ferry-agent', { client: true, passphrase: 'client-key-pw' });
    const cert = issue(sinkCa, '127.0.0.1');
    const mtls = await startHttpsSink({ cert: cert.certPem, key: cert.keyPem, requestCert: true, rejectUnauthorized: true, ca: [clientCa.certPem] });
    try {
      const { engine, dir } = await engineWith({ tls: { ca: [sinkCa.cert] } }, [
        { name: 'without', source: { ...folder, include: ['no-cert-*'] }, destination: { type: 'http', url: `${mtls.url}/in`, timeoutMs: 10_000 } },
        { name: 'with', source: { ...folder, include: ['cert-*'] }, destination: { type: 'http', url: `${mtls.url}/in`, timeoutMs: 10_000, tls: { cert: client.cert, key: client.key, passphrase: 'client-key-pw' } } },
      ]);
      drop(dir, 1, 'no-cert');
      drop(dir, 2, 'cert');
      await waitFor(() => engine.queue.list({ flow: 'with', state: 'delivered' }).length === 2, 'delivered with the client certificate');
      await waitFor(() => engine.queue.list({ flow: 'without', state: 'dead' }).length === 1, 'refused without it');
      expect(engine.queue.list({ flow: 'without', state: 'dead' })[0].last_error).toBe('gave up after 3 attempts: client certificate required by the server 127.0.0.1: set tls.cert and tls.key (or tls.pfx) on this connector or in network.tls');
      expect(mtls.received.filter((r) => r.url === '/in')).toHaveLength(2);
    } finally {
      await mtls.close();
    }
  });
});
