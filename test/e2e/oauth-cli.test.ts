// OAuth connections through the real CLI against a real authorization server (oidc-provider, refresh-token
// rotation on, 2-second access tokens): `ferry connect` headless (the address pasted back) with and without a
// running engine, deliveries with the tokens, a clean restart and a kill -9 right after a refresh continuing
// with the rotated refresh token, `ferry status`, `ferry disconnect`, and no token issued anywhere in plain
// text in the data dir, the logs or the output.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ferryBin, runCli, startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { connectionFor, consentOverHttp, startAuthServer, startProtectedApi, type AuthServer, type ProtectedApi } from '../helpers/oauth-provider.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { TokenStore } from '../../main/engine/oauth/token-store.ts';
import { SecretStore } from '../../main/engine/secrets.ts';
import { openStore } from '../../main/engine/engine.ts';

let auth: AuthServer;
let api: ProtectedApi;
let dir: string;
let config: string;
let ferry: RunningFerry | undefined;
const outputs: string[] = [];
const env = { FERRY_MASTER_KEY: 'oauth-cli-test-master-key', CRM_CLIENT_SECRET: '' };
/** Access tokens the API saw used before Ferry had stored them (must stay empty: stored first, then used). */
const usedBeforeStored: string[] = [];

beforeAll(async () => {
  auth = await startAuthServer({ accessTtlSec: 2 });
  api = await startProtectedApi(auth);
  env.CRM_CLIENT_SECRET = auth.client.secret;
  dir = tempDir('ferry-oauth-cli-');
  // the test reads Ferry's stored tokens with the same key the moment a new access token reaches the API
  api.onFirstUse = (token) => {
    const store = new TokenStore(path.join(dir, 'data'), db(), new SecretStore(path.join(dir, 'data'), { masterKey: env.FERRY_MASTER_KEY }));
    if (store.read('crm')?.accessToken !== token) usedBeforeStored.push(token.slice(0, 8));
  };
  fs.mkdirSync(path.join(dir, 'orders'));
  config = writeConfig(dir, {
    dataDir: './data',
    admin: { port: 0 },
    connections: { crm: connectionFor(auth, { clientSecret: '${env:CRM_CLIENT_SECRET}' }) },
    integrations: [{ name: 'crm', flows: [{ name: 'orders', source: { type: 'folder', path: './orders', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${api.url}/orders`, auth: { type: 'oauth2', connection: 'crm' } } }] }],
  });
}, 60_000);

afterAll(async () => {
  opened?.close();
  if (ferry) outputs.push((await ferry.stop(), ferry.output()));
  await api?.close();
  await auth?.close();
});

/**
 * Runs `ferry connect crm` headless: reads the consent address it prints, gives consent on the provider's pages,
 * then either pastes the address the browser ended on (a browser on another machine) or opens it (one here).
 */
function connectHeadless(how: 'paste' | 'open'): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ferryBin, 'connect', 'crm', '--config', config, '--no-browser'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let started = false;
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\/auth\?\S+/.exec(out);
      if (!m || started) return;
      started = true;
      consentOverHttp(m[0]).then(async (redirect) => {
        if (how === 'paste') child.stdin.write(`${redirect}\n`);
        else await fetch(redirect);
      }, reject);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      outputs.push(out);
      resolve({ code, out });
    });
  });
}

/** Every token the provider issued that appears in plain text in the data dir (database, WAL, token files, logs) or the CLI's output. */
function plainTokens(): string[] {
  const tokens = [...auth.issued];
  const files = (fs.readdirSync(path.join(dir, 'data'), { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  const found: string[] = [];
  for (const f of files) {
    const bytes = fs.readFileSync(f);
    for (const t of tokens) if (bytes.includes(t)) found.push(`${path.relative(dir, f)}: ${t.slice(0, 8)}…`);
  }
  for (const [i, o] of outputs.entries()) for (const t of tokens) if (o.includes(t)) found.push(`output ${i}: ${t.slice(0, 8)}…`);
  return found;
}

/** Ferry's database, read beside the running engine (WAL: readers do not block it). */
let opened: ReturnType<typeof openStore> | undefined;
const db = () => (opened ??= openStore(path.join(dir, 'data'), { create: false })).db;
/** The stored (encrypted) tokens of crm and when they were written. */
const stored = () => db().prepare<[], { envelope: string; updated_at: number }>("SELECT envelope, updated_at FROM oauth_tokens WHERE key = 'crm'").get();
const refreshes = () => auth.tokenRequests.filter((r) => r.grant === 'refresh_token');
/** Drops a file every 400 ms until Ferry has refreshed its token (2-second tokens). */
async function untilRefreshed(what: string): Promise<void> {
  const n = refreshes().length;
  await waitFor(() => {
    drop(1);
    return refreshes().length > n;
  }, what, 15_000, 400);
}
let dropped = 0;
/** Items the API took, each once (a kill -9 mid-delivery may send one again: at-least-once, same key). */
const delivered = () => new Set(api.accepted.map((a) => a.idempotencyKey)).size;
function drop(n = 1): void {
  for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, 'orders', `o${++dropped}.json`), JSON.stringify({ n: dropped }));
}

describe('ferry connect, restarts and kill -9 with a rotating refresh token', () => {
  it('without a running Ferry, `ferry connect` listens for the redirect itself; `ferry status` shows the connection', async () => {
    const before = await runCli(['status', '--config', config], { env });
    expect(before.code).toBe(2); // no queue yet
    const r = await connectHeadless('open');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/To connect crm, open this address in a browser \(on any machine\) and give consent:/);
    expect(r.out).toMatch(/The provider sends the browser back to http:\/\/127\.0\.0\.1:\d+\/oauth\/callback\./);
    expect(r.out).toMatch(/Connected crm\.\n$/);
    const status = await runCli(['status', '--config', config], { env });
    outputs.push(status.stdout);
    expect(status.stdout).toMatch(/CONNECTION\s+PROVIDER\s+STATE\s+LAST REFRESH\s+USED BY\ncrm\s+127\.0\.0\.1:\d+\s+connected\s+\S+ s ago\s+orders/);
  });

  it('the running engine takes over the tokens; deliveries use them; a headless `ferry connect` through the engine pastes the address back', async () => {
    ferry = await startFerry(config, { env });
    drop(2);
    await waitFor(() => api.accepted.length === 2, 'delivered with the stored token');
    const r = await connectHeadless('paste');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/paste the address the browser ended on|pipe in the address the browser ended on/);
    expect(r.out).toMatch(/Connection crm connected \(scopes: openid offline_access crm\.write\); flows using it: orders\.\n$/);
    drop(1);
    await waitFor(() => api.accepted.length === 3, 'delivered with the new consent');
    expect(api.accepted[2].token).not.toBe(api.accepted[0].token);
  });

  it('a clean restart continues with the rotated refresh token', async () => {
    // a refresh (2 s tokens) while running, then a restart
    await untilRefreshed('a refresh while running');
    await waitFor(() => delivered() === dropped, 'everything delivered');
    outputs.push((await ferry!.stop(), ferry!.output()));
    ferry = await startFerry(config, { env });
    await untilRefreshed('a refresh after the restart');
    await waitFor(() => delivered() === dropped, 'everything delivered after the restart');
    expect(refreshes().every((r) => r.status === 200)).toBe(true);
    expect(auth.reuseDetected).toBe(0);
  }, 60_000);

  it('kill -9 right after a refresh: the rotated refresh token was stored before it was used; after the restart deliveries go on', async () => {
    for (let round = 0; round < 3; round++) {
      const n = refreshes().length;
      const storedAt = stored()!.updated_at;
      // load until the provider answers a refresh, then kill Ferry the moment the new tokens are on disk
      const feeder = setInterval(() => drop(1), 150);
      await waitFor(() => refreshes().length > n && stored()!.updated_at !== storedAt, 'a refresh stored', 15_000, 2);
      await ferry!.kill9();
      clearInterval(feeder);
      outputs.push(ferry!.output());
      ferry = await startFerry(config, { env });
      await waitFor(() => delivered() === dropped, `everything delivered after kill -9 number ${round + 1}`, 30_000);
    }
    // the refresh after the last restart used the token stored before the kill, and the provider took it
    await untilRefreshed('a refresh after the last restart');
    await waitFor(() => delivered() === dropped, 'everything delivered');
    expect(refreshes().every((r) => r.status === 200)).toBe(true);
    expect(new Set(refreshes().map((r) => r.refreshToken)).size).toBe(refreshes().length);
    expect(auth.reuseDetected).toBe(0);
    expect(api.refused).toBe(0);
    expect(usedBeforeStored).toEqual([]);
    const status = JSON.parse((await runCli(['status', '--config', config, '--json'], { env })).stdout);
    expect(status.connections).toMatchObject([{ name: 'crm', state: 'connected', usedBy: ['orders'] }]);
    // refreshes are counted (the count is saved within 2 s, so the kill -9 may take the last ones with it)
    expect(status.connections[0].refreshes).toBeGreaterThan(0);
    // the tokens are on disk, encrypted
    expect(stored()!.envelope).toMatch(/^\{"version":1,"keySource":"env",/);
    expect(plainTokens()).toEqual([]);
  }, 120_000);

  it('`ferry disconnect` revokes through the engine; deliveries wait, nothing is lost', async () => {
    const last = api.accepted[api.accepted.length - 1].token;
    const r = await runCli(['disconnect', 'crm', '--config', config], { env });
    expect(r.stdout).toMatch(/^Tokens of crm revoked at 127\.0\.0\.1:\d+ and forgotten\.\n$/);
    expect(await auth.provider.AccessToken.find(last)).toBeUndefined();
    drop(1);
    await waitFor(async () => /orders\s+waiting\s+1\s/.test((await runCli(['status', '--config', config], { env })).stdout), 'the flow waiting with its item');
    const status = await runCli(['status', '--config', config], { env });
    outputs.push(status.stdout);
    expect(status.stdout).toContain('orders: deliveries wait: connection crm needs consent (items stay queued)');
    expect(status.stdout).toMatch(/connection crm: consent needed: disconnected .* UTC: connect again to resume the flows using it/);
    expect((await runCli(['connect', 'nope', '--config', config], { env })).stderr).toBe(`ferry: no connection named "nope" in ${config} (connections: crm)\n`);
  });

  it('no token issued is anywhere in plain text: data dir (database, WAL, token files), logs, command output', async () => {
    outputs.push((await ferry!.stop(), ferry!.output()));
    ferry = undefined;
    expect(auth.issued.size).toBeGreaterThan(15);
    expect(fs.existsSync(path.join(dir, 'data', 'logs', 'ferry.log'))).toBe(true);
    expect(stored()).toBeUndefined(); // disconnected: forgotten
    const found = plainTokens();
    expect(found).toEqual([]);
  });
});
