// The network setting's config and its pieces that need no server: every bad value named by its key path
// (a missing or broken CA file, a client certificate without its key, a wrong passphrase, a SOCKS proxy, a
// bad no-proxy rule), the no-proxy rules, the OS proxy settings as Windows and macOS print them, the
// desktop app's PAC answers, and the Windows certificate store's output.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { parseConfigText } from '../../main/engine/config/load.ts';
import { NoProxy } from '../../connectors/net/no-proxy.ts';
import { parsePacAnswer, parseScutilProxy, parseWindowsInternetSettings } from '../../connectors/net/system-proxy.ts';
import { parseBase64Lines, readCertificateFile } from '../../connectors/net/system-ca.ts';
import { Router } from '../../connectors/net/router.ts';
import { issue, makeCa } from '../helpers/certs.ts';
import { tempDir } from '../helpers/tmp.ts';

function config(network: unknown, destination: Record<string, unknown> = {}) {
  return YAML.stringify({
    dataDir: './data',
    network,
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'http', url: 'https://api.example.com/in', ...destination } }] }],
  });
}

function problems(text: string, dir: string): string[] {
  const r = parseConfigText(text, path.join(dir, 'ferry.yaml'));
  return r.ok ? [] : r.problems;
}

describe('config: network', () => {
  const dir = tempDir('ferry-netcfg-');
  const ca = makeCa('Corp Root');
  fs.copyFileSync(ca.cert, path.join(dir, 'corp-root.pem'));
  const client = issue(ca, 'agent', { client: true, passphrase: 'right' });

  it('accepts the documented shapes, resolving files against the config folder', () => {
    const r = parseConfigText(config({
      proxy: { url: 'http://proxy.corp.local:3128', username: 'u', password: 'p', noProxy: ['*.corp.local', '10.0.0.0/8', 'localhost', 'fd00::/8', '[::1]:8080', 'build:8443', '<local>', '<-loopback>'] },
      tls: { ca: ['./corp-root.pem'], systemCa: true },
    }, { proxy: 'none', tls: { cert: client.cert, key: client.key, passphrase: 'right', servername: 'api.example.com' } }), path.join(dir, 'ferry.yaml'));
    expect(r.ok, r.ok ? '' : r.problems.join('\n')).toBe(true);
    if (!r.ok) return;
    expect(r.value.config.network.tls.ca).toEqual([path.join(dir, 'corp-root.pem')]);
    for (const mode of ['env', 'system', 'none', 'https://proxy.corp.local:8443']) expect(problems(config({ proxy: mode }), dir)).toEqual([]);
    // absent: proxy from the environment, system store on
    const plain = parseConfigText(YAML.stringify({ integrations: [] }), path.join(dir, 'ferry.yaml'));
    expect(plain.ok && plain.value.config.network).toEqual({ proxy: 'env', tls: { ca: [], systemCa: true } });
  });

  it('names each bad value by its key', () => {
    expect(problems(config({ proxy: 'ftp://proxy:21' }), dir)).toEqual(['network.proxy: expected an http:// or https:// proxy URL, got "ftp://proxy:21"']);
    expect(problems(config({ proxy: 'socks5://proxy:1080' }), dir)).toEqual(['network.proxy: SOCKS proxies are not supported: expected an http:// or https:// proxy']);
    expect(problems(config({ proxy: 'corporate' }), dir)).toEqual(['network.proxy: expected a proxy URL like http://proxy.corp.local:3128, or env, system or none, got "corporate"']);
    expect(problems(config({ proxy: { url: 'http://p:3128/path' } }), dir)).toEqual(['network.proxy.url: expected a proxy URL without a path, got "http://p:3128/path"']);
    expect(problems(config({ proxy: { url: 'http://p:3128', password: 'x' } }), dir)).toEqual(['network.proxy.username: required with password']);
    expect(problems(config({ proxy: { url: 'http://p:3128', noProxy: ['10.0.0.0/33', 'a b', 'host:99999'] } }), dir)).toEqual([
      'network.proxy.noProxy[0]: expected an address range like 10.0.0.0/8, got "10.0.0.0/33"',
      'network.proxy.noProxy[1]: expected a host name, *.domain, an address, a range like 10.0.0.0/8 or host:port, got "a b"',
      'network.proxy.noProxy[2]: expected a port between 1 and 65535 in "host:99999"',
    ]);
    expect(problems(config({ proxy: 42 }), dir)).toEqual(['network.proxy: expected a proxy URL, env, system or none, or { url, username, password, noProxy }, got 42']);
    expect(problems(config({ tls: { ca: ['./missing.pem'] } }), dir)).toEqual([`network.tls.ca[0]: cannot read ${path.join(dir, 'missing.pem')} (no such file)`]);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'not a certificate');
    expect(problems(config({ tls: { ca: ['./notes.txt'] } }), dir)).toEqual([`network.tls.ca[0]: ${path.join(dir, 'notes.txt')} holds no certificate (expected PEM "-----BEGIN CERTIFICATE-----" or a DER .cer file)`]);
    expect(problems(config({ tls: { cert: client.cert } }), dir)).toEqual(["network.tls.key: required with cert (the client certificate's private key)"]);
    expect(problems(config({}, { tls: { cert: client.cert, key: client.key, passphrase: 'wrong' } }), dir)).toEqual([`integrations[0].flows[0].destination.tls.passphrase: does not open ${client.key}`]);
    expect(problems(config({}, { tls: { cert: client.cert, key: client.key } }), dir)).toEqual([`integrations[0].flows[0].destination.tls.passphrase: ${client.key} is encrypted: expected passphrase (use \${secret:NAME})`]);
    // an encrypted key whose body decrypts to bytes OpenSSL cannot decode (as a wrong or missing passphrase does
    // about once in 256, when the garbage passes the padding check): still a passphrase problem, from its header.
    // Here one block is torn and the right passphrase given, so the padding passes every time.
    const pem = fs.readFileSync(client.key, 'latin1');
    const lines = pem.split('\n');
    const mid = Math.floor(lines.length / 2);
    lines[mid] = lines[mid].replace(/^./, (c) => (c === 'A' ? 'B' : 'A'));
    const torn = path.join(dir, 'torn.key');
    fs.writeFileSync(torn, lines.join('\n'));
    expect(pem).toContain('ENCRYPTED');
    expect(problems(config({}, { tls: { cert: client.cert, key: torn, passphrase: 'right' } }), dir)).toEqual([`integrations[0].flows[0].destination.tls.passphrase: does not open ${torn}`]);
    const other = issue(ca, 'other', { client: true });
    expect(problems(config({}, { tls: { cert: client.cert, key: other.key } }), dir)).toEqual([`integrations[0].flows[0].destination.tls.key: ${other.key} is not the private key of ${client.cert}`]);
    expect(problems(config({}, { tls: { fingerprint: 'sha1:abcd' } }), dir)).toEqual(['integrations[0].flows[0].destination.tls.fingerprint: expected a SHA-256 certificate fingerprint like "sha256:AB:CD:…" (32 hex bytes), got "sha1:abcd"']);
  });

  it('reads a DER (.cer) root as well as PEM bundles', () => {
    const der = path.join(dir, 'root.cer');
    fs.writeFileSync(der, new crypto.X509Certificate(ca.certPem).raw);
    expect(readCertificateFile(der)).toEqual([new crypto.X509Certificate(ca.certPem).toString()]);
    fs.writeFileSync(path.join(dir, 'bundle.pem'), `${ca.certPem}\n${client.certPem}`);
    expect(readCertificateFile(path.join(dir, 'bundle.pem'))).toHaveLength(2);
  });
});

