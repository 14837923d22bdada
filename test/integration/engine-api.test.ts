// The one engine API, three ways: in-process (EngineApi: the tray), over the admin HTTP API (HttpApi: the CLI
// while an engine runs; the dashboard speaks the same routes) and on the database alone (StoreApi: the CLI
// when none runs). The same questions get the same answers; what needs a running engine says so.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';
import { HttpApi } from '../../main/engine/api/http-api.ts';
import { StoreApi } from '../../main/engine/api/store-api.ts';
import { FerryApiError } from '../../main/engine/api/errors.ts';
import type { FerryApi } from '../../main/engine/api/ferry-api.ts';
import { loadConfig } from '../../main/engine/config/load.ts';
import { openDatabase } from '../../main/engine/store/db.ts';

let h: AdminHarness;
let sink: Sink;

const config = (sinkUrl: string) => ({
  integrations: [
    {
      name: 'billing',
      flows: [
        {
          name: 'ok',
          source: { type: 'folder', path: './ok', settleMs: 0, afterDelivery: { action: 'delete' } },
          trigger: { on: 'change' },
          destination: { type: 'http', url: `${sinkUrl}/ok` },
        },
        {
          name: 'refused',
          source: { type: 'folder', path: './refused', settleMs: 0, afterDelivery: { action: 'delete' } },
          trigger: { on: 'change' },
          destination: { type: 'http', url: `${sinkUrl}/refused` },
          retry: { maxAttempts: 1, initialDelayMs: 10, maxDelayMs: 20 },
        },
      ],
    },
  ],
});

beforeAll(async () => {
  sink = await startSink((req) => (req.url?.startsWith('/refused') ? { status: 422, body: 'rejected: bad invoice' } : undefined));
  h = await startAdmin(config(sink.url), { dirs: ['ok', 'refused'] });
  for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(h.dir, 'ok', `a${i}.csv`), `ok ${i}`);
  fs.writeFileSync(path.join(h.dir, 'refused', 'bad.csv'), 'bad');
  // delivered, and their originals deleted (no after-delivery step pending that could change between two reads)
  await waitFor(() => h.engine.status().totals.delivered === 3 && h.engine.status().totals.dead === 1 && fs.readdirSync(path.join(h.dir, 'ok')).length === 0, 'three delivered and deleted, one dead', 20_000);
  // the after-delivery marks are committed just after the deletes: every one recorded as done
  await waitFor(async () => (await h.admin.api.listQueue({ state: 'delivered', limit: 10 })).items.every((i) => !i.afterDeliveryPending), 'the after-delivery steps recorded', 20_000);
});

afterAll(async () => {
  await h?.stop();
  await sink?.close();
});

/** What two clients must agree on in a status (the parts that do not change from one call to the next). */
const stable = (s: Awaited<ReturnType<FerryApi['status']>>) => s.flows.map((f) => ({ flow: f.flow, counts: f.counts, paused: f.paused, destination: f.destination.type }));

