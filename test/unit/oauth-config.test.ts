// The `connections:` config (schema, presets and their quirks, references from flows, the old inline auth
// unchanged), the consent's pieces (authorize URL with PKCE S256 and state, what an admin may paste), and the
// token store (encrypted at rest, bound to its connection, atomic, locked across processes).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../main/engine/config/load.ts';
import { resolveConnection, inlineConnection, type ConnectionConfig } from '../../main/engine/oauth/config.ts';
import { newConsent, parsePasted, sameRedirect, ConsentError } from '../../main/engine/oauth/consent.ts';
import { TokenStore, TokenStoreError, type StoredTokens } from '../../main/engine/oauth/token-store.ts';
import { scrubTokens } from '../../main/engine/oauth/scrub.ts';
import { SecretStore } from '../../main/engine/secrets.ts';
import { openStore } from '../../main/engine/engine.ts';
import { tempDir } from '../helpers/tmp.ts';
import { repoRoot } from '../helpers/cli.ts';

const flow = (auth: unknown) => ({
  name: 'orders',
  source: { type: 'folder', path: './in' },
  destination: { type: 'http', url: 'https://api.example.com/orders', auth },
});

function parse(cfg: Record<string, unknown>) {
  return parseConfigText(JSON.stringify({ dataDir: '/tmp/x', ...cfg }), '/tmp/ferry.yaml');
}

function problems(cfg: Record<string, unknown>): string[] {
  const r = parse(cfg);
  return r.ok ? [] : r.problems;
}

const connection = (c: Record<string, unknown>): ConnectionConfig => {
  const r = parse({ connections: { c }, integrations: [] });
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.value.config.connections.c;
};

