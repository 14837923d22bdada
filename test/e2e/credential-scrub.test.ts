// Credentials given as ${env:NAME} or ${secret:NAME} never come out of Ferry: an API answers 401 and echoes
// the key back (in its body and a header, as some do), the item goes dead with that reply, and then every
// byte of the data dir, the log file, `ferry queue show` and `/api/queue/:id` are searched for the key in
// every spelling it may take. Where the reply quoted it, [env:NAME] / [secret:NAME] stands instead.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { request } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const KEY = 'crm-key-5f0c2a9e71b4';
const PASSWORD = 'pw-8d13ab77e2';
const MASTER = 'scrub-test-master-key';

/** The ways the credentials could show up in a text or a file. */
const spellings = [KEY, PASSWORD, Buffer.from(`ferry:${PASSWORD}`).toString('base64')];

function filesUnder(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

function expectClean(text: string, where: string): void {
  for (const s of spellings) expect(text.includes(s), `${where} holds ${s}`).toBe(false);
}

let sink: Sink | undefined;
let ferry: RunningFerry | undefined;
afterAll(async () => {
  if (ferry && ferry.child.exitCode === null) await ferry.stop();
  await sink?.close();
});

describe('credentials are scrubbed from everything Ferry writes and prints', () => {
  it('an API echoing the key in a 401 reply leaves no trace of it', async () => {
    // the receiver echoes what it got: the key in the body and a header, the Basic credential in the body
    sink = await startSink((req) => ({
      status: 401,
      headers: { 'www-authenticate': `ApiKey realm="crm", rejected="${String(req.headers['x-api-key'])}"` },
      body: JSON.stringify({ error: `invalid key ${String(req.headers['x-api-key'])}`, authorization: req.headers.authorization, url: req.url }),
    }));
    const dir = tempDir('ferry-scrub-');
    fs.mkdirSync(path.join(dir, 'out'));
    const file = writeConfig(dir, {
      dataDir: './data',
      logLevel: 'debug',
      admin: { port: 0 },
      integrations: [{ name: 'crm', flows: [{
        name: 'push',
        source: { type: 'folder', path: './out', settleMs: 0 },
        destination: {
          type: 'http',
          // the key also travels in the query string (percent-encoded), as some APIs want it
          url: `${sink.url}/contacts?api_key=\${env:FERRY_TEST_CRM_KEY}`,
          headers: { 'X-Api-Key': '${env:FERRY_TEST_CRM_KEY}' },
          auth: { type: 'basic', username: 'ferry', password: '${secret:CRM_PASSWORD}' },
        },
        retry: { maxAttempts: 1 },
      }] }],
    });
    const env = { FERRY_MASTER_KEY: MASTER, FERRY_TEST_CRM_KEY: KEY };
    expect((await runCli(['secret', 'set', 'CRM_PASSWORD', '--config', file], { env, input: PASSWORD })).code).toBe(0);

    ferry = await startFerry(file, { env, args: ['--log-level', 'debug'] });
    await ferry.waitForOutput(/Dashboard: http:\/\/127\.0\.0\.1:\d+\//);
    const port = Number(/Dashboard: http:\/\/127\.0\.0\.1:(\d+)\//.exec(ferry.output())![1]);
    const token = fs.readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
    const api = (p: string) => request(port, 'GET', p, { headers: { authorization: `Bearer ${token}` } });

    fs.writeFileSync(path.join(dir, 'out', 'contact.json'), '{"name":"Ada"}');
    const dead = await waitFor(async () => (await api('/api/queue?state=dead')).json.items[0], 'the item dead on 401');
    // the request really carried the key: what is scrubbed below was there to leak
    expect(sink.received[0].headers['x-api-key']).toBe(KEY);
    expect(sink.received[0].url).toContain(KEY);

    const shown = await api(`/api/queue/${dead.id}`);
    expect(shown.status).toBe(200);
    expectClean(shown.text, '/api/queue/:id');
    expect(shown.json.lastResponse).toContain('invalid key [env:FERRY_TEST_CRM_KEY]');
    expect(shown.json.lastResponse).toContain('Basic [secret:CRM_PASSWORD]');
    for (const p of ['/api/queue', '/api/status', '/api/activity']) expectClean((await api(p)).text, p);

    expect(await ferry.stop()).toBe(0);
    expectClean(ferry.output(), 'ferry run output');

    const show = await runCli(['queue', 'show', '--id', String(dead.id), '--config', file], { env });
    expect(show.code).toBe(0);
    expectClean(show.stdout + show.stderr, 'ferry queue show');
    expect(show.stdout).toContain('[env:FERRY_TEST_CRM_KEY]');
    const json = await runCli(['queue', 'show', '--id', String(dead.id), '--json', '--config', file], { env });
    expectClean(json.stdout, 'ferry queue show --json');
    // a shell without the service's environment reads the same scrubbed texts
    const bare = await runCli(['queue', 'list', '--config', file], { env: { FERRY_MASTER_KEY: MASTER, FERRY_TEST_CRM_KEY: '' } });
    expectClean(bare.stdout, 'ferry queue list');

    const files = filesUnder(path.join(dir, 'data'));
    const log = files.find((f) => f.endsWith('ferry.log'));
    expect(log && fs.statSync(log).size > 0).toBe(true);
    expect(fs.readFileSync(log!, 'utf8')).toContain('item is dead');
    expect(files.some((f) => f.endsWith('ferry.db'))).toBe(true);
    for (const f of files) {
      // the secret store is encrypted; the admin token and bodies hold no credential either
      expectClean(fs.readFileSync(f).toString('latin1'), path.relative(dir, f));
    }
  });
});