describe('the engine API in-process and over HTTP', () => {
  it('answers status, the queue and one item alike', async () => {
    const local = h.admin.api;
    const remote = new HttpApi(h.admin.url, h.token);
    expect(stable(await remote.status())).toEqual(stable(await local.status()));
    const [a, b] = [await local.listQueue({ state: 'delivered', limit: 10 }), await remote.listQueue({ state: 'delivered', limit: 10 })];
    expect(b).toEqual(a);
    expect(a.total).toBe(3);
    const dead = (await remote.listQueue({ state: 'dead' })).items[0];
    expect(dead).toMatchObject({ flow: 'refused', name: 'bad.csv', lastStatus: 422, lastResponse: 'rejected: bad invoice' });
    expect(await remote.showItem(dead.id)).toEqual(await local.showItem(dead.id));
    const body = await remote.itemBody(dead.id);
    const chunks: Buffer[] = [];
    for await (const c of body.open()) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('bad');
    expect(await remote.recentDead()).toEqual(await local.recentDead());
  });

  it('pauses and resumes every flow and one, through either, and records each action once', async () => {
    const remote = new HttpApi(h.admin.url, h.token);
    const before = (await remote.activity({ limit: 1 })).cursor;
    expect((await remote.pause()).map((r) => r.paused)).toEqual([true, true]);
    expect((await h.admin.api.status()).flows.every((f) => f.paused)).toBe(true);
    expect(await h.admin.api.resume('ok')).toEqual([{ flow: 'ok', paused: false }]);
    expect((await remote.status()).flows.map((f) => [f.flow, f.paused])).toEqual([['ok', false], ['refused', true]]);
    await remote.resume();
    const actions = (await remote.activity({ since: before })).events.filter((e) => e.type === 'flow').map((e) => e.data?.action);
    expect(actions).toEqual(['pause all', 'resume', 'resume all']);
  });

  it('refuses the same bad requests with the same status and field', async () => {
    for (const api of [h.admin.api, new HttpApi(h.admin.url, h.token)] as FerryApi[]) {
      await expect(api.pause('nope')).rejects.toMatchObject({ status: 404, message: expect.stringContaining('no flow named "nope" (flows: ok, refused)') });
      await expect(api.showItem(999_999)).rejects.toMatchObject({ status: 404, message: 'no item 999999' });
      await expect(api.retry({ flow: 'nope' })).rejects.toBeInstanceOf(FerryApiError);
    }
  });

  it('retries a dead item through the API: the engine takes it again at once', async () => {
    const remote = new HttpApi(h.admin.url, h.token);
    const dead = (await remote.listQueue({ state: 'dead' })).items[0];
    const attemptsBefore = sink.received.filter((r) => r.url.startsWith('/refused')).length;
    expect(await remote.retry({ ids: [dead.id] })).toEqual({ count: 1 });
    await waitFor(() => sink.received.filter((r) => r.url.startsWith('/refused')).length > attemptsBefore, 'the retried item sent again', 10_000);
    await waitFor(async () => (await remote.showItem(dead.id)).item.state === 'dead', 'dead again (the sink still refuses)', 10_000);
  });
});

describe('the engine API on the database alone (no engine running)', () => {
  it('reads what the engine left, repairs the queue, and says what needs a running Ferry', async () => {
    const running = await h.admin.api.listQueue({ limit: 100 });
    const newestDelivered = (await h.admin.api.listQueue({ flow: 'ok', state: 'delivered', limit: 1 })).items[0];
    await h.stop();
    // an engine killed between a delivery and its next write of the flow's facts (they are written every second)
    const db = openDatabase(path.join(h.dataDir, 'ferry.db'));
    db.prepare(`UPDATE flow_state SET last_delivery_at = NULL WHERE flow = 'ok'`).run();
    db.close();
    const store = new StoreApi(loadConfig(h.configFile, { secrets: h.secrets.lookup() }));
    try {
      const status = await store.status();
      expect(status.running).toBe(false);
      expect(status.totals).toMatchObject({ delivered: 3, dead: 1 });
      const ok = status.flows.find((f) => f.flow === 'ok')!;
      expect(ok.lastDeliveryAt).toBe(newestDelivered.settledAt);
      expect(ok.destination.health).toBe('ok');
      expect(await store.listQueue({ limit: 100 })).toEqual(running);
      const dead = (await store.listQueue({ state: 'dead' })).items[0];
      expect(await store.retry({ ids: [dead.id] })).toEqual({ count: 1 });
      expect((await store.showItem(dead.id)).item.state).toBe('queued');
      await expect(store.pause()).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/^pausing a flow needs a running Ferry: none runs on .*ferry run --config/) });
      await expect(store.putFlow('billing', 'ok', {})).rejects.toMatchObject({ status: 409 });
    } finally {
      store.close();
    }
  });
});