describe('no-proxy rules', () => {
  const cases: Array<[string[], string, number, string | undefined]> = [
    [['*.corp.local'], 'api.corp.local', 443, '*.corp.local'],
    [['*.corp.local'], 'corp.local', 443, '*.corp.local'],
    [['*.corp.local'], 'corp.local.evil.com', 443, undefined],
    [['.corp.local'], 'a.b.corp.local', 80, '.corp.local'],
    [['corp.local'], 'x.corp.local', 80, 'corp.local'],
    [['api-*.example.com'], 'api-eu.example.com', 443, 'api-*.example.com'],
    [['api-*.example.com'], 'www.example.com', 443, undefined],
    [['10.*'], '10.1.2.3', 443, '10.*'],
    [['10.0.0.0/8'], '10.20.30.40', 443, '10.0.0.0/8'],
    [['10.0.0.0/8'], '11.0.0.1', 443, undefined],
    [['10.0.0.0/8'], 'ten.example.com', 443, undefined],
    [['169.254/16'], '169.254.10.1', 80, '169.254/16'],
    [['fd00::/8'], '[fd12::1]', 443, 'fd00::/8'],
    [['localhost'], '127.0.0.1', 8080, 'localhost'],
    [['localhost'], '[::1]', 8080, 'localhost'],
    [['localhost'], 'LOCALHOST', 80, 'localhost'],
    [['build:8443'], 'build', 8443, 'build:8443'],
    [['build:8443'], 'build', 443, undefined],
    [['[::1]:8080'], '[::1]', 8080, '[::1]:8080'],
    [['<local>'], 'intranet', 80, '<local>'],
    [['<local>'], 'intranet.corp', 80, undefined],
    [['*'], 'anything.example', 443, '*'],
    [['<-loopback>'], '127.0.0.1', 80, undefined],
  ];
  it.each(cases)('%j matches %s:%i → %s', (rules, host, port, expected) => {
    expect(new NoProxy(rules).match(host, port)).toBe(expected);
  });

  it('keeps the rules it cannot read aside (from NO_PROXY or the OS)', () => {
    const n = new NoProxy(['ok.example', '1.2.3.4/40']);
    expect(n.ignored).toEqual([{ rule: '1.2.3.4/40', reason: 'expected an address range like 10.0.0.0/8, got "1.2.3.4/40"' }]);
    expect(n.match('ok.example', 443)).toBe('ok.example');
  });
});

