// The network setting as an admin meets it, through the real `ferry` process: HTTPS_PROXY alone (no
// network key in the config) sends deliveries through tinyproxy; the proxy password lives in the secret
// store (${secret:…}); `ferry check` prints the setting and the path each destination took, and
// `ferry check --url` tests one address.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignedSink, type CertFiles } from '../helpers/certs.ts';
import { cleanUpAfterEach, dropFiles, ferry, setup } from '../helpers/flows.ts';
import { runCli } from '../helpers/cli.ts';
import { proxyAvailable, SQUID, startSquid, startTinyproxy, TINYPROXY } from '../helpers/proxies.ts';
import type { Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';

cleanUpAfterEach();

let sinkCa: CertFiles;
let sink: Sink;
beforeAll(async () => {
  ({ ca: sinkCa, sink } = await startSignedSink());
});
afterAll(async () => {
  await sink.close();
});

const delivered = (prefix: string) => sink.received.filter((r) => decodeURIComponent(String(r.headers['x-ferry-filename'] ?? '')).startsWith(prefix)).length;

describe.skipIf(!proxyAvailable(TINYPROXY))('HTTPS_PROXY without any network config', () => {
  it('delivers through the proxy named by the environment; ferry check says so', async () => {
    const tiny = await startTinyproxy();
    const st = setup(sink.url, {}, { network: { tls: { ca: [sinkCa.cert] } } });
    // 127.0.0.1 goes direct unless NO_PROXY says "<-loopback>" (browsers do the same)
    const env = { HTTPS_PROXY: tiny.url, NO_PROXY: '<-loopback>' };
    const running = await ferry(st.cfg, { env });
    dropFiles(st.inbox, 5, 'env-proxy');
    await waitFor(() => delivered('env-proxy') === 5, 'five files delivered');
    await running.stop();
    expect(tiny.tunnels()).toBeGreaterThanOrEqual(1);
    expect(tiny.log()).toContain(`CONNECT 127.0.0.1:${sink.port} HTTP/1.1`);

    const check = await runCli(['check', '--config', st.cfg], { env });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`network network.proxy: env (HTTPS_PROXY=${tiny.url}, NO_PROXY=<-loopback>)`);
    expect(check.stdout).toMatch(/network trust: bundled( \+ NODE_EXTRA_CA_CERTS \(\d+\))? \+ system store \(\d+ from .+\) \+ network\.tls\.ca \(1 file\)/);
    expect(check.stdout).toContain(`upload destination (http): OK - ${sink.url} reachable (HTTP 200 to HEAD); via proxy ${tiny.url} (HTTPS_PROXY); TLS by 'Ferry Test Sink CA' (trusted: network.tls.ca)`);

    const url = await runCli(['check', '--config', st.cfg, '--url', `${sink.url}/ping`], { env });
    expect(url).toMatchObject({ code: 0, stdout: expect.stringContaining(`${sink.url}/ping: OK - ${sink.url} answered HTTP 200 to HEAD; via proxy ${tiny.url} (HTTPS_PROXY); TLS by 'Ferry Test Sink CA'`) });
    const noProxy = await runCli(['check', '--config', st.cfg, '--url', `${sink.url}/ping`], { env: { HTTPS_PROXY: tiny.url } });
    expect(noProxy.stdout).toContain(`${sink.url}/ping: OK - ${sink.url} answered HTTP 200 to HEAD; direct (loopback)`);
    await tiny.stop();
  }, 150_000); // five `ferry` processes on a machine that may be busy
});

describe.skipIf(!proxyAvailable(SQUID))('proxy credentials from the secret store', () => {
  it('uses ${secret:…} for the password; with a wrong one ferry check fails with the 407 reason', async () => {
    const squid = await startSquid({ auth: { user: 'ferry', password: 'from-the-store' } });
    const network = { proxy: { url: squid.url, username: 'ferry', password: '${secret:PROXY_PASSWORD}', noProxy: ['<-loopback>'] }, tls: { ca: [sinkCa.cert] } };
    const st = setup(sink.url, {}, { network });
    const env = { FERRY_MASTER_KEY: 'network-test-master-key' };
    expect((await runCli(['secret', 'set', 'PROXY_PASSWORD', '--config', st.cfg], { env, input: 'not-it\n' })).code).toBe(0);
    const wrong = await runCli(['check', '--config', st.cfg], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`upload destination (http): FAILED - the proxy asks for credentials (407): ${squid.url} refused the username and password; check network.proxy.username and network.proxy.password`);
    expect(fs.readFileSync(st.cfg, 'utf8')).not.toContain('from-the-store');

    expect((await runCli(['secret', 'set', 'PROXY_PASSWORD', '--config', st.cfg], { env, input: 'from-the-store\n' })).code).toBe(0);
    const running = await ferry(st.cfg, { env });
    dropFiles(st.inbox, 3, 'secret-proxy');
    await waitFor(() => delivered('secret-proxy') === 3, 'three files delivered through the proxy');
    await running.stop();
    await waitFor(() => squid.tunnels() >= 1, 'the tunnel in the proxy log');
    expect(squid.log()).toContain(`CONNECT 127.0.0.1:${sink.port} ferry`);
    // the password is neither in the logs nor in the database
    const dataDir = path.join(st.dir, 'data');
    for (const f of fs.readdirSync(path.join(dataDir, 'logs'))) expect(fs.readFileSync(path.join(dataDir, 'logs', f), 'utf8')).not.toContain('from-the-store');
    expect(fs.readFileSync(path.join(dataDir, 'ferry.db')).includes('from-the-store')).toBe(false);
    await squid.stop();
  }, 150_000);
});
