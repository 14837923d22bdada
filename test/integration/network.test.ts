// The network facility (connectors/net) against real proxies and TLS servers on 127.0.0.1: Squid and
// tinyproxy with Basic auth, mitmproxy inspecting TLS with its own CA, HTTPS sinks signed by a test CA, one
// that wants a client certificate and a self-signed one to pin. Each failure must name its cause.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Network } from '../../connectors/net/network.ts';
import { networkSchema } from '../../connectors/net/schema.ts';
import { issue, makeCa, selfSigned, sharedDir, startSignedSink, type CertFiles } from '../helpers/certs.ts';
import { MITMDUMP, proxyAvailable, SQUID, startInspectingProxy, startSquid, startTinyproxy, TINYPROXY, type RunningProxy } from '../helpers/proxies.ts';
import { startHttpsSink, startSink, type Sink } from '../helpers/sink.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/tmp.ts';

const AUTH = { user: 'ferry', password: 's3cret-pw' };
const net_ = (cfg: unknown, env: NodeJS.ProcessEnv = {}) => new Network(networkSchema.parse(cfg), { env });
/** The tests' servers are on 127.0.0.1, which goes direct unless the rules say "<-loopback>" (as in Chrome). */
const THROUGH = '<-loopback>';

async function get(n: Network, url: string, o: Parameters<Network['dispatcher']>[0] = {}) {
  const d = n.dispatcher({ timeoutMs: 10_000, ...o });
  try {
    const res = await request(url, { dispatcher: d });
    const body = await res.body.text();
    return { ok: true as const, status: res.statusCode, body, path: await d.pathTo(url), opened: d.opened };
  } catch (err) {
    return { ok: false as const, reason: d.explain(err, url), opened: d.opened };
  } finally {
    await d.close();
  }
}

let sinkCa: CertFiles;
let sink: Sink;

beforeAll(async () => {
  ({ ca: sinkCa, sink } = await startSignedSink());
});
afterAll(async () => {
  await sink.close();
});

