// Folder → HTTP end to end through the spawned `ferry` CLI, against a real HTTP sink on 127.0.0.1:
// delivery, flaky and rejecting APIs, slow writers, shutdown, retention.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, waitFor } from '../helpers/tmp.ts';
import { runCli } from '../helpers/cli.ts';
import { cleanUpAfterEach, dropFiles, expectAllDelivered, ferry, nameOf, pending, setup, sink, statusJson } from '../helpers/flows.ts';

cleanUpAfterEach();

describe('folder → HTTP through `ferry run`', () => {
  it('200 files arrive with the right bytes and headers; every source file ends in .sent; status works while running', async () => {
    const s = await sink();
    const st = setup(s.url);
    const f = await ferry(st.cfg);
    const files = dropFiles(st.inbox, 200);
    await waitFor(() => s.accepted.size === 200 && listFiles(st.sent).length === 200, '200 deliveries and moves', 60_000, 100);
    expectAllDelivered(s, files);
    for (const [, recs] of s.accepted) {
      const r = recs[0];
      expect(r.method).toBe('POST');
      expect(r.url).toBe('/invoices');
      expect(r.headers['x-ferry-flow']).toBe('upload');
      expect(r.headers['content-type']).toBe('text/csv');
      expect(String(r.headers['idempotency-key'])).toMatch(/^[0-9a-f]{40}$/);
    }
    expect(s.accepted.size).toBe(200); // 200 distinct keys
    expect(listFiles(st.sent)).toEqual([...files.keys()].sort());
    expect(pending(st)).toEqual([]);
    const status = await statusJson(st.cfg);
    expect(status.running).toBe(true);
    expect(status.flows[0]).toMatchObject({ flow: 'upload', integration: 'invoices', trigger: 'on change' });
    expect(status.flows[0].counts).toMatchObject({ delivered: 200, queued: 0, dead: 0, retrying: 0 });
    await waitFor(async () => (await statusJson(st.cfg)).flows[0].destination.health === 'ok', 'destination health ok', 10_000, 200);
    expect(await f.stop()).toBe(0);
    const after = await statusJson(st.cfg);
    expect(after.running).toBe(false);
  });

  it('a sink failing ~30% (503, 429 with Retry-After, connection resets) still gets every file, none dead', async () => {
    let rnd = 12345;
    const random = () => ((rnd = (rnd * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const s = await sink(() => {
      const r = random();
      if (r < 0.1) return { status: 503 };
      if (r < 0.2) return { status: 429, headers: { 'retry-after': '1' } };
      if (r < 0.3) return 'reset';
      return undefined;
    });
    const st = setup(s.url);
    const f = await ferry(st.cfg);
    const files = dropFiles(st.inbox, 80);
    await waitFor(() => listFiles(st.sent).length === 80, 'all 80 files delivered and moved', 90_000, 100);
    expectAllDelivered(s, files);
    const failures = s.received.length - [...s.accepted.values()].reduce((n, r) => n + r.length, 0);
    expect(failures).toBeGreaterThan(10); // the sink really failed a good share
    const dead = await runCli(['queue', 'list', '--config', st.cfg, '--state', 'dead']);
    expect(dead.stdout.trim()).toBe('no items match');
    const status = await statusJson(st.cfg);
    expect(status.flows[0].counts).toMatchObject({ delivered: 80, dead: 0 });
    expect(await f.stop()).toBe(0);
  });

  it('a 4xx goes dead, is listed and shown by the CLI, and `queue retry` from another process delivers it once fixed', async () => {
    let broken = true;
    const s = await sink((req) => (broken && decodeURIComponent(String(req.headers['x-ferry-filename'])) === 'bad.csv' ? { status: 422, body: '{"error":"column 3 is not a date"}' } : undefined));
    const st = setup(s.url);
    await ferry(st.cfg);
    fs.writeFileSync(path.join(st.inbox, 'good.csv'), 'fine');
    fs.writeFileSync(path.join(st.inbox, 'bad.csv'), 'not,a,date');
    await waitFor(() => s.accepted.size === 1 && s.received.length === 2, 'one delivery and one rejection', 20_000);
    const list = await waitFor(async () => {
      const r = await runCli(['queue', 'list', '--config', st.cfg, '--state', 'dead', '--json']);
      const items = JSON.parse(r.stdout);
      return items.length === 1 ? items : undefined;
    }, 'the dead item to be listed', 10_000, 200);
    expect(list[0]).toMatchObject({ name: 'bad.csv', state: 'dead', last_status: 422, attempts: 1 });
    const text = await runCli(['queue', 'list', '--config', st.cfg, '--state', 'dead']);
    expect(text.stdout).toMatch(new RegExp(`${list[0].id}\\s+upload\\s+dead\\s+1\\s+bad\\.csv\\s+HTTP 422 from 127\\.0\\.0\\.1:${s.port}`));
    const show = await runCli(['queue', 'show', '--config', st.cfg, '--id', String(list[0].id)]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`item ${list[0].id} (upload): dead`);
    expect(show.stdout).toContain('response:        {"error":"column 3 is not a date"}');
    expect(show.stdout).toMatch(/attempt at .*: dead \(422\) HTTP 422/);
    expect(fs.existsSync(path.join(st.inbox, 'bad.csv'))).toBe(true); // not moved: not delivered
    const missing = await runCli(['queue', 'show', '--config', st.cfg, '--id', '99999']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('no item 99999');

    broken = false;
    const retry = await runCli(['queue', 'retry', '--config', st.cfg, '--id', String(list[0].id)]);
    expect(retry.code).toBe(0);
    expect(retry.stdout.trim()).toBe('requeued 1 items');
    await waitFor(() => s.accepted.size === 2 && fs.existsSync(path.join(st.sent, 'bad.csv')), 'the retried item delivered and moved', 20_000);
    const again = [...s.accepted.values()].flat().find((r) => nameOf(r) === 'bad.csv')!;
    expect(again.body.toString()).toBe('not,a,date');
    expect(again.headers['idempotency-key']).toBe(list[0].idem_key);
    const usage = await runCli(['queue', 'retry', '--config', st.cfg]);
    expect(usage.code).toBe(2);
  });

  it('a file written in chunks with pauses shorter than settleMs arrives once and whole', async () => {
    const s = await sink();
    const st = setup(s.url, { source: { settleMs: 500 } });
    await ferry(st.cfg);
    const file = path.join(st.inbox, 'slow.csv');
    const chunks: Buffer[] = [];
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < 8; i++) {
      const c = crypto.randomBytes(4096);
      chunks.push(c);
      fs.writeSync(fd, c);
      await new Promise((r) => setTimeout(r, 150));
    }
    fs.closeSync(fd);
    await waitFor(() => fs.existsSync(path.join(st.sent, 'slow.csv')), 'the slow file delivered', 15_000);
    // the engine's own count: one item taken for the file, however its writes were spread
    const counters = await waitFor(async () => {
      const c = (await statusJson(st.cfg)).flows[0].counters;
      return c?.delivered === 1 ? c : undefined;
    }, 'the delivery counted', 10_000, 100);
    expect(counters.taken).toBe(1);
    expect(s.received).toHaveLength(1);
    expect(s.received[0].body.equals(Buffer.concat(chunks))).toBe(true);
  });

  it('SIGTERM exits 0 after letting in-flight deliveries finish', async () => {
    const s = await sink(() => ({ delayMs: 1500 }));
    const st = setup(s.url);
    const f = await ferry(st.cfg);
    fs.writeFileSync(path.join(st.inbox, 'last.csv'), 'in flight at shutdown');
    await waitFor(() => s.received.length === 1, 'the request to reach the sink', 10_000, 20);
    const code = await f.stop();
    expect(code, f.output()).toBe(0);
    expect(s.accepted.size).toBe(1);
    expect(f.output()).toContain('stopped');
    const list = await runCli(['queue', 'list', '--config', st.cfg, '--json']);
    expect(JSON.parse(list.stdout).map((i: any) => i.state)).toEqual(['delivered']);
    expect(fs.existsSync(path.join(st.sent, 'last.csv'))).toBe(true);
  });

  it('retention prunes delivered items (at start-up here) and their fingerprints still stop a re-send', async () => {
    const s = await sink();
    const st = setup(s.url, {}, { retention: { deliveredDays: 0, fingerprintDays: 90 } });
    let f = await ferry(st.cfg);
    // whole-second mtimes survive copying exactly (a float like …677.9999 ms would make another source key)
    const mtime = Math.floor(Date.now() / 1000) - 60;
    fs.writeFileSync(path.join(st.dir, 'a.csv'), 'once only');
    fs.utimesSync(path.join(st.dir, 'a.csv'), mtime, mtime);
    fs.renameSync(path.join(st.dir, 'a.csv'), path.join(st.inbox, 'a.csv'));
    await waitFor(() => fs.existsSync(path.join(st.sent, 'a.csv')), 'a.csv delivered and moved', 15_000);
    expect(await f.stop()).toBe(0);
    f = await ferry(st.cfg);
    const list = await runCli(['queue', 'list', '--config', st.cfg, '--json']);
    expect(JSON.parse(list.stdout)).toEqual([]); // pruned
    // the very same file (name, mtime, bytes) dropped again: recognised by its fingerprint, not sent again
    fs.copyFileSync(path.join(st.sent, 'a.csv'), path.join(st.inbox, 'a.csv'));
    fs.utimesSync(path.join(st.inbox, 'a.csv'), mtime, mtime);
    fs.writeFileSync(path.join(st.inbox, 'b.csv'), 'new');
    await waitFor(() => fs.existsSync(path.join(st.sent, 'b.csv')) && !fs.existsSync(path.join(st.inbox, 'a.csv')), 'b delivered and the repeat of a set aside', 15_000);
    expect(s.received.map((r) => nameOf(r)).sort()).toEqual(['a.csv', 'b.csv']);
    expect(listFiles(st.sent)).toEqual(['a (1).csv', 'a.csv', 'b.csv']);
    expect(await f.stop()).toBe(0);
  });
});
