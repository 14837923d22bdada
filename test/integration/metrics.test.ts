// GET /metrics on the admin listener and on a listener of its own, against a real engine delivering to a
// real HTTP server: the families, their labels and values, the token and Host rules, counters that survive
// a flow's restart by a config change.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, request, type AdminHarness } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';
import { startEngine } from '../helpers/engine.ts';
import { parseConfigText } from '../../main/engine/config/load.ts';
import { configVersion } from '../../main/engine/config/version.ts';

/** The value of one sample (`name{labels}`), or undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const flow = (sinkUrl: string, name = 'upload') => ({
  name,
  source: { type: 'folder', path: `./${name}`, settleMs: 0, afterDelivery: { action: 'delete' } },
  destination: { type: 'http', url: `${sinkUrl}/in` },
  retry: { maxAttempts: 2, initialDelayMs: 10, maxDelayMs: 20 },
});

describe('GET /metrics on the admin listener', () => {
  let h: AdminHarness;
  let sink: Sink;
  beforeAll(async () => {
    // files named bad-* are refused for good (422): they go dead at once
    sink = await startSink((req) => (String(req.headers['x-ferry-filename']).startsWith('bad') ? { status: 422, body: 'invalid invoice' } : undefined));
    h = await startAdmin({ minFreeDiskMb: 0, integrations: [{ name: 'billing', flows: [flow(sink.url), { ...flow(sink.url, 'nightly'), trigger: { schedule: '0 3 1 1 *', catchUp: false } }] }] }, { dirs: ['upload', 'nightly'] });
  });
  afterAll(async () => {
    await h?.stop();
    await sink?.close();
  });

  it('needs the admin token', async () => {
    const r = await h.api('GET', '/metrics', undefined, { authorization: '' });
    expect(r.status).toBe(401);
    const wrong = await h.api('GET', '/metrics', undefined, { authorization: 'Bearer nope' });
    expect(wrong.status).toBe(401);
  });

  it('serves the families with integration and flow labels, read from the engine', async () => {
    // the first scrape loads prom-client; the histogram counts from then on (the counters from the start)
    expect((await h.api('GET', '/metrics')).status).toBe(200);
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(h.dir, 'upload', `ok-${i}.csv`), `row ${i}\n`);
    fs.writeFileSync(path.join(h.dir, 'upload', 'bad-1.csv'), 'broken\n');
    const labels = { integration: 'billing', flow: 'upload' };
    const text = await waitFor(async () => {
      const r = await h.api('GET', '/metrics');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      // the counters move when an outcome is known, the queue's states once it is committed (a group commit later)
      const counted = sample(r.text, 'ferry_items_delivered_total', labels) === 3 && sample(r.text, 'ferry_items_dead_total', labels) === 1;
      const committed = sample(r.text, 'ferry_items', { ...labels, state: 'delivered' }) === 3 && sample(r.text, 'ferry_items', { ...labels, state: 'dead' }) === 1;
      return counted && committed ? r.text : undefined;
    }, 'three deliveries and one dead item in the metrics');
    expect(sample(text, 'ferry_items_taken_total', labels)).toBe(4);
    expect(sample(text, 'ferry_bytes_delivered_total', labels)).toBe(18);
    expect(sample(text, 'ferry_delivery_retries_total', labels)).toBe(0);
    expect(sample(text, 'ferry_items_discarded_total', labels)).toBe(0);
    expect(sample(text, 'ferry_items', { ...labels, state: 'delivered' })).toBe(3);
    expect(sample(text, 'ferry_items', { ...labels, state: 'dead' })).toBe(1);
    expect(sample(text, 'ferry_items', { ...labels, state: 'queued' })).toBe(0);
    expect(sample(text, 'ferry_oldest_waiting_seconds', labels)).toBe(0);
    expect(sample(text, 'ferry_delivery_duration_seconds_count', labels)).toBe(4);
    expect(sample(text, 'ferry_delivery_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(4);
    expect(sample(text, 'ferry_source_failing', labels)).toBe(0);
    expect(sample(text, 'ferry_circuit_open', labels)).toBe(0);
    expect(sample(text, 'ferry_intake_paused', labels)).toBe(0);
    const last = sample(text, 'ferry_last_delivery_timestamp_seconds', labels)!;
    expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(120);
    // the scheduled flow: its next tick, and no last delivery yet
    const next = sample(text, 'ferry_next_run_timestamp_seconds', { integration: 'billing', flow: 'nightly' })!;
    expect(next).toBeGreaterThan(Date.now() / 1000);
    expect(sample(text, 'ferry_last_delivery_timestamp_seconds', { integration: 'billing', flow: 'nightly' })).toBeUndefined();
    expect(sample(text, 'ferry_next_run_timestamp_seconds', labels)).toBeUndefined();
    // process and store
    expect(sample(text, 'ferry_process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(sample(text, 'ferry_process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(sample(text, 'ferry_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'ferry_data_dir_free_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'ferry_database_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'ferry_database_wal_bytes')).toBeGreaterThanOrEqual(0);
    // no large file arrived: nothing was stored ahead
    for (const outcome of ['started', 'used', 'dropped']) expect(sample(text, 'ferry_store_ahead_total', { outcome })).toBe(0);
    expect(sample(text, 'ferry_build_info', { version: '0.1.0', config_version: configVersion(h.engine.loaded) })).toBe(1);
    expect(configVersion(h.engine.loaded)).toMatch(/^[0-9a-f]{12}$/);
  });

  it('shows items waiting and their age while deliveries are paused, and discards', async () => {
    await h.api('POST', '/api/flows/upload/pause');
    fs.writeFileSync(path.join(h.dir, 'upload', 'ok-late.csv'), 'late\n');
    const labels = { integration: 'billing', flow: 'upload' };
    const text = await waitFor(async () => {
      const r = await h.api('GET', '/metrics');
      return sample(r.text, 'ferry_items', { ...labels, state: 'queued' }) === 1 && sample(r.text, 'ferry_oldest_waiting_seconds', labels)! > 0 ? r.text : undefined;
    }, 'one queued item with its age');
    expect(sample(text, 'ferry_deliveries_paused', labels)).toBe(1);
    const d = await h.api('POST', '/api/queue/discard', { flow: 'upload', state: 'queued' });
    expect(d.json.count).toBe(1);
    const after = (await h.api('GET', '/metrics')).text;
    expect(sample(after, 'ferry_items_discarded_total', labels)).toBe(1);
    expect(sample(after, 'ferry_oldest_waiting_seconds', labels)).toBe(0);
    await h.api('POST', '/api/flows/upload/resume');
  });

  it("keeps counting across a flow's restart by a config change, with the new config version", async () => {
    const before = (await h.api('GET', '/metrics')).text;
    const version = configVersion(h.engine.loaded);
    const changed = { ...flow(sink.url), retry: { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 20 } };
    const r = await h.api('PUT', '/api/config/integrations/billing/flows/upload', changed);
    expect(r.status, r.text).toBe(200);
    expect(r.json.applied.restarted).toEqual(['upload']);
    fs.writeFileSync(path.join(h.dir, 'upload', 'ok-after.csv'), 'after\n');
    const labels = { integration: 'billing', flow: 'upload' };
    const text = await waitFor(async () => {
      const t = (await h.api('GET', '/metrics')).text;
      return sample(t, 'ferry_items_delivered_total', labels) === sample(before, 'ferry_items_delivered_total', labels)! + 1 ? t : undefined;
    }, 'the delivery after the restart counted on top of the earlier ones');
    expect(sample(text, 'ferry_items_dead_total', labels)).toBe(1);
    expect(sample(text, 'ferry_items_discarded_total', labels)).toBe(1);
    expect(configVersion(h.engine.loaded)).not.toBe(version);
    expect(sample(text, 'ferry_build_info', { config_version: configVersion(h.engine.loaded) })).toBe(1);
    expect(sample(text, 'ferry_build_info', { config_version: version })).toBeUndefined();
  });
});

describe('the metrics listener of its own (metrics.port)', () => {
  it('serves /metrics only, on loopback without a token but only to loopback Host names', async () => {
    const e = await startEngine({ admin: { port: 0 }, metrics: { port: 0 }, integrations: [] });
    try {
      const port = e.engine.metricsListener!.port;
      const ok = await request(port, 'GET', '/metrics');
      expect(ok.status).toBe(200);
      expect(sample(ok.text, 'ferry_build_info', { version: '0.1.0' })).toBe(1);
      expect((await request(port, 'GET', '/metrics', { headers: { host: `localhost:${port}` } })).status).toBe(200);
      // a page whose name was rebound to 127.0.0.1 reads nothing
      expect((await request(port, 'GET', '/metrics', { headers: { host: `evil.example:${port}` } })).status).toBe(403);
      expect((await request(port, 'GET', '/api/status')).status).toBe(404);
      expect((await request(port, 'POST', '/metrics')).status).toBe(405);
    } finally {
      await e.stop();
    }
  });

  it('with a token, answers only the right bearer', async () => {
    const token = 'metrics-token-0123456789';
    const e = await startEngine({ admin: { port: 0 }, metrics: { port: 0, token }, integrations: [] });
    try {
      const port = e.engine.metricsListener!.port;
      expect((await request(port, 'GET', '/metrics')).status).toBe(401);
      expect((await request(port, 'GET', '/metrics', { headers: { authorization: 'Bearer metrics-token-wrong-0000' } })).status).toBe(401);
      const ok = await request(port, 'GET', '/metrics', { headers: { authorization: `Bearer ${token}`, host: `ferry-042.branch.example:${port}` } });
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('# TYPE ferry_items_delivered_total counter');
    } finally {
      await e.stop();
    }
  });

  it('refuses a non-loopback address without a token, naming the key', () => {
    const r = parseConfigText('metrics: { port: 9464, address: 0.0.0.0 }\nintegrations: []\n', '/tmp/x/ferry.yaml');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems.join('\n')).toMatch(/^metrics\.token: required when the metrics listener is on a non-loopback address \(0\.0\.0\.0\)/m);
    expect(parseConfigText('metrics: { port: 9464, address: 0.0.0.0, token: abcdefghijklmnopq }\nintegrations: []\n', '/tmp/x/ferry.yaml').ok).toBe(true);
  });

  it('a port already taken stops the start with a clear error', async () => {
    const first = await startEngine({ admin: { port: 0 }, metrics: { port: 0 }, integrations: [] });
    try {
      const port = first.engine.metricsListener!.port;
      await expect(startEngine({ admin: { port: 0 }, metrics: { port }, integrations: [] })).rejects.toThrow(`metrics listener cannot listen on 127.0.0.1:${port}`);
    } finally {
      await first.stop();
    }
  });
});