describe('connections: config', () => {
  it('accepts a connection and flows that refer to it; a missing one is named with the ones there are', () => {
    const crm = { type: 'oauth2', authorizeUrl: 'https://id.example.com/authorize', tokenUrl: 'https://id.example.com/token', clientId: 'app', scopes: 'crm offline_access' };
    expect(problems({ connections: { crm }, integrations: [{ name: 'i', flows: [flow({ type: 'oauth2', connection: 'crm' })] }] })).toEqual([]);
    expect(problems({ connections: { crm }, integrations: [{ name: 'i', flows: [flow({ type: 'oauth2', connection: 'erp' })] }] })).toEqual([
      'integrations[0].flows[0].destination.auth.connection: no connection named "erp" (connections: crm)',
    ]);
    // a connection carries the client settings: they are not repeated in the flow
    expect(problems({ connections: { crm }, integrations: [{ name: 'i', flows: [flow({ type: 'oauth2', connection: 'crm', clientId: 'x' })] }] })).toEqual([
      'integrations[0].flows[0].destination.auth.clientId: not allowed with connection (the connection "crm" holds the client settings)',
    ]);
  });

  it('keeps the inline client credentials and refresh-token settings working unchanged', () => {
    expect(problems({ integrations: [{ name: 'i', flows: [flow({ type: 'oauth2', tokenUrl: 'https://id.example.com/token', clientId: 'a', clientSecret: 's' })] }] })).toEqual([]);
    expect(problems({ integrations: [{ name: 'i', flows: [flow({ type: 'oauth2', grant: 'refresh_token', tokenUrl: 'https://id.example.com/token', clientId: 'a' })] }] })).toEqual([
      'integrations[0].flows[0].destination.auth.refreshToken: expected refreshToken for grant: refresh_token',
    ]);
    expect(problems({ integrations: [{ name: 'i', flows: [flow({ type: 'oauth2', clientId: 'a' })] }] })).toEqual([
      'integrations[0].flows[0].destination.auth.tokenUrl: required (expected the token endpoint URL, or connection: NAME)',
    ]);
  });

  it('names what a connection lacks, key by key', () => {
    expect(problems({ connections: { crm: { type: 'oauth2', clientId: 'a' } }, integrations: [] })).toEqual([
      'connections.crm.authorizeUrl: required for grant authorization_code (or a preset)',
      'connections.crm.tokenUrl: required (or a preset)',
    ]);
    expect(problems({ connections: { crm: { type: 'oauth2', preset: 'xero', clientId: 'a', tenant: 't' } }, integrations: [] })).toEqual(['connections.crm.tenant: only with preset: microsoft']);
    expect(problems({ connections: { crm: { type: 'oauth2', preset: 'sap', clientId: 'a' } }, integrations: [] })[0]).toMatch(/^connections\.crm\.preset: expected one of "microsoft" \| "google" \| "salesforce" \| "hubspot" \| "xero" \| "quickbooks", got "sap"$/);
    expect(problems({ connections: { 'bad name': { type: 'oauth2', preset: 'google', clientId: 'a' } }, integrations: [] })[0]).toMatch(/^connections\.bad name: expected a connection name of letters/);
    expect(problems({ connections: { svc: { type: 'oauth2', grant: 'client_credentials', tokenUrl: 'https://x.example.com/t', clientId: 'a' } }, integrations: [] })).toEqual(['connections.svc.clientSecret: required for grant client_credentials']);
  });

  it('presets fill the endpoints and the quirks that decide whether a consent brings a refresh token', () => {
    const ms = resolveConnection('m365', connection({ type: 'oauth2', preset: 'microsoft', tenant: 'contoso.onmicrosoft.com', clientId: 'a', scopes: ['https://graph.microsoft.com/Files.ReadWrite'] }));
    expect(ms.authorizeUrl).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize');
    expect(ms.tokenUrl).toBe('https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token');
    expect(ms.scopes).toEqual(['https://graph.microsoft.com/Files.ReadWrite', 'offline_access']);
    expect(ms.revokeUrl).toBeUndefined();
    expect(ms.revokeHint).toMatch(/no revocation endpoint/);
    expect(resolveConnection('m', connection({ type: 'oauth2', preset: 'microsoft', clientId: 'a' })).tokenUrl).toContain('/common/');

    const google = resolveConnection('g', connection({ type: 'oauth2', preset: 'google', clientId: 'a', scopes: 'https://www.googleapis.com/auth/drive.file' }));
    expect(google.authorizeParams).toEqual({ access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' });
    expect(google.revokeUrl).toBe('https://oauth2.googleapis.com/revoke');
    expect(google.clientAuth).toBe('body');

    const sf = resolveConnection('sf', connection({ type: 'oauth2', preset: 'salesforce', domain: 'test.salesforce.com', clientId: 'a', scopes: ['api'] }));
    expect(sf.authorizeUrl).toBe('https://test.salesforce.com/services/oauth2/authorize');
    expect(sf.scopes).toEqual(['api', 'refresh_token']);
    expect(sf.accessTokenLifetimeSec).toBe(7200); // Salesforce states no expires_in
    expect(sf.keepFromToken).toEqual(['instance_url']);

    const qb = resolveConnection('qb', connection({ type: 'oauth2', preset: 'quickbooks', clientId: 'a', clientSecret: 's', scopes: 'com.intuit.quickbooks.accounting' }));
    expect(qb.revokeStyle).toBe('json');
    expect(qb.keepFromCallback).toEqual(['realmId']);
    expect(resolveConnection('x', connection({ type: 'oauth2', preset: 'xero', clientId: 'a', scopes: 'accounting.transactions' })).scopes).toContain('offline_access');
    expect(resolveConnection('h', connection({ type: 'oauth2', preset: 'hubspot', clientId: 'a', scopes: 'crm.objects.contacts.write' })).scopes).toContain('oauth');

    // the admin's keys win over the preset's
    const own = resolveConnection('g', connection({ type: 'oauth2', preset: 'google', clientId: 'a', tokenUrl: 'https://proxy.example.com/token', clientAuth: 'basic', authorizeParams: { prompt: 'select_account consent' } }));
    expect(own.tokenUrl).toBe('https://proxy.example.com/token');
    expect(own.clientAuth).toBe('basic');
    expect(own.authorizeParams.prompt).toBe('select_account consent');
  });

  it('flows with the same inline settings share one connection; a new pasted refresh token makes another', () => {
    const a = { grant: 'refresh_token' as const, tokenUrl: 'https://id.example.com/token', clientId: 'a', refreshToken: 'r1', clientAuth: 'basic' as const };
    expect(inlineConnection(a, 'one').key).toBe(inlineConnection({ ...a, clientSecret: 'changed' }, 'two').key);
    expect(inlineConnection(a, 'one').key).not.toBe(inlineConnection({ ...a, refreshToken: 'r2' }, 'one').key);
    expect(inlineConnection(a, 'one').key).toMatch(/^inline-[0-9a-f]{20}$/);
  });
});

describe('consent: authorize URL and pasted answers', () => {
  const crm = resolveConnection('crm', connection({ type: 'oauth2', authorizeUrl: 'https://id.example.com/authorize?tenant=9', tokenUrl: 'https://id.example.com/token', clientId: 'app', scopes: ['a', 'offline_access'], authorizeParams: { prompt: 'consent' } }));

  it('asks with PKCE S256 (the challenge is the verifier\'s SHA-256) and a fresh state each time', () => {
    const s = newConsent(crm, 'http://127.0.0.1:7399/oauth/callback');
    const u = new URL(s.authorizeUrl);
    expect(Object.fromEntries(u.searchParams)).toEqual({
      tenant: '9',
      prompt: 'consent',
      response_type: 'code',
      client_id: 'app',
      redirect_uri: 'http://127.0.0.1:7399/oauth/callback',
      state: s.state,
      code_challenge: crypto.createHash('sha256').update(s.verifier).digest('base64url'),
      code_challenge_method: 'S256',
      scope: 'a offline_access',
    });
    expect(s.verifier).toMatch(/^[\w-]{43}$/);
    expect(newConsent(crm, 'http://127.0.0.1:7399/oauth/callback').state).not.toBe(s.state);
    const svc = resolveConnection('svc', connection({ type: 'oauth2', grant: 'client_credentials', tokenUrl: 'https://id.example.com/token', clientId: 'a', clientSecret: 's' }));
    expect(() => newConsent(svc, 'http://127.0.0.1:1/oauth/callback')).toThrow(ConsentError);
  });

  it('reads a pasted redirect address, its query, or a bare code; refuses what is none of them', () => {
    expect(parsePasted(' http://127.0.0.1:7399/oauth/callback?code=c1&state=s1 \n')).toEqual({ params: new URLSearchParams({ code: 'c1', state: 's1' }), arrivedAt: 'http://127.0.0.1:7399/oauth/callback' });
    expect(Object.fromEntries(parsePasted('?code=c2&state=s2').params)).toEqual({ code: 'c2', state: 's2' });
    expect(Object.fromEntries(parsePasted('4/0AX4XfWh-code').params)).toEqual({ code: '4/0AX4XfWh-code' });
    expect(() => parsePasted('   ')).toThrow(/nothing pasted/);
    expect(() => parsePasted('the code is abc')).toThrow(/neither the redirect address nor a code/);
    expect(sameRedirect('http://localhost:7399/oauth/callback', 'http://127.0.0.1:7399/oauth/callback')).toBe(true);
    expect(sameRedirect('http://127.0.0.1:7400/oauth/callback', 'http://127.0.0.1:7399/oauth/callback')).toBe(false);
  });
});

describe('token store', () => {
  /** A data dir with its database (closed after the test file). */
  const dataDir = () => {
    const dir = tempDir();
    const store = openStore(dir);
    closers.push(() => store.close());
    return { dir, db: store.db };
  };
  const closers: Array<() => void> = [];
  afterAll(() => closers.forEach((c) => c()));

  const tokens = (over: Partial<StoredTokens> = {}): StoredTokens => ({
    client: 'c',
    refreshToken: `rt-${crypto.randomBytes(16).toString('hex')}`,
    accessToken: `at-${crypto.randomBytes(16).toString('hex')}`,
    expiresAt: Date.now() + 60_000,
    connectedAt: Date.now(),
    details: {},
    ...over,
  });

  it('keeps tokens encrypted with the secrets\' key, bound to their connection, and reads them back', () => {
    const { dir, db } = dataDir();
    const store = new TokenStore(dir, db, new SecretStore(dir, { masterKey: 'master' }));
    const t = tokens();
    store.write('crm', t);
    const envelope = () => db.prepare<[string], { envelope: string }>('SELECT envelope FROM oauth_tokens WHERE key = ?').get('crm')!.envelope;
    expect(envelope()).not.toContain(t.refreshToken);
    expect(envelope()).not.toContain(t.accessToken);
    for (const f of fs.readdirSync(dir).filter((f) => f.startsWith('ferry.db'))) {
      const bytes = fs.readFileSync(path.join(dir, f));
      expect(bytes.includes(t.refreshToken!)).toBe(false);
      expect(bytes.includes(t.accessToken!)).toBe(false);
    }
    expect(new TokenStore(dir, db, new SecretStore(dir, { masterKey: 'master' })).read('crm')).toEqual(t);
    // another master key cannot read them
    expect(() => new TokenStore(dir, db, new SecretStore(dir, { masterKey: 'other' })).read('crm')).toThrow(/cannot decrypt the tokens of connection crm: FERRY_MASTER_KEY .* differs/);
    // an envelope copied over another connection's is refused (its name is part of the encryption)
    db.prepare("INSERT INTO oauth_tokens (key, envelope, updated_at) VALUES ('erp', ?, 0)").run(envelope());
    expect(() => store.read('erp')).toThrow(TokenStoreError);
    expect(store.list()).toEqual(['crm', 'erp']);
    store.remove('erp');
    expect(store.list()).toEqual(['crm']);
  });

  it('without FERRY_MASTER_KEY uses the key file; in memory keeps nothing on disk', () => {
    const { dir, db } = dataDir();
    const store = new TokenStore(dir, db, new SecretStore(dir, { masterKey: '' }));
    store.write('crm', tokens());
    expect(fs.existsSync(path.join(dir, 'secrets.key'))).toBe(true);
    expect(JSON.parse(db.prepare<[], { envelope: string }>('SELECT envelope FROM oauth_tokens').get()!.envelope).keySource).toBe('keyfile');
    const mem = new TokenStore(dir, db, 'memory');
    mem.write('mem', tokens());
    expect(mem.read('mem')).toBeDefined();
    expect(mem.dir).toBeUndefined();
    expect(store.list()).toEqual(['crm']);
  });

  it('one holder of a connection\'s lock at a time, in this process and across processes; a killed holder\'s lock is free again', async () => {
    const { dir, db } = dataDir();
    const store = new TokenStore(dir, db, new SecretStore(dir, { masterKey: 'm' }));
    const order: string[] = [];
    await Promise.all([1, 2, 3].map((n) => store.withLock('crm', async () => {
      order.push(`in ${n}`);
      await new Promise((r) => setTimeout(r, 20));
      order.push(`out ${n}`);
    })));
    expect(order).toEqual(['in 1', 'out 1', 'in 2', 'out 2', 'in 3', 'out 3']);
    // another process (a `ferry check`) holds the lock while it refreshes, then is killed
    const script = path.join(dir, 'holder.mts');
    fs.writeFileSync(script, `import { TokenStore } from ${JSON.stringify(path.join(repoRoot, 'main/engine/oauth/token-store.ts'))};
      const store = new TokenStore(${JSON.stringify(dir)}, undefined, { fileKey() { throw new Error('unused'); } });
      await store.withLock('crm', async () => { console.log('holding'); await new Promise(() => setInterval(() => {}, 1000)); });`);
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/run-ts.js'), script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d) => String(d).includes('holding') && resolve()));
    const waiting = store.withLock('crm', async () => 'got it');
    const early = await Promise.race([waiting, new Promise((r) => setTimeout(() => r('still locked'), 300))]);
    expect(early).toBe('still locked'); // a live holder is waited for
    child.kill('SIGKILL');
    expect(await waiting).toBe('got it');
  });

  it('remembers every token it saw, so logs and replies can be scrubbed of them', () => {
    const { dir, db } = dataDir();
    const store = new TokenStore(dir, db, new SecretStore(dir, { masterKey: 'm' }));
    const t = tokens();
    store.write('crm', t);
    expect(scrubTokens(`401 from api: {"echo":"Bearer ${t.accessToken}","rt":"${t.refreshToken}"}`)).toBe('401 from api: {"echo":"Bearer [token]","rt":"[token]"}');
  });
});
