// The tray's pure functions fed with a real engine's status reports: a real HTTP sink that fails, retries,
// dead items, pause; the notifier announces the dead item once.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { problemsFromStatus, trayMenuTemplate, trayState, trayTooltip } from '../../main/desktop/tray.ts';
import { NotificationLimiter } from '../../main/desktop/notifications.ts';

let admin: AdminHarness | undefined;
let sink: Sink | undefined;
afterAll(async () => {
  await admin?.stop();
  await sink?.close();
});

describe('tray state from a running engine', () => {
  it('goes ok → attention (retrying) → error (dead) → paused, with matching tooltip, menu and notices', async () => {
    let status = 503;
    // Retry-After wins over the (jittered) backoff: a deterministic 2 s in 'retrying' to observe
    sink = await startSink(() => (status === 200 ? undefined : { status, headers: { 'retry-after': '2' } }));
    const inbox = tempDir();
    admin = await startAdmin({
      integrations: [{ name: 'i', flows: [{
        name: 'orders',
        source: { type: 'folder', path: inbox, settleMs: 50 },
        destination: { type: 'http', url: `${sink.url}/in` },
        retry: { maxAttempts: 2, initialDelayMs: 300, maxDelayMs: 5000 },
      }] }],
    });
    const engine = admin.engine;
    const notifier = new NotificationLimiter();
    expect(trayState(engine.status())).toBe('ok');
    expect(notifier.observe(engine.status())).toEqual([]);
    expect(trayTooltip(engine.status())).toBe('Ferry: 1 flow OK, 0 queued, nothing synced yet');

    fs.writeFileSync(path.join(inbox, 'a.json'), '{"a":1}');
    await waitFor(() => trayState(engine.status()) === 'attention', 'attention while retrying');
    expect(trayTooltip(engine.status())).toMatch(/^Ferry: 0 of 1 flow OK, 1 flow retrying, 1 queued, nothing synced yet$/);

    await waitFor(() => trayState(engine.status()) === 'error', 'error once the item is dead');
    const report = engine.status();
    expect(trayTooltip(report)).toBe('Ferry: 0 of 1 flow OK, 1 dead item, 0 queued, nothing synced yet');
    const notices = notifier.observe(report);
    expect(notices.map((n) => n.key)).toEqual(['dead:orders']);
    expect(notices[0].route).toBe('#/queue?flow=orders&state=dead');
    expect(notifier.observe(engine.status())).toEqual([]);

    const dead = engine.queue.list({ state: 'dead' }).map((i) => ({ flow: i.flow, itemId: i.id, name: i.name, message: i.last_error ?? '' }));
    const menu = trayMenuTemplate({ report, problems: dead, startAtLogin: false });
    const problem = menu.find((m) => m.label?.startsWith('orders / a.json: '));
    expect(problem?.action).toEqual({ kind: 'open', route: `#/queue/${dead[0].itemId}` });
    expect(problemsFromStatus(report)[0]).toMatchObject({ flow: 'orders' });

    // the sink recovers and the item is retried: back to ok, with a last sync
    status = 200;
    engine.retry({ state: 'dead' });
    await waitFor(() => trayState(engine.status()) === 'ok' && engine.status().flows[0].lastDeliveryAt, 'ok after the retry');
    expect(trayTooltip(engine.status())).toBe('Ferry: 1 flow OK, 0 queued, last sync just now');

    for (const f of engine.flows.values()) f.setPaused(true);
    expect(trayState(engine.status())).toBe('paused');
    expect(trayMenuTemplate({ report: engine.status(), problems: [], startAtLogin: false }).some((m) => m.label === 'Resume')).toBe(true);
  });
});