describe.skipIf(!proxyAvailable(SQUID))('through Squid with Basic auth', () => {
  let squid: RunningProxy;
  beforeAll(async () => {
    squid = await startSquid({ auth: AUTH });
  });

  it('tunnels HTTPS through the proxy, reuses the tunnel, and says which way it went', async () => {
    const n = net_({ proxy: { url: squid.url, username: AUTH.user, password: AUTH.password, noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } });
    const d = n.dispatcher({ timeoutMs: 10_000, connections: 2 });
    const before = sink.connections;
    for (let i = 0; i < 20; i++) {
      const res = await request(`${sink.url}/x${i}`, { method: 'POST', body: 'hi', dispatcher: d });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    }
    // at most one tunnel per pooled connection, however many requests
    expect(d.opened.direct).toBe(0);
    expect(d.opened.proxy).toBeGreaterThanOrEqual(1);
    expect(d.opened.proxy).toBeLessThanOrEqual(2);
    expect(sink.connections - before).toBe(d.opened.proxy);
    expect(await d.pathTo(sink.url)).toBe(`via proxy ${squid.url} (network.proxy); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)`);
    await d.close();
    // Squid logs a tunnel when it closes
    await waitFor(() => squid.tunnels() >= d.opened.proxy, 'the tunnels in the access log');
    expect(squid.log()).toMatch(new RegExp(`TCP_TUNNEL/200 .* CONNECT 127.0.0.1:${sink.port} ferry`));
  });

  it('names a wrong password and missing credentials as the 407 reason', async () => {
    const wrong = await get(net_({ proxy: { url: squid.url, username: AUTH.user, password: 'nope', noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } }), sink.url);
    expect(wrong).toMatchObject({ ok: false, reason: `the proxy asks for credentials (407): ${squid.url} refused the username and password; check network.proxy.username and network.proxy.password` });
    const none = await get(net_({ proxy: { url: squid.url, noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } }), sink.url);
    expect(none).toMatchObject({ ok: false, reason: expect.stringMatching(/^the proxy asks for credentials \(407\): set network\.proxy\.username and network\.proxy\.password/) });
  });

  it('goes direct for noProxy hosts (the proxy sees nothing)', async () => {
    const before = squid.tunnels();
    for (const rule of ['127.0.0.1', '127.0.0.0/8', 'localhost', `127.0.0.1:${sink.port}`]) {
      const r = await get(net_({ proxy: { url: squid.url, noProxy: [THROUGH, rule] }, tls: { ca: [sinkCa.cert] } }), sink.url);
      expect(r).toMatchObject({ ok: true, status: 200, path: `direct (network.proxy.noProxy ${rule}); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)` });
    }
    const other = await get(net_({ proxy: { url: squid.url, username: AUTH.user, password: AUTH.password, noProxy: [THROUGH, '*.corp.local', '10.0.0.0/8', '127.0.0.1:1'] }, tls: { ca: [sinkCa.cert] } }), sink.url);
    expect(other).toMatchObject({ ok: true, path: expect.stringMatching(/^via proxy/) });
    await waitFor(() => squid.tunnels() === before + 1, 'one tunnel more in the access log');
  });

  it('reaches an https:// proxy (TLS to the proxy, checked like a server), then tunnels through it', async () => {
    const proxyCa = makeCa('Proxy Front CA');
    const front = issue(proxyCa, '127.0.0.1');
    // Squid behind a TLS front, as an https:// proxy is reached
    const server = tls.createServer({ cert: front.certPem, key: front.keyPem }, (s) => {
      const up = net.connect(squid.port, '127.0.0.1');
      s.pipe(up).pipe(s);
      s.on('error', () => up.destroy());
      up.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const proxy = { url, username: AUTH.user, password: AUTH.password, noProxy: [THROUGH] };
      const ok = await get(net_({ proxy, tls: { ca: [sinkCa.cert, proxyCa.cert] } }), sink.url);
      expect(ok).toMatchObject({ ok: true, status: 200, path: `via proxy ${url} (network.proxy); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)` });
      const untrusted = await get(net_({ proxy, tls: { ca: [sinkCa.cert] } }), sink.url);
      expect(untrusted).toMatchObject({ ok: false, reason: `certificate of proxy ${url} is signed by 'Proxy Front CA', which is not trusted: a TLS-inspecting proxy? Add its root with network.tls.ca or install it in the system store` });
    } finally {
      server.close();
    }
  });

  it('sends loopback addresses direct unless told otherwise, as browsers do', async () => {
    const r = await get(net_({ proxy: { url: squid.url }, tls: { ca: [sinkCa.cert] } }), sink.url);
    expect(r).toMatchObject({ ok: true, path: "direct (loopback); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)" });
    const viaEnv = await get(net_({ tls: { ca: [sinkCa.cert] } }, { HTTPS_PROXY: squid.url }), sink.url);
    expect(viaEnv).toMatchObject({ ok: true, path: expect.stringMatching(/^direct \(loopback\)/) });
  });

  it('honours HTTPS_PROXY and NO_PROXY with proxy: env (the default)', async () => {
    const proxied = `http://${AUTH.user}:${AUTH.password}@127.0.0.1:${squid.port}`;
    const viaEnv = await get(net_({ tls: { ca: [sinkCa.cert] } }, { HTTPS_PROXY: proxied, NO_PROXY: THROUGH }), sink.url);
    expect(viaEnv).toMatchObject({ ok: true, path: `via proxy ${squid.url} (HTTPS_PROXY); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)` });
    const bypassed = await get(net_({ tls: { ca: [sinkCa.cert] } }, { HTTPS_PROXY: proxied, NO_PROXY: 'example.com,127.0.0.1' }), sink.url);
    expect(bypassed).toMatchObject({ ok: true, path: expect.stringMatching(/^direct \(NO_PROXY 127\.0\.0\.1\)/) });
  });
});

describe.skipIf(!proxyAvailable(TINYPROXY))('through tinyproxy', () => {
  it('reaches plain http:// servers through a tunnel too', async () => {
    const tiny = await startTinyproxy();
    const plain = await startSink();
    try {
      const r = await get(net_({ proxy: { url: tiny.url, noProxy: [THROUGH] } }), `${plain.url}/p`);
      expect(r).toMatchObject({ ok: true, status: 200, path: `via proxy ${tiny.url} (network.proxy)` });
      expect(tiny.tunnels()).toBe(1);
    } finally {
      await plain.close();
      await tiny.stop();
    }
  });

  it('says when the proxy cannot be reached', async () => {
    const closed = await freePort();
    const r = await get(net_({ proxy: { url: `http://127.0.0.1:${closed}`, noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } }), sink.url);
    expect(r).toMatchObject({ ok: false, reason: `proxy http://127.0.0.1:${closed} unreachable (connection refused)` });
  });
});

describe.skipIf(!proxyAvailable(MITMDUMP))('behind a TLS-inspecting proxy (mitmproxy with its own CA)', () => {
  let mitmCa: CertFiles;
  let mitm: RunningProxy;
  beforeAll(async () => {
    ({ ca: mitmCa, proxy: mitm } = await startInspectingProxy(sinkCa.cert));
  }, 90_000);

  it('refuses the re-signed certificate and names its issuer, until that root is trusted', async () => {
    const untrusted = await get(net_({ proxy: { url: mitm.url, noProxy: [THROUGH] }, tls: { ca: [sinkCa.cert] } }), sink.url);
    expect(untrusted).toMatchObject({
      ok: false,
      reason: "certificate of 127.0.0.1 is signed by 'Corp Inspection CA', which is not trusted: a TLS-inspecting proxy? Add its root with network.tls.ca or install it in the system store",
    });
    const trusted = await get(net_({ proxy: { url: mitm.url, noProxy: [THROUGH] }, tls: { ca: [mitmCa.cert] } }), `${sink.url}/in`);
    expect(trusted).toMatchObject({ ok: true, status: 200, path: `via proxy ${mitm.url} (network.proxy); TLS by 'Corp Inspection CA' (trusted: network.tls.ca)` });
  });

  it('trusts the root once it is in the system store (SSL_CERT_FILE) and not with systemCa: false', async () => {
    const dir = sharedDir('ferry-store-');
    const bundle = path.join(dir, 'bundle.pem');
    fs.writeFileSync(bundle, mitmCa.certPem);
    const saved = process.env.SSL_CERT_FILE;
    process.env.SSL_CERT_FILE = bundle;
    try {
      const viaStore = await get(net_({ proxy: { url: mitm.url, noProxy: [THROUGH] } }), sink.url);
      expect(viaStore).toMatchObject({ ok: true, path: `via proxy ${mitm.url} (network.proxy); TLS by 'Corp Inspection CA' (trusted: system store)` });
      const storeOff = await get(net_({ proxy: { url: mitm.url, noProxy: [THROUGH] }, tls: { systemCa: false } }), sink.url);
      expect(storeOff).toMatchObject({ ok: false, reason: expect.stringMatching(/signed by 'Corp Inspection CA', which is not trusted: .* \(and set network\.tls\.systemCa: true\)$/) });
    } finally {
      if (saved === undefined) delete process.env.SSL_CERT_FILE;
      else process.env.SSL_CERT_FILE = saved;
    }
  });

  it('says when the proxy cannot resolve the host', async () => {
    const r = await get(net_({ proxy: { url: mitm.url, noProxy: [THROUGH] } }), 'https://no-such-host.invalid/');
    expect(r).toMatchObject({ ok: false, reason: `host not found through the proxy: ${mitm.url} cannot resolve no-such-host.invalid` });
  });
});

describe('mutual TLS and pinning', () => {
  it('presents a client certificate (encrypted key) to a server that requires one, and names the refusal without', async () => {
    const clientCa = makeCa('Partner Client CA');
    const client = issue(clientCa, 'ferry-client', { client: true, passphrase: 'key-pass' });
    const cert = issue(sinkCa, '127.0.0.1');
    const mtls = await startHttpsSink({ cert: cert.certPem, key: cert.keyPem, requestCert: true, rejectUnauthorized: true, ca: [clientCa.certPem] });
    try {
      const n = net_({ tls: { ca: [sinkCa.cert] } });
      const refused = await get(n, mtls.url);
      expect(refused).toMatchObject({ ok: false, reason: 'client certificate required by the server 127.0.0.1: set tls.cert and tls.key (or tls.pfx) on this connector or in network.tls' });
      const accepted = await get(n, mtls.url, { tls: { cert: client.cert, key: client.key, passphrase: 'key-pass' } });
      expect(accepted).toMatchObject({ ok: true, status: 200 });
      const stranger = issue(makeCa('Stranger CA'), 'someone', { client: true });
      const wrongCert = await get(n, mtls.url, { tls: { cert: stranger.cert, key: stranger.key } });
      // Node's TLS server drops a client certificate it does not trust without an alert
      expect(wrongCert).toMatchObject({ ok: false, reason: "the server 127.0.0.1 closed the connection right after the TLS handshake: it may not accept Ferry's client certificate (check tls.cert)" });
    } finally {
      await mtls.close();
    }
  });

  it('accepts one self-signed server by its pinned fingerprint, and nothing else', async () => {
    const self = selfSigned('legacy-box');
    const other = selfSigned('someone-else');
    const box = await startHttpsSink({ cert: self.certPem, key: self.keyPem });
    try {
      const n = net_({});
      const unpinned = await get(n, box.url);
      expect(unpinned).toMatchObject({ ok: false, reason: `certificate of 127.0.0.1 is self-signed ('legacy-box'), which is not trusted: pin it with tls.fingerprint "${self.fingerprint}" or add it with tls.ca` });
      const pinned = await get(n, box.url, { tls: { fingerprint: self.fingerprint } });
      expect(pinned).toMatchObject({ ok: true, path: "direct (env: no proxy variable set); TLS by 'legacy-box' (trusted: tls.fingerprint)" });
      // every new connection is checked against the pin (no session resumption hides the certificate)
      const d = n.dispatcher({ timeoutMs: 10_000, connections: 3, tls: { fingerprint: self.fingerprint } });
      const statuses = await Promise.all([1, 2, 3].map(async () => (await request(box.url, { dispatcher: d, body: 'x', method: 'POST' })).statusCode));
      expect(statuses).toEqual([200, 200, 200]);
      expect(d.opened.direct).toBe(3);
      await d.close();
      const wrong = await get(n, box.url, { tls: { fingerprint: other.fingerprint } });
      expect(wrong).toMatchObject({ ok: false, reason: `certificate of 127.0.0.1 does not match tls.fingerprint ${other.fingerprint}: it presented ${self.fingerprint}` });
    } finally {
      await box.close();
    }
  });

  it('checks the name: a certificate for another host is refused, tls.servername names the expected one', async () => {
    const named = issue(sinkCa, 'api.partner.test', { names: ['api.partner.test'] });
    const srv = await startHttpsSink({ cert: named.certPem, key: named.keyPem });
    try {
      const n = net_({ tls: { ca: [sinkCa.cert] } });
      expect(await get(n, srv.url)).toMatchObject({ ok: false, reason: 'certificate of 127.0.0.1 is for api.partner.test, not this name: set tls.servername if the server is reached by another name' });
      expect(await get(n, srv.url, { tls: { servername: 'api.partner.test' } })).toMatchObject({ ok: true, status: 200 });
    } finally {
      await srv.close();
    }
  });
});

it('probe() reports the path, or the reason with the way it would have gone', async () => {
  const n = net_({ tls: { ca: [sinkCa.cert] } });
  expect(await n.probe(`${sink.url}/health`)).toMatchObject({ ok: true, status: 200, message: `${sink.url} answered HTTP 200 to HEAD`, path: "direct (env: no proxy variable set); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)" });
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  server.close();
  expect(await n.probe(`https://127.0.0.1:${port}/`)).toMatchObject({ ok: false, message: `host unreachable: connection refused by 127.0.0.1:${port}`, path: 'direct (env: no proxy variable set)' });
});
