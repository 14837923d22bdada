// Central configuration against a real HTTPS server on 127.0.0.1: signed versions are applied within
// pollSec through the same apply as the dashboard's edits (queued items kept); tampered, unsigned, broken,
// missing, oversized and slow versions are refused with their reason while the running flows stay; with
// the server down the last good version runs, also after a restart; the admin API refuses local edits.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { startWithAdmin, type AdminServer } from '../../main/engine/admin/server.ts';
import { SecretStore } from '../../main/engine/secrets.ts';
import { readPrivateKey, signBytes, versionOf, writeKeyPair } from '../../main/engine/config-source/signing.ts';
import { startConfigServer, type ConfigServer } from '../helpers/config-server.ts';
import { issue, makeCa } from '../helpers/certs.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { request } from '../helpers/admin.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const dir = tempDir('ferry-central-');
const keys = writeKeyPair(path.join(dir, 'keys'));
const key = readPrivateKey(keys.keyFile);
let server: ConfigServer;
let sink: Sink;
let engine: Engine;
let admin: AdminServer;
let localFile: string;
const secrets = () => new SecretStore(path.join(dir, 'data'), { masterKey: 'test-master-key' });

/** A central file with one folder → HTTP flow per name. */
function central(flows: Array<{ name: string; token?: string }>, extra: Record<string, unknown> = {}): string {
  return YAML.stringify({
    ...extra,
    integrations: [{
      name: 'branch',
      flows: flows.map((f) => ({
        name: f.name,
        source: { type: 'folder', path: `./in-${f.name}` },
        destination: { type: 'http', url: `${sink.url}/${f.name}`, headers: { 'x-token': f.token ?? '${secret:SINK_TOKEN}' } },
        retry: { maxAttempts: 50, initialDelayMs: 50, maxDelayMs: 200 },
        circuitBreaker: { failureThreshold: 1000 },
      })),
    }],
  });
}

/** Publishes `text` signed (or with the signature of `signedText` when given: a tampered file). */
function publish(text: string, signedText = text): string {
  server.files.set('/ferry.yaml', Buffer.from(text));
  server.files.set('/ferry.yaml.sig', Buffer.from(`${signBytes(Buffer.from(signedText), key)}\n`));
  return versionOf(Buffer.from(text));
}

function open(): Engine {
  const store = secrets();
  return Engine.open(loadConfig(localFile, { secrets: store.lookup() }), { secrets: store, stopGraceMs: 1000 });
}

