// The `webhook` destination: Standard Webhooks signatures checked by an independent verifier written here,
// the same webhook-id across retries, 410 Gone disabling the endpoint, and bad config refused.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { runCli, writeConfig } from '../helpers/cli.ts';
import { startSink, type Received, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const KEY = crypto.randomBytes(32);
const SECRET = `whsec_${KEY.toString('base64')}`;

/** Independent Standard Webhooks verification (spec: HMAC-SHA256 over "id.timestamp.body", base64, "v1,"). */
function verifyStandardWebhook(r: Received, key: Buffer, toleranceSec = 300): { ok: boolean; why?: string } {
  const id = r.headers['webhook-id'];
  const ts = r.headers['webhook-timestamp'];
  const sigs = r.headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigs !== 'string') return { ok: false, why: 'headers missing' };
  if (Math.abs(Date.now() / 1000 - Number(ts)) > toleranceSec) return { ok: false, why: 'timestamp' };
  const expected = crypto.createHmac('sha256', key).update(Buffer.concat([Buffer.from(`${id}.${ts}.`), r.body])).digest();
  const ok = sigs.split(' ').some((s) => {
    const [v, b64] = s.split(',');
    const got = Buffer.from(b64 ?? '', 'base64');
    return v === 'v1' && got.length === expected.length && crypto.timingSafeEqual(got, expected);
  });
  return ok ? { ok } : { ok, why: 'signature' };
}

const engines: RunningEngine[] = [];
const sinks: Sink[] = [];
afterAll(async () => {
  for (const e of engines) await e.stop();
  for (const s of sinks) await s.close();
});

async function run(sink: Sink, files: Record<string, string>, extra: Record<string, unknown> = {}) {
  const dir = tempDir('ferry-send-');
  fs.mkdirSync(path.join(dir, 'in'));
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, 'in', name), body);
  const e = await startEngine(
    {
      integrations: [
        {
          name: 'export',
          flows: [
            {
              name: 'events',
              source: { type: 'folder', path: './in', settleMs: 0 },
              destination: { type: 'webhook', url: `${sink.url}/hook`, secret: SECRET, concurrency: 1 },
              retry: { initialDelayMs: 20, maxDelayMs: 50, maxAttempts: 10 },
              circuitBreaker: { failureThreshold: 100, cooldownMs: 100 },
              ...extra,
            },
          ],
        },
      ],
    },
    dir,
  );
  engines.push(e);
  return e;
}

describe('webhook destination', () => {
  it('signs every event so an independent verifier accepts it, with the same id across retries', async () => {
    const sink = await startSink((_req, _body, n) => (n < 2 ? { status: 503 } : undefined));
    sinks.push(sink);
    const e = await run(sink, { 'a.json': '{"type":"invoice.created","n":1}', 'b.json': '{"type":"invoice.created","n":2}' });
    await waitFor(() => e.engine.queue.count({ flow: 'events', state: 'delivered' }) === 2, 'two deliveries');
    expect(sink.received.length).toBe(4);
    for (const r of sink.received) {
      expect(verifyStandardWebhook(r, KEY)).toEqual({ ok: true });
      expect(r.headers['content-type']).toBe('application/json');
    }
    // a wrong key does not verify (the check can fail)
    expect(verifyStandardWebhook(sink.received[0], crypto.randomBytes(32)).ok).toBe(false);
    const items = e.engine.queue.list({ flow: 'events' });
    const ids = new Set(sink.received.map((r) => r.headers['webhook-id']));
    expect(ids).toEqual(new Set(items.map((i) => i.idem_key)));
    // the first event was retried after 503s: same webhook-id each time
    const first = sink.received[0].headers['webhook-id'];
    expect(sink.received.filter((r) => r.headers['webhook-id'] === first).length).toBeGreaterThanOrEqual(2);
  });

  it('410 Gone disables the endpoint: dead items, a clear flow error, no more requests', async () => {
    const sink = await startSink(() => ({ status: 410 }));
    sinks.push(sink);
    const e = await run(sink, { 'a.json': '{"n":1}', 'b.json': '{"n":2}', 'c.json': '{"n":3}' });
    await waitFor(() => e.engine.queue.count({ flow: 'events', state: 'dead' }) === 3, 'three dead items');
    expect(sink.received.length).toBe(1);
    const dead = e.engine.queue.list({ flow: 'events', state: 'dead' });
    expect(dead.every((d) => /endpoint disabled/.test(d.last_error ?? ''))).toBe(true);
    expect(e.engine.flow('events').facts.lastError).toMatch(/endpoint disabled: .*410 Gone/);
  });

  it('a non-JSON item goes dead with a reason; other 4xx go dead', async () => {
    const sink = await startSink((req, body) => (body.toString().includes('"bad"') ? { status: 422 } : undefined));
    sinks.push(sink);
    const e = await run(sink, { 'x.txt': 'not json', 'y.json': '{"bad":true}', 'z.json': '{"ok":true}' });
    await waitFor(() => e.engine.queue.count({ flow: 'events', state: 'dead' }) === 2 && e.engine.queue.count({ flow: 'events', state: 'delivered' }) === 1, 'outcomes');
    const reasons = e.engine.queue.list({ flow: 'events', state: 'dead' }).map((d) => d.last_error);
    expect(reasons.some((r) => /x\.txt is not a JSON event/.test(r ?? ''))).toBe(true);
    expect(reasons.some((r) => /HTTP 422/.test(r ?? ''))).toBe(true);
  });

  it('refuses a secret shorter than 24 bytes at validation', async () => {
    const dir = tempDir('ferry-send-cfg-');
    const file = writeConfig(dir, {
      dataDir: './data',
      integrations: [{ name: 'x', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'webhook', url: 'http://127.0.0.1:1/h', secret: 'short' } }] }],
    });
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/destination\.secret: expected a signing secret of at least 24 bytes/);
    expect(r.stderr).not.toContain('short"');
  });
});
