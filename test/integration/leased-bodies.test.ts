// Items that wait in the queue (the flow was paused, so none was handed to the dispatcher at intake) are leased
// in batches; their inline bodies are read with each batch in one statement instead of one read per item, and
// every body still arrives as it was written (large ones from the content store).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { INLINE_MAX_BYTES } from '../../main/engine/store/content.ts';
import { startSink } from '../helpers/sink.ts';
import { writeConfig } from '../helpers/cli.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const cleanup: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

it('a queued backlog is leased with its inline bodies read per batch, and each body arrives intact', async () => {
  const sink = await startSink();
  cleanup.push(() => sink.close());
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'in'));
  const file = writeConfig(dir, {
    dataDir: './data',
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/x`, concurrency: 2 } }] }],
  });
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 1000 });
  await engine.start();
  cleanup.push(() => engine.stop());
  engine.flow('f').setPaused(true);

  // 60 small files (inline bodies, more than one lease batch of 2 × 17) and one above the inline limit
  const written = new Map<string, Buffer>();
  for (let i = 0; i < 60; i++) written.set(`s${String(i).padStart(2, '0')}.bin`, crypto.randomBytes(100 + i * 37));
  written.set('large.bin', crypto.randomBytes(INLINE_MAX_BYTES + 1000));
  for (const [name, body] of written) fs.writeFileSync(path.join(dir, 'in', name), body);
  await waitFor(() => engine.queue.count({ state: 'queued' }) === written.size, 'every file queued while paused');

  // watch the queue's two body reads (the real methods, counted)
  const calls = { one: 0, batch: 0 };
  const q = engine.queue;
  const one = q.body.bind(q);
  const batch = q.bodies.bind(q);
  q.body = (id) => (calls.one++, one(id));
  q.bodies = (ids) => (calls.batch++, batch(ids));

  engine.flow('f').setPaused(false);
  await waitFor(() => engine.queue.count({ state: 'delivered' }) === written.size, 'every item delivered', 30_000);
  const received = new Map(sink.received.map((r) => [decodeURIComponent(String(r.headers['x-ferry-filename'])), r.body]));
  for (const [name, body] of written) expect(received.get(name)?.equals(body), name).toBe(true);
  expect(calls.batch).toBeGreaterThanOrEqual(2);
  expect(calls.one).toBe(0);
});