const api = (method: string, p: string, body?: unknown) =>
  request(admin.port, method, p, { body: body === undefined ? undefined : JSON.stringify(body), headers: { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' } });

const source = () => engine.status().configSource!;

beforeAll(async () => {
  const ca = makeCa('Ferry Central Config CA');
  const cert = issue(ca, '127.0.0.1');
  server = await startConfigServer({ cert: cert.certPem, key: cert.keyPem });
  // the destination fails until told otherwise: items wait in the queue across a version change
  let failing = true;
  sink = await startSink((req) => (req.url === '/orders' && failing ? { status: 503 } : undefined));
  (sink as Sink & { heal(): void }).heal = () => (failing = false);
  for (const n of ['orders', 'invoices']) fs.mkdirSync(path.join(dir, `in-${n}`), { recursive: true });
  localFile = path.join(dir, 'ferry.yaml');
  fs.writeFileSync(localFile, YAML.stringify({
    dataDir: './data',
    admin: { port: 0 },
    network: { tls: { ca: [ca.cert] } },
    configSource: { url: `${server.url}/ferry.yaml`, pollSec: 1, publicKey: fs.readFileSync(keys.pubFile, 'utf8').trim(), timeoutMs: 1500, maxBytes: 64 * 1024 },
  }));
  secrets().set('SINK_TOKEN', 'tok-resolved-locally');
});

afterAll(async () => {
  await engine?.stop();
  await server?.close();
  await sink?.close();
});

describe('configSource', () => {
  it('starts with no flows, then applies the first signed version, resolving ${secret:} locally', async () => {
    const v1 = publish(central([{ name: 'orders' }]));
    engine = open();
    expect(engine.flows.size).toBe(0);
    admin = await startWithAdmin(engine);
    await waitFor(() => source().version === v1, 'version 1 applied');
    expect([...engine.flows.keys()]).toEqual(['orders']);
    expect(source().appliedAt).toBeTruthy();
    expect(source().refused).toBeNull();
    // the secret's value came from this machine's store, not from the central file
    expect(server.files.get('/ferry.yaml')!.toString()).not.toContain('tok-resolved-locally');
    fs.writeFileSync(path.join(dir, 'in-orders', 'a.csv'), 'id\n1\n');
    await waitFor(() => sink.received.some((r) => r.url === '/orders'), 'a delivery attempt');
    expect(sink.received.find((r) => r.url === '/orders')!.headers['x-token']).toBe('tok-resolved-locally');
    expect(engine.queue.count({ flow: 'orders', state: 'retrying' }) + engine.queue.count({ flow: 'orders', state: 'queued' }) + engine.queue.count({ flow: 'orders', state: 'inflight' })).toBe(1);
  });

  it('asks again with If-None-Match and gets 304 while nothing changed', async () => {
    const before = server.log.length;
    await waitFor(() => server.log.slice(before).some((r) => r.path === '/ferry.yaml' && r.status === 304 && r.ifNoneMatch), 'a 304 to a conditional GET');
  });

  it('applies a new version within pollSec: a changed flow keeps its queued items, a new flow starts', async () => {
    (sink as Sink & { heal(): void }).heal();
    const v2 = publish(central([{ name: 'orders' }, { name: 'invoices' }], { logLevel: 'info' }));
    await waitFor(() => source().version === v2, 'version 2 applied');
    expect([...engine.flows.keys()]).toEqual(['orders', 'invoices']);
    // the item queued under version 1 is delivered (nothing lost across the change)
    await waitFor(() => engine.queue.count({ flow: 'orders', state: 'delivered' }) === 1, 'the queued item delivered');
    const events = engine.queue.events(0).filter((e) => e.type === 'config').map((e) => JSON.parse(e.data!));
    expect(events.some((e) => e.applied === v2)).toBe(true);
  });

  const refusals: Array<[string, () => void, RegExp]> = [
    ['a tampered file (signed bytes changed)', () => publish(central([{ name: 'evil' }]), central([{ name: 'orders' }])), /signature does not match/],
    ['a file signed by another key', () => {
      const other = readPrivateKey(writeKeyPair(tempDir('ferry-otherkey-')).keyFile);
      const text = central([{ name: 'other' }]);
      server.files.set('/ferry.yaml', Buffer.from(text));
      server.files.set('/ferry.yaml.sig', Buffer.from(signBytes(Buffer.from(text), other)));
    }, /signature does not match/],
    ['no signature', () => {
      server.files.set('/ferry.yaml', Buffer.from(central([{ name: 'unsigned' }])));
      server.files.delete('/ferry.yaml.sig');
    }, /no signature: .*ferry\.yaml\.sig answered HTTP 404/],
    ['invalid YAML', () => publish('integrations: [\n  - name: x\n    flows: {'), /invalid: central configuration line \d+/],
    ['a schema error', () => publish(YAML.stringify({ integrations: [{ name: 'branch', flows: [{ name: 'bad', source: { type: 'folder' }, destination: { type: 'http', url: 'ftp:/x' } }] }] })), /invalid: integrations\[0\]\.flows\[0\]\.(source\.path|destination\.url)/],
    ['a machine-local key in the central file', () => publish(central([{ name: 'orders' }], { dataDir: '/tmp/elsewhere' })), /invalid: dataDir: not allowed in the central configuration/],
    ['a secret missing on this machine', () => publish(central([{ name: 'orders', token: '${secret:NOT_HERE}' }])), /invalid: .*secret NOT_HERE is not set/],
    ['404', () => server.files.delete('/ferry.yaml'), /ferry\.yaml answered HTTP 404 \(not found\)/],
    ['too large', () => publish(`# ${'x'.repeat(70 * 1024)}\n${central([{ name: 'orders' }])}`), /too large: .* \(configSource\.maxBytes 65536\)|too large/],
    ['too slow', () => {
      publish(central([{ name: 'slowpoke' }]));
      server.trouble.set('/ferry.yaml', { delayMs: 4000 });
    }, /too slow: no complete answer .* within 1500 ms/],
    ['truncated', () => {
      server.trouble.clear();
      publish(central([{ name: 'cut' }]));
      server.trouble.set('/ferry.yaml', 'truncate');
    }, /truncated/],
  ];

  for (const [what, make, reason] of refusals) {
    it(`refuses ${what}: the running version and flows stay, the reason shows in status and the API`, async () => {
      const running = source().version;
      const flows = [...engine.flows.keys()];
      const since = Date.now();
      make();
      const refused = await waitFor(() => {
        const r = source().refused;
        return r && Date.parse(r.at) >= since - 5 && reason.test(r.reason) ? r : undefined;
      }, `refusal matching ${reason}`, 20_000);
      expect(source().version).toBe(running);
      expect([...engine.flows.keys()]).toEqual(flows);
      const status = await api('GET', '/api/status');
      expect(status.json.configSource.refused.reason).toBe(refused.reason);
      expect(status.json.configSource.version).toBe(running);
    });
  }

  it('a refusal ends when the server serves the running version again', async () => {
    server.trouble.clear();
    publish(central([{ name: 'orders' }, { name: 'invoices' }], { logLevel: 'info' }));
    await waitFor(() => source().refused === null, 'refusal cleared');
  });

  it('the admin API refuses edits of centrally defined settings and says why; GET /api/config says it is managed', async () => {
    const put = await api('PUT', '/api/config/integrations/branch/flows/orders', { name: 'orders', source: { type: 'folder', path: './x' }, destination: { type: 'folder', path: './y' } });
    expect(put.status).toBe(409);
    expect(put.json.error).toMatch(/integrations and flows cannot be changed here: Managed centrally: the integrations come from https:\/\/127\.0\.0\.1:\d+\/ferry\.yaml/);
    const del = await api('DELETE', '/api/config/integrations/branch');
    expect(del.status).toBe(409);
    const level = await api('PUT', '/api/settings', { logLevel: 'debug' });
    expect(level.status).toBe(409);
    expect(level.json.error).toMatch(/logLevel cannot be changed here/);
    const view = await api('GET', '/api/config');
    expect(view.json.managedBy.reason).toMatch(/Managed centrally/);
    expect(view.json.managedBy.version).toBe(source().version);
    expect(view.json.config.integrations[0].flows.map((f: { name: string }) => f.name)).toEqual(['orders', 'invoices']);
    // the secret stays a template in what the API shows
    expect(view.text).not.toContain('tok-resolved-locally');
    expect(view.text).toContain('${secret:SINK_TOKEN}');
    const check = await api('POST', '/api/config/source/check');
    expect(check.json).toMatchObject({ result: 'unchanged', version: source().version });
  });

  it('with the server down the last good version runs, also after a restart', async () => {
    const good = source().version!;
    await server.close();
    await waitFor(() => source().refused?.reason.match(/cannot fetch https:\/\/127\.0\.0\.1:\d+\/ferry\.yaml/), 'server-down reason');
    expect(source().version).toBe(good);
    await engine.stop();
    engine = open();
    // the stored version is loaded before any fetch
    expect([...engine.flows.keys()]).toEqual(['orders', 'invoices']);
    expect(engine.loaded.managed?.version).toBe(good);
    admin = await startWithAdmin(engine);
    await waitFor(() => source().refused?.reason.match(/cannot fetch/), 'server still down after restart');
    expect(source().version).toBe(good);
    expect(source().appliedAt).toBeTruthy();
    fs.writeFileSync(path.join(dir, 'in-invoices', 'b.csv'), 'id\n2\n');
    await waitFor(() => engine.queue.count({ flow: 'invoices', state: 'delivered' }) === 1, 'a delivery with the server down');
  });

  it('a stored version that no longer verifies is not run (the data dir is not trusted blindly)', async () => {
    await engine.stop();
    const stored = path.join(dir, 'data', 'config-source', 'current.conf');
    fs.appendFileSync(stored, '\n# changed on disk\n');
    const loaded = loadConfig(localFile, { secrets: secrets().lookup() });
    expect(loaded.config.integrations).toEqual([]);
    expect(loaded.warnings?.join('\n')).toMatch(/stored configuration .* is not used: signature does not match/);
  });
});

describe('configSource in the local file', () => {
  it('refuses integrations and shared keys beside configSource, naming them', () => {
    const f = path.join(tempDir('ferry-central-local-'), 'ferry.yaml');
    fs.writeFileSync(f, YAML.stringify({ configSource: { url: 'https://c.example/f.yaml', publicKey: fs.readFileSync(keys.pubFile, 'utf8').trim() }, integrations: [], retention: { deliveredDays: 1 } }));
    expect(() => loadConfig(f)).toThrow(/integrations: not allowed beside configSource[\s\S]*retention: not allowed beside configSource/);
  });

  it('refuses a publicKey that is not a ferry-config.pub line', () => {
    const f = path.join(tempDir('ferry-central-local-'), 'ferry.yaml');
    fs.writeFileSync(f, YAML.stringify({ configSource: { url: 'https://c.example/f.yaml', publicKey: 'ssh-ed25519 AAAA' } }));
    expect(() => loadConfig(f)).toThrow(/configSource\.publicKey: expected the line of ferry-config\.pub/);
  });
});
