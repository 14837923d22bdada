// Failures the same input always reproduces go dead at once with their reason, in a real engine: a file
// whose records cannot be written in the output format (intake), an item too deep to encode (delivery).
// Failures of I/O keep being retried, and keep their original: a destination that is down, a download
// dropped before its records were read.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { recordIntake } from '../helpers/intake.ts';
import { startFtpServer, type FtpServerHandle } from '../helpers/ftp-server.ts';
import { oneFlow, runEngine } from '../helpers/remote-engine.ts';

/** A temp folder holding the given (empty) subfolders, for an engine started on it. */
function dirWith(...folders: string[]): string {
  const dir = tempDir('ferry-engine-');
  for (const f of folders) fs.mkdirSync(path.join(dir, f));
  return dir;
}

let run: RunningEngine | undefined;
let sink: Sink | undefined;
let ftp: FtpServerHandle | undefined;
afterEach(async () => {
  await run?.stop();
  run = undefined;
  await sink?.close();
  sink = undefined;
  await ftp?.close();
  ftp = undefined;
});

const retry = { maxAttempts: 12, initialDelayMs: 50, maxDelayMs: 100 };

describe('permanent failures are final at once', () => {
  it('intake: a file whose record is too deep for the XML output goes dead whole, once, naming the cause; the folder moves on', async () => {
    sink = await startSink();
    run = await startEngine({
      minFreeDiskMb: 0,
      integrations: [{
        name: 'x',
        flows: [{
          name: 'deep',
          source: { type: 'folder', path: './in', settleMs: 50, afterDelivery: { action: 'move', to: './done' } },
          destination: { type: 'http', url: `${sink.url}/in` },
          retry,
          // allowed by the parse limits (up to 2,000 levels), but more than the XML writer can nest
          process: [{ parse: { format: 'json', maxDepth: 2000 } }, { batch: { size: 10 } }, { format: { format: 'xml' } }],
        }],
      }],
    }, dirWith('in'));
    const inbox = path.join(run.dir, 'in');
    const deep = `${'{"a":'.repeat(1998)}1${'}'.repeat(1998)}`;
    fs.writeFileSync(path.join(inbox, 'deep.json'), `[{"id":1},${deep}]`);
    fs.writeFileSync(path.join(inbox, 'fine.json'), '[{"id":2}]');
    const q = run.engine.queue;
    await waitFor(() => listFiles(path.join(run!.dir, 'done')).length === 2, 'both files to be done with', 20_000);
    const dead = q.list({ flow: 'deep', state: 'dead' });
    expect(dead.map((d) => [d.name, d.last_error])).toEqual([['deep.json', 'file failed: deep.json cannot be processed: Maximum call stack size exceeded']]);
    // the whole file is kept as the dead item's body: nothing of it is lost
    expect(q.body(dead[0].id) ?? fs.readFileSync(path.join(run.dir, 'data', 'content', dead[0].body_file!))).toEqual(Buffer.from(`[{"id":1},${deep}]`));
    await waitFor(() => sink!.accepted.size === 1, 'the good file delivered');
    expect(run.engine.flow('deep').facts.lastError).toMatch(/deep\.json cannot be processed/);
    expect(q.count({ flow: 'deep', state: 'retrying' })).toBe(0);
  });

  it('delivery: an item too deep to encode is dead after one attempt; a destination that is down is retried', async () => {
    sink = await startSink();
    run = await startEngine({
      minFreeDiskMb: 0,
      integrations: [{
        name: 'x',
        flows: [
          { name: 'steps', source: { type: 'folder', path: './in', settleMs: 50 }, destination: { type: 'http-steps', steps: [{ name: 'create', url: `${sink.url}/create` }] }, retry },
          { name: 'down', source: { type: 'folder', path: './in2', settleMs: 50 }, destination: { type: 'http-steps', steps: [{ name: 'create', url: 'http://127.0.0.1:1/create' }] }, retry },
        ],
      }],
    }, dirWith('in', 'in2'));
    fs.writeFileSync(path.join(run.dir, 'in', 'deep.json'), `${'['.repeat(200_000)}${']'.repeat(200_000)}`);
    fs.writeFileSync(path.join(run.dir, 'in2', 'order.json'), '{"id":1}');
    const q = run.engine.queue;
    await waitFor(() => q.count({ flow: 'steps', state: 'dead' }) === 1, 'the deep item to go dead');
    const [item] = q.list({ flow: 'steps', state: 'dead' });
    expect(item.attempts).toBe(1);
    expect(item.last_error).toBe('Maximum call stack size exceeded (the item fails the same way on every attempt)');
    expect(sink.received).toHaveLength(0);
    await waitFor(() => (q.list({ flow: 'down' })[0]?.attempts ?? 0) >= 2, 'the unreachable destination to be tried again');
    expect(q.list({ flow: 'down' })[0].state).not.toBe('dead');
  });
});

