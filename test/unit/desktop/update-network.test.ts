// The desktop's update checks follow the network setting: the Electron session proxy config per mode, the
// proxy credentials the updater's login event gets, and the certificate check that accepts a chain ending at
// a root of network.tls.ca (certificates made with openssl). Electron itself cannot run here: the session is
// a recording object, the checks run on real certificates.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { networkSchema } from '../../../connectors/net/schema.ts';
import { electronProxyConfig, followNetworkSetting, proxyCredentials, trustedByRoots, type UpdaterNet } from '../../../main/desktop/update-network.ts';
import { issue, makeCa } from '../../helpers/certs.ts';

const n = (cfg: unknown) => networkSchema.parse(cfg);

describe('update checks: proxy', () => {
  it('maps each proxy mode onto the session proxy config', () => {
    expect(electronProxyConfig(n({ proxy: 'none' }), {})).toEqual({ mode: 'direct' });
    expect(electronProxyConfig(n({ proxy: 'system' }), {})).toEqual({ mode: 'system' });
    expect(electronProxyConfig(n({ proxy: { url: 'system', noProxy: ['*.corp.local'] } }), {})).toEqual({ mode: 'system', proxyBypassRules: '*.corp.local' });
    expect(electronProxyConfig(n({ proxy: { url: 'http://proxy.corp.local:3128', noProxy: ['*.corp.local', '10.0.0.0/8'] } }), {})).toEqual({ mode: 'fixed_servers', proxyRules: 'http://proxy.corp.local:3128', proxyBypassRules: '*.corp.local,10.0.0.0/8' });
    expect(electronProxyConfig(n({}), {})).toEqual({ mode: 'direct' });
    expect(electronProxyConfig(n({}), { HTTPS_PROXY: 'http://u:p@p1:8080', HTTP_PROXY: 'p2:3128', NO_PROXY: 'a.example, .corp.local' })).toEqual({
      mode: 'fixed_servers', proxyRules: 'https=http://p1:8080;http=http://p2:3128', proxyBypassRules: 'a.example,.corp.local',
    });
  });

  it('answers a proxy login with the setting\'s credentials, or those of HTTPS_PROXY', () => {
    expect(proxyCredentials(n({ proxy: { url: 'http://p:3128', username: 'ferry', password: 'pw' } }), {})).toEqual({ username: 'ferry', password: 'pw' });
    expect(proxyCredentials(n({}), { HTTPS_PROXY: 'http://svc%40corp:p%3Ass@p:8080' })).toEqual({ username: 'svc@corp', password: 'p:ss' });
    expect(proxyCredentials(n({ proxy: 'system' }), {})).toBeUndefined();
  });
});

describe('update checks: network.tls.ca', () => {
  const root = makeCa('Corp Root');
  const intermediate = issue(root, 'Corp Issuing CA', { ca: true });
  const leaf = issue({ ...intermediate, dir: root.dir }, 'updates.corp.local', { names: ['updates.corp.local'] });
  const direct = issue(root, 'direct.corp.local', { names: ['direct.corp.local'] });
  const stranger = makeCa('Stranger Root');

  it('accepts a chain to a configured root, for the right name, while every certificate is valid', () => {
    expect(trustedByRoots([leaf.certPem, intermediate.certPem], [root.certPem], 'updates.corp.local')).toBe(true);
    expect(trustedByRoots([leaf.certPem, intermediate.certPem, root.certPem], [root.certPem], 'updates.corp.local')).toBe(true);
    expect(trustedByRoots([direct.certPem], [root.certPem], 'direct.corp.local')).toBe(true);
  });

  it('refuses another name, another root, a broken chain, a non-CA issuer and an expired chain', () => {
    expect(trustedByRoots([leaf.certPem, intermediate.certPem], [root.certPem], 'evil.example')).toBe(false);
    expect(trustedByRoots([leaf.certPem, intermediate.certPem], [stranger.certPem], 'updates.corp.local')).toBe(false);
    expect(trustedByRoots([leaf.certPem], [root.certPem], 'updates.corp.local')).toBe(false);
    const notACa = issue({ ...direct, dir: root.dir }, 'sneaky.corp.local', { names: ['sneaky.corp.local'] });
    expect(trustedByRoots([notACa.certPem, direct.certPem], [root.certPem], 'sneaky.corp.local')).toBe(false);
    expect(trustedByRoots([leaf.certPem, intermediate.certPem], [root.certPem], 'updates.corp.local', new Date(Date.now() + 10 * 86_400_000))).toBe(false);
  });

  it('sets the session up before a check: proxy, login answer, and a verify step that only adds the configured roots', async () => {
    const calls: string[] = [];
    let proc: ((req: any, cb: (r: number) => void) => void) | null = null;
    const handlers: Array<(a: { isProxy?: boolean }, cb: (u?: string, p?: string) => void) => void> = [];
    const updater = {
      netSession: {
        setProxy: async (c: unknown) => void calls.push(JSON.stringify(c)),
        setCertificateVerifyProc: (p: typeof proc) => void (proc = p),
      },
      on: (_e: 'login', h: (typeof handlers)[number]) => void handlers.push(h),
      removeAllListeners: () => void handlers.splice(0),
    } as unknown as UpdaterNet;
    const caFile = path.join(root.dir, `${path.basename(root.cert)}`);
    await followNetworkSetting(updater, n({ proxy: { url: 'http://p:3128', username: 'ferry', password: 'pw' }, tls: { ca: [caFile] } }), {});
    expect(calls).toEqual([JSON.stringify({ mode: 'fixed_servers', proxyRules: 'http://p:3128', proxyBypassRules: '' })]);
    const answers: unknown[] = [];
    handlers[0]({ isProxy: true }, (...a) => answers.push(a));
    handlers[0]({ isProxy: false }, (...a) => answers.push(a));
    expect(answers).toEqual([['ferry', 'pw'], []]);
    const verdict = (req: unknown) => new Promise<number>((resolve) => proc!(req, resolve));
    const chain = { data: leaf.certPem, issuerCert: { data: intermediate.certPem } };
    expect(await verdict({ hostname: 'updates.corp.local', certificate: chain, verificationResult: 'OK' })).toBe(-3);
    expect(await verdict({ hostname: 'updates.corp.local', certificate: chain, verificationResult: 'net::ERR_CERT_AUTHORITY_INVALID' })).toBe(0);
    expect(await verdict({ hostname: 'other.corp.local', certificate: chain, verificationResult: 'net::ERR_CERT_AUTHORITY_INVALID' })).toBe(-3);
    await followNetworkSetting(updater, n({}), {});
    expect(proc).toBeNull();
  });
});
