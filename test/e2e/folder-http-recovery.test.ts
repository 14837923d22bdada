// Folder → HTTP end to end through the spawned `ferry` CLI: crashes (kill -9), restarts in keep mode,
// schedules with catch-up, and the circuit breaker in front of a down API.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, waitFor } from '../helpers/tmp.ts';
import { runCli } from '../helpers/cli.ts';
import { cleanUpAfterEach, dropFiles, expectAllDelivered, ferry, nameOf, pending, setup, sink, statusJson } from '../helpers/flows.ts';

cleanUpAfterEach();

/**
 * Waits until the running engine reports `taken` items taken and delivered and at least two passes over the
 * folder ended (the start-up scan and the settled files' second look): it looked at every file and decided.
 */
async function settled(cfg: string, taken: number): Promise<void> {
  await waitFor(async () => {
    const c = (await statusJson(cfg)).flows[0].counters;
    return c && c.taken >= taken && c.delivered >= taken && (c.sourcePasses ?? 0) >= 2 ? c : undefined;
  }, `${taken} taken and delivered after two passes`, 15_000, 100);
  expect((await statusJson(cfg)).flows[0].counters.taken).toBe(taken);
}

describe('folder → HTTP through `ferry run`: recovery', () => {
  it('SIGKILL of `ferry run` several times mid-delivery: after restarts every file is delivered (repeats only with the same key) and moved', async () => {
    const s = await sink(() => ({ delayMs: 15 }));
    const st = setup(s.url, { destination: { concurrency: 2 } });
    const files = dropFiles(st.inbox, 120);
    for (let round = 0; round < 3; round++) {
      const f = await ferry(st.cfg);
      const before = s.accepted.size;
      await waitFor(() => s.accepted.size >= before + 10, `deliveries in round ${round}`, 30_000, 10);
      await f.kill9();
    }
    expect(s.accepted.size).toBeLessThan(120); // the kills really landed mid-delivery
    const f = await ferry(st.cfg);
    await waitFor(() => listFiles(st.sent).length === 120, 'every file in .sent', 60_000, 100);
    await waitFor(() => s.accepted.size === 120, 'every file delivered', 10_000, 100);
    expectAllDelivered(s, files);
    expect(pending(st)).toEqual([]);
    // each original moved exactly once: no "name (1).csv" copies from a move repeated after a crash
    expect(listFiles(st.sent)).toEqual([...files.keys()].sort());
    const status = await statusJson(st.cfg);
    expect(status.flows[0].counts).toMatchObject({ delivered: 120, queued: 0, inflight: 0, retrying: 0, dead: 0 });
    expect(await f.stop()).toBe(0);
  }, 90_000);

  it('keep mode re-sends only changed files after a restart', async () => {
    const s = await sink();
    const st = setup(s.url, { source: { afterDelivery: { action: 'keep' } } });
    for (const n of ['a', 'b', 'c']) fs.writeFileSync(path.join(st.inbox, `${n}.csv`), `${n} v1`);
    let f = await ferry(st.cfg);
    await waitFor(() => s.accepted.size === 3, 'three first deliveries', 15_000);
    expect(await f.stop()).toBe(0);
    fs.writeFileSync(path.join(st.inbox, 'b.csv'), 'b v2, longer');
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(path.join(st.inbox, 'c.csv'), t, t); // touched, same content
    fs.writeFileSync(path.join(st.inbox, 'd.csv'), 'd v1');
    f = await ferry(st.cfg);
    await waitFor(() => s.received.length >= 5, 'the changed and the new file', 15_000);
    // the engine looked at every file (the start-up scan and the settled files' second look) and took two
    await settled(st.cfg, 2);
    expect(s.received.map((r) => `${nameOf(r)}=${r.body.toString()}`).sort()).toEqual(['a.csv=a v1', 'b.csv=b v1', 'b.csv=b v2, longer', 'c.csv=c v1', 'd.csv=d v1']);
    expect(listFiles(st.inbox)).toEqual(['a.csv', 'b.csv', 'c.csv', 'd.csv']); // keep: nothing moved
    expect(await f.stop()).toBe(0);
    // b changed back to its first content while Ferry was off: the latest version is sent again
    fs.writeFileSync(path.join(st.inbox, 'b.csv'), 'b v1');
    f = await ferry(st.cfg);
    await waitFor(() => s.received.length >= 6, 'the reverted file', 15_000);
    await settled(st.cfg, 1);
    expect(s.received.slice(5).map((r) => `${nameOf(r)}=${r.body.toString()}`)).toEqual(['b.csv=b v1']);
    expect(s.accepted.size).toBe(6); // each version under its own idempotency key
    expect(await f.stop()).toBe(0);
  }, 120_000); // three lifetimes of `ferry run`, each started and stopped as a process

  it('a cron flow scans on its tick, and runs a tick missed while Ferry was off once at start-up', async () => {
    const s = await sink();
    const st = setup(s.url, { trigger: { schedule: '*/2 * * * * *' } });
    const f = await ferry(st.cfg);
    fs.writeFileSync(path.join(st.inbox, 'tick.csv'), 'on the tick');
    await waitFor(() => s.accepted.size === 1, 'the file taken on a tick', 10_000);
    const status = await statusJson(st.cfg);
    expect(status.flows[0].trigger).toBe('schedule "*/2 * * * * *"');
    expect(Date.parse(status.flows[0].lastRunAt)).toBeGreaterThan(Date.now() - 10_000);
    expect(Date.parse(status.flows[0].nextRunAt)).toBeGreaterThan(Date.parse(status.flows[0].lastRunAt));
    expect(await f.stop()).toBe(0);

    // A daily schedule: no tick will come during the test; the only way in is the catch-up.
    const daily = setup(s.url, { trigger: { schedule: '0 3 * * *' } });
    let g = await ferry(daily.cfg);
    fs.writeFileSync(path.join(daily.inbox, 'missed.csv'), 'missed tick');
    // the catch-up decision is made as the flow starts: no scan ran and none is running
    expect((await statusJson(daily.cfg)).flows[0].counters).toMatchObject({ scans: 0, scanning: false, taken: 0 });
    expect(s.accepted.size).toBe(1); // first start: nothing was missed yet, so no scan
    expect(await g.stop()).toBe(0);
    // Ferry was "off" for two days: the stored last run is old
    const Database = (await import('better-sqlite3')).default;
    const db = new Database(path.join(daily.dir, 'data', 'ferry.db'));
    const twoDaysAgo = Date.now() - 2 * 86_400_000;
    db.prepare("UPDATE flow_state SET last_run_at = ?, first_seen_at = ? WHERE flow = 'upload'").run(twoDaysAgo, twoDaysAgo);
    db.close();
    g = await ferry(daily.cfg);
    await waitFor(() => s.accepted.size === 2, 'the missed tick caught up at start-up', 10_000);
    expect(nameOf([...s.accepted.values()].flat().find((r) => r.body.toString() === 'missed tick')!)).toBe('missed.csv');
    const after = await statusJson(daily.cfg);
    expect(Date.parse(after.flows[0].lastRunAt)).toBeGreaterThan(Date.now() - 30_000);
    // catching up ran once: a second restart does not scan again
    expect(await g.stop()).toBe(0);
    fs.writeFileSync(path.join(daily.inbox, 'later.csv'), 'no tick for me');
    g = await ferry(daily.cfg);
    expect((await statusJson(daily.cfg)).flows[0].counters).toMatchObject({ scans: 0, scanning: false, taken: 0 });
    expect(s.accepted.size).toBe(2);
    expect(await g.stop()).toBe(0);
  }, 120_000); // three lifetimes of `ferry run`, each started and stopped as a process

  it('circuit breaker: with the sink down, status shows it unreachable and the sink is not hammered', async () => {
    let down = true;
    const s = await sink(() => (down ? { status: 503 } : undefined));
    const st = setup(s.url, { circuitBreaker: { failureThreshold: 3, cooldownMs: 400 }, retry: { maxAttempts: 100, initialDelayMs: 20, maxDelayMs: 50 } });
    const f = await ferry(st.cfg);
    dropFiles(st.inbox, 10);
    const status = await waitFor(async () => {
      const j = await statusJson(st.cfg);
      return j.flows[0].destination.health === 'unreachable' ? j : undefined;
    }, 'status to show the destination unreachable', 20_000, 200);
    expect(Date.parse(status.flows[0].destination.unreachableSince)).toBeGreaterThan(Date.now() - 20_000);
    const text = await runCli(['status', '--config', st.cfg]);
    expect(text.stdout).toMatch(/http: unreachable since \d+ s ago/);
    // While open, only single probes get through, further and further apart: over the whole outage a
    // handful of requests, where retries every 20–50 ms for 10 items would have sent hundreds.
    await new Promise((r) => setTimeout(r, 2500));
    const outage = Date.now() - s.received[0].at;
    expect(outage).toBeGreaterThan(3000);
    // threshold (3) + the rest of the first concurrent wave (≤ 4) + probes at 0.4, 1.2, 2.8, 6 s…
    expect(s.received.length).toBeLessThanOrEqual(3 + 4 + Math.ceil(Math.log2(outage / 400 + 1)) + 1);
    const gaps = s.received.slice(8).map((r, i) => r.at - s.received[i + 7].at);
    expect(gaps.every((g) => g >= 300)).toBe(true); // no burst after the circuit opened
    down = false;
    await waitFor(() => listFiles(st.sent).length === 10, 'all files delivered after recovery', 30_000, 100);
    await waitFor(async () => (await statusJson(st.cfg)).flows[0].destination.health === 'ok', 'health back to ok', 10_000, 200);
    expect(await f.stop()).toBe(0);
  });
});