describe('transient failures keep the original', () => {
  it('a file whose intake is interrupted (Ferry stops while it waits for room in the queue) stays in place, and is taken whole after the restart', async () => {
    // a destination that holds every answer back: the queue stays full, intake waits
    sink = await startSink(() => ({ delayMs: 60_000 }));
    const dir = dirWith('in');
    const config = (url: string) => ({
      minFreeDiskMb: 0,
      integrations: [{
        name: 'x',
        flows: [{
          name: 'rows',
          source: { type: 'folder', path: './in', settleMs: 50, afterDelivery: { action: 'move', to: './done' } },
          destination: { type: 'http', url: `${url}/in`, concurrency: 1, timeoutMs: 120_000 },
          limits: { maxQueuedItems: 2 },
          process: [{ parse: { format: 'csv' } }, { batch: { size: 1 } }, { format: { format: 'json' } }],
        }],
      }],
    });
    run = await startEngine(config(sink.url), dir);
    fs.writeFileSync(path.join(dir, 'in', 'a.csv'), 'id\n1\n2\n3\n');
    await waitFor(() => run!.engine.flow('rows').facts.intakeBlocked !== undefined, 'intake to wait for room');
    const intake = recordIntake(run.engine.flow('rows').source);
    fs.writeFileSync(path.join(dir, 'in', 'b.csv'), 'id\n4\n5\n');
    await intake.decided('b.csv', 'settling'); // b.csv is seen, and waits behind a.csv (its intake holds the core until there is room)
    intake.stop();
    await run.stop();
    run = undefined;
    expect(listFiles(path.join(dir, 'done'))).toEqual([]); // nothing moved that was not wholly queued and delivered
    expect(listFiles(path.join(dir, 'in')).sort()).toEqual(['a.csv', 'b.csv']);
    await sink.close();
    sink = await startSink();
    run = await startEngine(config(sink.url), dir);
    await waitFor(() => listFiles(path.join(dir, 'done')).length === 2, 'both files delivered and moved after the restart', 20_000);
    const ids = new Set(sink.received.flatMap((r) => (JSON.parse(r.body.toString()) as Array<{ id: string }>).map((x) => x.id)));
    expect([...ids].sort()).toEqual(['1', '2', '3', '4', '5']);
  });

  it('a download dropped before its records are read is retried; the original is deleted only once every record is delivered', async () => {
    ftp = await startFtpServer();
    const rows = Array.from({ length: 5000 }, (_, i) => `${i + 1},customer ${i + 1}`).join('\n');
    fs.mkdirSync(path.join(ftp.root, 'exports'));
    fs.writeFileSync(path.join(ftp.root, 'exports', 'orders.csv'), `id,name\n${rows}\n`);
    ftp.faults.dropDownloadAfterBytes = 16 * 1024;
    ftp.faults.dropDownloads = 1;
    sink = await startSink();
    const dir = tempDir();
    const remote = await runEngine(dir, oneFlow(
      { type: 'ftp', host: '127.0.0.1', port: ftp.port, username: ftp.user, password: ftp.password, path: '/exports', settleMs: 0, afterDelivery: { action: 'delete' } },
      { type: 'http', url: `${sink.url}/in` },
      { process: [{ parse: { format: 'csv' } }, { batch: { size: 500 } }, { format: { format: 'json' } }] },
    ));
    try {
      await waitFor(() => remote.lastError('f'), 'the dropped download reported');
      await waitFor(() => listFiles(path.join(ftp!.root, 'exports')).length === 0, 'the original deleted after delivery', 30_000);
      const ids = new Set(sink.received.flatMap((r) => (JSON.parse(r.body.toString()) as Array<{ id: string }>).map((x) => x.id)));
      expect(ids.size).toBe(5000);
      expect(ftp.faults.dropDownloads).toBe(0);
    } finally {
      await remote.stop();
    }
  });
});
