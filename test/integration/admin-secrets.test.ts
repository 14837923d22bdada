// Secrets through the admin API: set by name, used by a flow through ${secret:NAME}, and never echoed: not in
// API replies, not in the database file, not in the log file, not in the config file.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { listFiles, waitFor } from '../helpers/tmp.ts';

const FIRST = 'tok-FIRST-5f1c9a77e2';
const SECOND = 'tok-SECOND-9d3b40c1aa';
let h: AdminHarness;
let sink: Sink;

beforeAll(async () => {
  sink = await startSink((req) => (req.headers.authorization === `Bearer ${SECOND}` || req.headers.authorization === `Bearer ${FIRST}` ? undefined : { status: 401, body: `unknown token ${req.headers.authorization}` }));
  h = await startAdmin(
    {
      logLevel: 'debug',
      integrations: [
        {
          name: 'crm',
          flows: [
            {
              name: 'contacts',
              source: { type: 'folder', path: './contacts', settleMs: 0, afterDelivery: { action: 'delete' } },
              destination: { type: 'http', url: `${sink.url}/contacts`, auth: { type: 'bearer', token: '${secret:CRM_TOKEN}' } },
              retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20 },
            },
          ],
        },
      ],
    },
    { secrets: { CRM_TOKEN: FIRST }, logFile: true, dirs: ['contacts'] },
  );
});

afterAll(async () => {
  await h?.stop();
  await sink?.close();
});

/** Every file under the data dir and the config, as bytes (database, WAL, logs, settings, token…). */
function everyStoredByte(): Array<{ file: string; bytes: Buffer }> {
  const files = listFiles(h.dataDir).map((f) => path.join(h.dataDir, f));
  return [...files, h.configFile].map((file) => ({ file, bytes: fs.readFileSync(file) }));
}