describe('system proxy settings', () => {
  it('reads Windows Internet Settings (one proxy for all, or per scheme) with its bypass list and PAC URL', () => {
    const one = parseWindowsInternetSettings([
      'HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings',
      '    ProxyEnable    REG_DWORD    0x1',
      '    ProxyServer    REG_SZ    proxy.corp.local:3128',
      '    ProxyOverride    REG_SZ    *.corp.local;10.*;<local>',
      '    AutoConfigURL    REG_SZ    http://wpad.corp.local/proxy.pac',
    ].join('\r\n'));
    expect(one).toEqual({ http: 'proxy.corp.local:3128', https: 'proxy.corp.local:3128', bypass: ['*.corp.local', '10.*', '<local>'], pac: 'http://wpad.corp.local/proxy.pac', source: 'Windows Internet Settings' });
    const split = parseWindowsInternetSettings('    ProxyEnable    REG_DWORD    0x1\n    ProxyServer    REG_SZ    http=p1:80;https=p2:8443;ftp=p3:21\n');
    expect(split).toMatchObject({ http: 'p1:80', https: 'p2:8443' });
    const off = parseWindowsInternetSettings('    ProxyEnable    REG_DWORD    0x0\n    ProxyServer    REG_SZ    p:3128\n');
    expect(off).toEqual({ bypass: [], source: 'Windows Internet Settings' });
  });

  it('reads macOS scutil --proxy', () => {
    const mac = parseScutilProxy(`<dictionary> {
  ExceptionsList : <array> {
    0 : *.local
    1 : 169.254/16
  }
  ExcludeSimpleHostnames : 1
  FTPPassive : 1
  HTTPEnable : 1
  HTTPPort : 3128
  HTTPProxy : proxy.corp.local
  HTTPSEnable : 1
  HTTPSPort : 3129
  HTTPSProxy : proxy.corp.local
  ProxyAutoConfigEnable : 0
}`);
    expect(mac).toEqual({ http: 'proxy.corp.local:3128', https: 'proxy.corp.local:3129', bypass: ['*.local', '169.254/16', '<local>'], source: 'macOS network settings' });
  });

  it('takes the first usable entry of a PAC answer', () => {
    expect(parsePacAnswer('PROXY proxy.corp.local:3128; DIRECT')).toEqual({ kind: 'proxy', url: 'http://proxy.corp.local:3128' });
    expect(parsePacAnswer('HTTPS secure-proxy:443')).toEqual({ kind: 'proxy', url: 'https://secure-proxy:443' });
    expect(parsePacAnswer('SOCKS5 s:1080; PROXY p:8080')).toEqual({ kind: 'proxy', url: 'http://p:8080' });
    expect(parsePacAnswer('DIRECT')).toEqual({ kind: 'direct' });
    expect(parsePacAnswer('SOCKS5 s:1080')).toEqual({ kind: 'unsupported', entry: 'SOCKS5 s:1080' });
  });

  it('asks the desktop app per origin with proxy: system, and keeps its answer for a while', async () => {
    const asked: string[] = [];
    const router = new Router('system', {
      env: {},
      key: 'network.proxy',
      resolveProxy: async (url) => {
        asked.push(url);
        return url.includes('intranet') ? 'DIRECT' : 'PROXY proxy.corp.local:3128; DIRECT';
      },
    });
    expect(router.cached('https://api.example.com')).toBeUndefined();
    const r = await router.resolve('https://api.example.com');
    expect(r).toMatchObject({ kind: 'proxy', why: 'system (desktop app, PAC included)' });
    expect(r.kind === 'proxy' && r.proxy.display).toBe('http://proxy.corp.local:3128');
    expect(router.cached('https://api.example.com')).toBe(r);
    expect(await router.resolve('https://intranet.corp.local')).toMatchObject({ kind: 'direct' });
    expect(await router.resolve('http://127.0.0.1:8080')).toEqual({ kind: 'direct', why: 'loopback' });
    expect(asked).toEqual(['https://api.example.com/', 'https://intranet.corp.local/']);
  });

  it.skipIf(process.platform !== 'linux')('proxy: system on Linux means the environment (there is no other system setting)', async () => {
    const router = new Router('system', { env: { HTTPS_PROXY: 'http://proxy.corp.local:3128', NO_PROXY: 'intranet.corp' }, key: 'network.proxy' });
    const r = await router.resolve('https://api.example.com');
    expect(r).toMatchObject({ kind: 'proxy', why: 'system (Linux: the environment): HTTPS_PROXY' });
    expect(await router.resolve('https://intranet.corp')).toEqual({ kind: 'direct', why: 'NO_PROXY intranet.corp' });
    expect(await router.describe()).toBe('network.proxy: system; Linux has no system proxy setting beyond the environment: env (HTTPS_PROXY=http://proxy.corp.local:3128, NO_PROXY=intranet.corp)');
  });

  it('reads the Windows certificate store as PowerShell prints it (base64 DER per line)', () => {
    const ca = makeCa('Windows Root');
    const b64 = new crypto.X509Certificate(ca.certPem).raw.toString('base64');
    expect(parseBase64Lines(`${b64}\r\n\r\n${b64}\r\n`)).toEqual([new crypto.X509Certificate(ca.certPem).toString(), new crypto.X509Certificate(ca.certPem).toString()]);
  });
});
