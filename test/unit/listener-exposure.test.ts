// A `webhook` or `sync` source on a non-loopback address needs TLS and verification (a signature scheme, a
// token), or an explicit `allowInsecure: true`, which is accepted as a warning: `ferry validate` prints it
// (exit 0), the admin API's validation and status carry it, and nothing changes for loopback listeners.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../main/engine/config/load.ts';
import { isLoopbackAddress } from '../../connectors/webhook/exposure.ts';
import { runCli } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const folderOut = { type: 'folder', path: './out' };
const tls = { cert: '/etc/ferry/cert.pem', key: '/etc/ferry/key.pem' };
const github = { scheme: 'github', secret: 'x'.repeat(24) };

function parse(source: Record<string, unknown>) {
  return parseConfigText(YAML.stringify({ dataDir: '/tmp/x', integrations: [{ name: 'i', flows: [{ name: 'f', source, destination: folderOut }] }] }), '/tmp/ferry.yaml');
}
const problems = (source: Record<string, unknown>) => {
  const r = parse(source);
  return r.ok ? [] : r.problems;
};
const warnings = (source: Record<string, unknown>) => {
  const r = parse(source);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.value.warnings;
};

describe('listeners open to the network', () => {
  it('tells loopback addresses from the rest', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['0.0.0.0', '::', '192.168.1.20', '10.0.0.5', 'ferry.example.com', '::ffff:10.0.0.1']) expect(isLoopbackAddress(a), a).toBe(false);
  });

  it('refuses a webhook on 0.0.0.0 without TLS or with scheme none, naming each missing piece', () => {
    expect(problems({ type: 'webhook', address: '0.0.0.0', port: 8080, verify: { scheme: 'none' } })).toEqual([
      'integrations[0].flows[0].source.tls: required: 0.0.0.0:8080 is reachable from the network, and without TLS anyone on the way reads and alters requests; set tls: { cert, key }, listen on 127.0.0.1, or set allowInsecure: true',
      'integrations[0].flows[0].source.verify.scheme: "none" is refused: 0.0.0.0:8080 is reachable from the network, where anyone could inject events; use github, stripe, standard-webhooks or bearer, listen on 127.0.0.1, or set allowInsecure: true',
    ]);
    expect(problems({ type: 'webhook', address: '192.168.1.20', port: 8080, tls, verify: { scheme: 'none' } })).toHaveLength(1);
    expect(problems({ type: 'webhook', address: '192.168.1.20', port: 8080, verify: github })[0]).toMatch(/source\.tls: required/);
    // TLS and a signature: fine, no warning
    expect(problems({ type: 'webhook', address: '0.0.0.0', port: 8080, tls, verify: github })).toEqual([]);
    expect(warnings({ type: 'webhook', address: '0.0.0.0', port: 8080, tls, verify: github })).toEqual([]);
    // loopback is unchanged: scheme none, no TLS, no warning
    expect(warnings({ type: 'webhook', port: 8080, verify: { scheme: 'none' } })).toEqual([]);
    // relay mode listens nowhere
    expect(problems({ type: 'webhook', mode: 'webhook-relay', address: '0.0.0.0', verify: { scheme: 'none' }, relay: { url: 'https://relay.example.com/poll' } })).toEqual([]);
  });

  it('refuses a sync endpoint on the network without TLS and a token', () => {
    expect(problems({ type: 'sync', address: '0.0.0.0', port: 9000 }).map((p) => p.split(':')[0])).toEqual(['integrations[0].flows[0].source.tls', 'integrations[0].flows[0].source.token']);
    expect(problems({ type: 'sync', address: '0.0.0.0', port: 9000, tls, token: 't'.repeat(20) })).toEqual([]);
  });

  it('accepts allowInsecure: true as a warning that says what is exposed', () => {
    expect(warnings({ type: 'webhook', address: '0.0.0.0', port: 8080, verify: { scheme: 'none' }, allowInsecure: true })).toEqual([
      'integrations[0].flows[0].source.allowInsecure: webhook listener on 0.0.0.0:8080 accepts requests from the network without TLS and signature verification: anyone who can reach it can inject events',
    ]);
    expect(warnings({ type: 'sync', address: '0.0.0.0', port: 9000, tls, allowInsecure: true })).toEqual([
      'integrations[0].flows[0].source.allowInsecure: sync listener on 0.0.0.0:9000 accepts requests from the network without a bearer token: anyone who can reach it can call the endpoint',
    ]);
  });

  it('ferry validate prints the warning and still exits 0; the refused config exits 2', async () => {
    const dir = tempDir('ferry-exposure-');
    const write = (source: Record<string, unknown>) => {
      const file = path.join(dir, 'ferry.yaml');
      fs.writeFileSync(file, YAML.stringify({ dataDir: './data', integrations: [{ name: 'hooks', flows: [{ name: 'orders', source, destination: folderOut }] }] }));
      return file;
    };
    const refused = await runCli(['validate', '--config', write({ type: 'webhook', address: '0.0.0.0', port: 8080, verify: { scheme: 'none' } })]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('integrations[0].flows[0].source.verify.scheme: "none" is refused: 0.0.0.0:8080 is reachable from the network');
    const accepted = await runCli(['validate', '--config', write({ type: 'webhook', address: '0.0.0.0', port: 8080, verify: { scheme: 'none' }, allowInsecure: true })]);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toMatch(/: valid \(1 integrations, 1 flows\), 1 warning\n/);
    expect(accepted.stdout).toContain('warning: integrations[0].flows[0].source.allowInsecure: webhook listener on 0.0.0.0:8080 accepts requests from the network without TLS and signature verification');
    const clean = await runCli(['validate', '--config', write({ type: 'webhook', port: 8080, verify: { scheme: 'none' } })]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).not.toContain('warning');
  });
});