describe('secrets', () => {
  it('are used by flows, set and replaced through the API, and never echoed anywhere', async () => {
    const replies: string[] = [];
    const call = async (method: string, p: string, body?: unknown) => {
      const r = await h.api(method, p, body);
      replies.push(r.text);
      return r;
    };

    fs.writeFileSync(path.join(h.dir, 'contacts', 'c1.json'), '{"name":"Ada"}');
    await waitFor(() => sink.received.find((r) => r.url === '/contacts'), 'first delivery');
    expect(sink.received[0].headers.authorization).toBe(`Bearer ${FIRST}`);

    const list = await call('GET', '/api/secrets');
    expect(list.json.secrets).toEqual([{ name: 'CRM_TOKEN', updatedAt: expect.any(String), usedBy: ['contacts'] }]);
    expect(list.json.storage).toMatch(/AES-256-GCM, key from FERRY_MASTER_KEY/);

    // a new value restarts the flow that uses it
    const put = await call('PUT', '/api/secrets/CRM_TOKEN', { value: SECOND });
    expect(put.status).toBe(200);
    expect(put.json.applied.restarted).toEqual(['contacts']);
    fs.writeFileSync(path.join(h.dir, 'contacts', 'c2.json'), '{"name":"Grace"}');
    await waitFor(() => sink.received.find((r) => r.headers.authorization === `Bearer ${SECOND}`), 'delivery with the new secret');

    await call('GET', '/api/config');
    await call('GET', '/api/status');
    await call('GET', '/api/queue?limit=100');
    await call('GET', '/api/activity?since=0');
    await call('POST', '/api/check', { flow: 'contacts', role: 'destination' });
    await call('POST', '/api/check', { destination: { type: 'http', url: `${sink.url}/x`, auth: { type: 'bearer', token: '${secret:CRM_TOKEN}' } } });
    await call('POST', '/api/config/validate', { integration: 'crm', flow: { name: 'contacts2', source: { type: 'folder', path: './c2' }, destination: { type: 'http', url: `${sink.url}/?k=\${secret:CRM_TOKEN}` } } });

    // a dead item whose error text quotes the token back (the receiver echoes it): the API scrubs it
    sink.behaviour = (req) => ({ status: 400, body: `bad token ${String(req.headers.authorization)}` });
    fs.writeFileSync(path.join(h.dir, 'contacts', 'c3.json'), '{"name":"Edsger"}');
    const dead = await waitFor(async () => (await call('GET', '/api/queue?state=dead')).json.items[0], 'dead item');
    const shown = await call('GET', `/api/queue/${dead.id}`);
    expect(shown.json.lastResponse).toMatch(/bad token Bearer \[secret:CRM_TOKEN\]/);

    const config = JSON.parse(replies.find((r) => r.includes('"schema"'))!);
    expect(config.config.integrations[0].flows[0].destination.auth.token).toBe('${secret:CRM_TOKEN}');

    for (const text of replies) {
      expect(text).not.toContain(FIRST);
      expect(text).not.toContain(SECOND);
    }
    await h.engine.stop(); // flush WAL and logs, then look at every byte on disk
    // the log file is written asynchronously: its last line ("stopped") shows everything before it is there
    const logFile = path.join(h.dataDir, 'logs', 'ferry.log');
    await waitFor(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"msg":"stopped"'), 'the log to be flushed');
    const stored = everyStoredByte();
    expect(stored.some((s) => s.file.endsWith('ferry.db'))).toBe(true);
    expect(stored.some((s) => s.file.endsWith('ferry.log') && s.bytes.length > 0)).toBe(true);
    // the echoed credential reached the database, filtered (the logger's filter: test/unit/secrets.test.ts)
    const db = Buffer.concat(stored.filter((s) => /ferry\.db(-wal)?$/.test(s.file)).map((s) => s.bytes)).toString('latin1');
    expect(db).toContain('bad token Bearer [secret:CRM_TOKEN]');
    for (const { file, bytes } of stored) {
      if (file.includes(`${path.sep}content${path.sep}`)) continue; // item bodies are the user's data
      expect(bytes.includes(FIRST), file).toBe(false);
      expect(bytes.includes(SECOND), file).toBe(false);
    }
  });
});

describe('secret routes', () => {
  let h2: AdminHarness;
  beforeAll(async () => {
    h2 = await startAdmin({ integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] });
  });
  afterAll(async () => {
    await h2?.stop();
  });

  it('sets, lists (names only), deletes and validates names and values', async () => {
    const put = await h2.api('PUT', '/api/secrets/SFTP_PASSWORD', { value: 'hunter2-but-longer' });
    expect(put.status).toBe(200);
    expect(put.text).not.toContain('hunter2-but-longer');
    expect(h2.secrets.get('SFTP_PASSWORD')).toBe('hunter2-but-longer');
    const list = await h2.api('GET', '/api/secrets');
    expect(list.json.secrets.map((s: any) => s.name)).toEqual(['SFTP_PASSWORD']);
    expect(list.text).not.toContain('hunter2');
    const one = await h2.api('GET', '/api/secrets/SFTP_PASSWORD');
    expect(one.json).toEqual({ name: 'SFTP_PASSWORD', updatedAt: expect.any(String), usedBy: [] });
    expect(one.text).not.toContain('hunter2');
    const badName = await h2.api('PUT', '/api/secrets/has%20space', { value: 'x' });
    expect(badName.status).toBe(400);
    expect(badName.json.problems[0].path).toBe('name');
    const empty = await h2.api('PUT', '/api/secrets/EMPTY', { value: '' });
    expect(empty.status).toBe(400);
    expect(empty.json.problems[0].path).toBe('value');
    expect((await h2.api('DELETE', '/api/secrets/SFTP_PASSWORD')).status).toBe(200);
    expect((await h2.api('DELETE', '/api/secrets/SFTP_PASSWORD')).status).toBe(404);
    expect((await h2.api('GET', '/api/secrets/SFTP_PASSWORD')).status).toBe(404);
    expect((await h2.api('GET', '/api/secrets')).json.secrets).toEqual([]);
  });
});
