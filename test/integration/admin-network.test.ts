// The admin API's network routes against a running engine and a real proxy: the setting as written and
// what it means, a change written into the config file (comments kept, password as a ${secret:…}) that
// restarts the flows onto the proxy, field-named problems, and the Test of one URL through saved or unsaved
// settings.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startSignedSink, type CertFiles } from '../helpers/certs.ts';
import { proxyAvailable, SQUID, startSquid, type RunningProxy } from '../helpers/proxies.ts';
import type { Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';

let h: AdminHarness;
let sinkCa: CertFiles;
let sink: Sink;
let squid: RunningProxy;

beforeAll(async () => {
  ({ ca: sinkCa, sink } = await startSignedSink());
  squid = await startSquid({ auth: { user: 'ferry', password: 'squid-pw' } });
  h = await startAdmin(`# the depot's agent
dataDir: ./data
admin: { port: 0 }
network:
  proxy: env # IT may change this
integrations:
  - name: api
    flows:
      - name: push
        source: { type: folder, path: ./out, settleMs: 0, afterDelivery: { action: delete } }
        destination: { type: http, url: "${sink.url}/in", timeoutMs: 5000 }
        retry: { maxAttempts: 50, initialDelayMs: 50, maxDelayMs: 200 }
`, { dirs: ['out'] });
  fs.copyFileSync(sinkCa.cert, path.join(h.dir, 'sink-ca.pem'));
}, 60_000);
afterAll(async () => {
  await h?.stop();
  await sink?.close();
});

describe.skipIf(!proxyAvailable(SQUID))('network routes', () => {
  it('GET /api/network: the block as written and what it means', async () => {
    const r = await h.api('GET', '/api/network');
    expect(r.status).toBe(200);
    expect(r.json.network).toEqual({ proxy: 'env' });
    expect(r.json.effective[0]).toMatch(/^network\.proxy: env/);
    expect(r.json.effective[1]).toMatch(/^trust: bundled( \+ NODE_EXTRA_CA_CERTS \(\d+\))? \+ system store/);
  });

  it('POST /api/network/test: unsaved values are tested as they are, the saved ones otherwise', async () => {
    const unsaved = { proxy: { url: squid.url, username: 'ferry', password: 'squid-pw', noProxy: ['<-loopback>'] }, tls: { ca: ['./sink-ca.pem'] } };
    const ok = await h.api('POST', '/api/network/test', { url: `${sink.url}/ping`, network: unsaved });
    expect(ok.json).toMatchObject({ ok: true, status: 200, path: `via proxy ${squid.url} (network.proxy); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)` });
    expect(ok.json.setting[0]).toBe(`network.proxy: ${squid.url} as ferry; noProxy <-loopback>`);
    const wrong = await h.api('POST', '/api/network/test', { url: sink.url, network: { ...unsaved, proxy: { ...unsaved.proxy, password: 'nope' } } });
    expect(wrong.json).toMatchObject({ ok: false, message: expect.stringMatching(/^the proxy asks for credentials \(407\)/), path: `via proxy ${squid.url} (network.proxy)` });
    const saved = await h.api('POST', '/api/network/test', { url: sink.url });
    expect(saved.json).toMatchObject({ ok: false, message: expect.stringMatching(/^certificate of 127\.0\.0\.1 is signed by 'Ferry Test Sink CA', which is not trusted/), path: 'direct (env: no proxy variable set)' });
    const invalid = await h.api('POST', '/api/network/test', { url: sink.url, network: { proxy: 'socks5://p:1080', tls: { ca: ['./missing.pem'] } } });
    expect(invalid.json).toMatchObject({ ok: false, message: 'the network settings are not valid', problems: [
      { path: 'proxy', message: 'SOCKS proxies are not supported: expected an http:// or https:// proxy' },
      { path: 'tls.ca[0]', message: `cannot read ${path.join(h.dir, 'missing.pem')} (no such file)` },
    ] });
    const badUrl = await h.api('POST', '/api/network/test', { url: 'ftp://x' });
    expect(badUrl.json).toMatchObject({ ok: false, message: 'expected an http(s) URL, got "ftp://x"' });
  });

  it('PUT /api/network: validated, written keeping comments, applied (the flow now goes through the proxy)', async () => {
    const network = { proxy: { url: squid.url, username: 'ferry', password: '${secret:PROXY_PASSWORD}', noProxy: ['<-loopback>'] }, tls: { ca: ['./sink-ca.pem'] } };
    const bad = await h.api('PUT', '/api/network', { network: { ...network, proxy: { ...network.proxy, noProxy: ['10.0.0.0/99'] } }, secrets: { PROXY_PASSWORD: 'squid-pw' } });
    expect(bad.status).toBe(400);
    expect(bad.json.problems).toEqual([{ path: 'proxy.noProxy[0]', message: 'expected an address range like 10.0.0.0/8, got "10.0.0.0/99"' }]);
    expect(h.secrets.lookup()('PROXY_PASSWORD')).toBeUndefined(); // a refused change stores nothing
    const missing = await h.api('PUT', '/api/network', { network });
    expect(missing.json.problems).toEqual([{ path: 'proxy.password', message: 'secret PROXY_PASSWORD is not set (store it with: ferry secret set PROXY_PASSWORD)' }]);

    const put = await h.api('PUT', '/api/network', { network, secrets: { PROXY_PASSWORD: 'squid-pw' } });
    expect(put.status).toBe(200);
    expect(put.json.applied.restarted).toEqual(['push']);
    expect(put.json.effective[0]).toBe(`network.proxy: ${squid.url} as ferry; noProxy <-loopback>`);
    expect(h.secrets.lookup()('PROXY_PASSWORD')).toBe('squid-pw');
    const text = fs.readFileSync(h.configFile, 'utf8');
    expect(text).toContain("# the depot's agent");
    expect(text).toContain('${secret:PROXY_PASSWORD}');
    expect(text).not.toContain('squid-pw');

    fs.writeFileSync(path.join(h.dir, 'out', 'a.json'), '{"a":1}');
    await waitFor(() => sink.received.some((r) => r.url === '/in'), 'delivered after the change');
    expect((await h.engine.flow('push').destination.check()).message).toContain(`via proxy ${squid.url} (network.proxy)`);
    const get = await h.api('GET', '/api/network');
    expect(get.json.network).toEqual({ proxy: { url: squid.url, username: 'ferry', password: '${secret:PROXY_PASSWORD}', noProxy: ['<-loopback>'] }, tls: { ca: ['./sink-ca.pem'] } });
  });
});
