// The last delivery is a fact about data, not about one process: after a restart (clean, or a kill before the
// engine persisted its facts) the status, and so the tray and `ferry status`, still show it.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { trayTooltip } from '../../main/desktop/tray.ts';

let running: RunningEngine | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

function config(inbox: string, outbox: string) {
  return { integrations: [{ name: 'i', flows: [{ name: 'copy', source: { type: 'folder', path: inbox, settleMs: 50 }, destination: { type: 'folder', path: outbox } }] }] };
}

async function deliverOne(dir: string, inbox: string, outbox: string): Promise<string> {
  running = await startEngine(config(inbox, outbox), dir);
  fs.writeFileSync(path.join(inbox, 'a.txt'), 'a');
  await waitFor(() => running!.engine.status().flows[0].counts.delivered === 1, 'the file delivered');
  // the engine persists its facts every second
  await waitFor(() => running!.engine.status().flows[0].lastDeliveryAt !== null, 'the delivery time shown');
  const at = running.engine.status().flows[0].lastDeliveryAt;
  await running.stop();
  running = undefined;
  return at!;
}

describe('last delivery across restarts', () => {
  it('is still shown after a clean restart, and the destination counts as healthy', async () => {
    const dir = tempDir('ferry-last-delivery-');
    const [inbox, outbox] = [tempDir(), tempDir()];
    const at = await deliverOne(dir, inbox, outbox);

    running = await startEngine(config(inbox, outbox), dir);
    const flow = running.engine.status().flows[0];
    expect(flow.lastDeliveryAt).not.toBeNull();
    // the flow's own record and its newest delivered item's settling time agree to within a commit
    expect(Math.abs(Date.parse(flow.lastDeliveryAt!) - Date.parse(at))).toBeLessThan(1000);
    expect(flow.destination.health).toBe('ok');
    expect(trayTooltip(running.engine.status())).toMatch(/last sync/);
    // the engine's first persisting of its facts keeps it too (it used to write null over it)
    const runs = running.engine.maintenanceRuns;
    await waitFor(() => running!.engine.maintenanceRuns >= runs + 1, 'a maintenance pass (it writes the facts)');
    expect(running.engine.status().flows[0].lastDeliveryAt).toBe(flow.lastDeliveryAt);
  });

  it('is found in the queue when the process died before persisting it', async () => {
    const dir = tempDir('ferry-last-delivery-');
    const [inbox, outbox] = [tempDir(), tempDir()];
    const at = await deliverOne(dir, inbox, outbox);
    // what a kill -9 within a second of the delivery leaves: the item settled, the flow's facts not yet written
    const db = new Database(path.join(dir, 'data', 'ferry.db'));
    db.prepare('UPDATE flow_state SET last_delivery_at = NULL').run();
    db.close();

    running = await startEngine(config(inbox, outbox), dir);
    const shown = running.engine.status().flows[0].lastDeliveryAt;
    expect(shown).not.toBeNull();
    expect(Math.abs(Date.parse(shown!) - Date.parse(at))).toBeLessThan(1000);
  });

  it('stays empty for a flow that never delivered', async () => {
    const dir = tempDir('ferry-last-delivery-');
    running = await startEngine(config(tempDir(), tempDir()), dir);
    expect(running.engine.status().flows[0].lastDeliveryAt).toBeNull();
    expect(running.engine.status().flows[0].destination.health).toBe('unknown');
  });
});
