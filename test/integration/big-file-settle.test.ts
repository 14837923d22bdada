// A large local file, folder → HTTP through the engine: the body delivered is the file as it settled. A writer
// that changes the file once Ferry stored it changes nothing of what goes out (retries included); one that
// writes while Ferry copies it makes the store refuse the copy, and the file goes once it settles again, once,
// whole, with no problem reported. A file that arrives whole is copied while it settles; a writer changing it
// meanwhile, even keeping its size and time, makes that copy go unused.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STORE_AHEAD_MIN_BYTES } from '../../connectors/contract.ts';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const open: Array<{ close(): Promise<void> } | RunningEngine> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (open.length) {
    const o = open.pop()!;
    await ('engine' in o ? o.stop() : o.close());
  }
});

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

/** Overwrites the first and the last bytes of a file in place: same size, new content (as a database does). */
function overwriteInPlace(file: string, bytes: Buffer): void {
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, bytes, 0, bytes.length, 0);
  fs.writeSync(fd, bytes, 0, bytes.length, fs.fstatSync(fd).size - bytes.length);
  fs.closeSync(fd);
}

/** `bytes` as overwriteInPlace leaves them. */
const overwritten = (bytes: Buffer, by: Buffer) => Buffer.concat([by, bytes.subarray(by.length, bytes.length - by.length), by]);

async function folderToHttp(sink: Sink, settleMs = 200): Promise<{ run: RunningEngine; inbox: string }> {
  const dir = tempDir();
  const inbox = path.join(dir, 'in');
  fs.mkdirSync(inbox);
  const run = await startEngine({
    integrations: [{
      name: 'big',
      flows: [{
        name: 'big',
        source: { type: 'folder', path: inbox, settleMs },
        trigger: { on: 'change' },
        destination: { type: 'http', url: `${sink.url}/in` },
        retry: { initialDelayMs: 50, maxDelayMs: 200, maxAttempts: 10 },
      }],
    }],
  }, dir);
  open.push(run);
  return { run, inbox };
}

/** A file of random bytes written elsewhere, dated a minute back (or left as written), then renamed into `inbox` whole. */
function dropFile(inbox: string, size: number, opts: { dated?: boolean } = {}): { file: string; bytes: Buffer; past: Date } {
  const bytes = crypto.randomBytes(size);
  const staged = path.join(path.dirname(inbox), 'staged.bin');
  fs.writeFileSync(staged, bytes);
  const past = new Date(Date.now() - 60_000);
  if (opts.dated !== false) fs.utimesSync(staged, past, past);
  const file = path.join(inbox, 'export.bin');
  fs.renameSync(staged, file);
  return { file, bytes, past };
}

describe('a large file delivered as it settled', () => {
  it('a writer changing the file after it was stored does not change what is delivered, nor the retry', async () => {
    let src: { file: string; bytes: Buffer } | undefined;
    const later = crypto.randomBytes(64 * 1024);
    // the first attempt fails; meanwhile the writer overwrites the file in place
    const sink = await startSink((_req, _body, n) => {
      if (n > 0) return undefined;
      overwriteInPlace(src!.file, later);
      return { status: 503 };
    });
    open.push(sink);
    const { inbox } = await folderToHttp(sink);
    src = dropFile(inbox, 5 * 1024 * 1024 + 3);
    const acceptedNow = () => [...sink.accepted.values()].flat();
    await waitFor(() => acceptedNow().length >= 2, 'both versions delivered');
    const accepted = acceptedNow();
    const first = sink.received[0];
    const retry = sink.received[1];
    // the failed attempt and its retry both carried the file as it settled, under one key
    expect(sha(first.body)).toBe(sha(src.bytes));
    expect(sha(retry.body)).toBe(sha(src.bytes));
    expect(retry.headers['idempotency-key']).toBe(first.headers['idempotency-key']);
    // the changed file is a new version: it goes too, under its own key, whole
    const changed = overwritten(src.bytes, later);
    expect(accepted.map((r) => sha(r.body))).toEqual([sha(src.bytes), sha(changed)]);
    expect(accepted[1].headers['idempotency-key']).not.toBe(first.headers['idempotency-key']);
  });

  it('a writer changing the file while it is copied: the copy is refused, the file goes once it settled again, whole, with no problem', async () => {
    const sink = await startSink();
    open.push(sink);
    const { run, inbox } = await folderToHttp(sink);
    const later = crypto.randomBytes(256 * 1024);
    let file = '';
    // the writer strikes once the store has read the first block of the file (same size, in place)
    const handle = await fs.promises.open(__filename, 'r');
    await handle.close();
    const proto: fs.promises.FileHandle = Object.getPrototypeOf(handle);
    const read = proto.read as (this: fs.promises.FileHandle, ...args: unknown[]) => Promise<unknown>;
    let struck = false;
    vi.spyOn(proto, 'read').mockImplementation(async function (this: fs.promises.FileHandle, ...args: unknown[]) {
      const r = await read.apply(this, args);
      if (!struck && file && (await this.stat()).ino === fs.statSync(file).ino) {
        struck = true;
        overwriteInPlace(file, later);
      }
      return r;
    } as typeof proto.read);
    const src = dropFile(inbox, 6 * 1024 * 1024);
    file = src.file;
    const changed = overwritten(src.bytes, later);
    await waitFor(() => sink.accepted.size === 1, 'the file delivered');
    expect(struck).toBe(true);
    expect(sink.received.map((r) => sha(r.body))).toEqual([sha(changed)]);
    const flow = run.engine.status().flows.find((f) => f.flow === 'big')!;
    expect(flow.source.problem).toBeNull();
    expect(flow.lastError).toBeNull();
    // the refused copy left nothing in the content store
    await waitFor(() => run.engine.queue.count({ flow: 'big', state: 'delivered' }) === 1, 'delivery recorded');
    expect(listFiles(path.join(run.dir, 'data', 'content', 'tmp'))).toEqual([]);
    expect(listFiles(path.join(run.dir, 'data', 'content')).filter((f) => !f.startsWith('tmp')).length).toBeLessThanOrEqual(1);
  });

  it('a file that arrives whole is copied while it settles: delivered once, as it settled, from that copy', async () => {
    const sink = await startSink();
    open.push(sink);
    const { run, inbox } = await folderToHttp(sink, 1500);
    // renamed in with its old time (a copy keeping times), then one written just now and renamed at once
    const dated = dropFile(inbox, STORE_AHEAD_MIN_BYTES + 1001);
    await waitFor(() => sink.accepted.size === 1, 'the dated file delivered');
    expect(run.engine.content.aheadCounts).toEqual({ started: 1, used: 1, dropped: 0 });
    fs.rmSync(dated.file, { force: true });
    const fresh = dropFile(inbox, STORE_AHEAD_MIN_BYTES + 2002, { dated: false });
    await waitFor(() => sink.accepted.size === 2, 'the fresh file delivered');
    expect(sink.received.map((r) => sha(r.body))).toEqual([sha(dated.bytes), sha(fresh.bytes)]);
    expect(run.engine.content.aheadCounts).toEqual({ started: 2, used: 2, dropped: 0 });
    await waitFor(() => run.engine.queue.count({ flow: 'big', state: 'delivered' }) === 2, 'deliveries recorded');
    expect(listFiles(path.join(run.dir, 'data', 'content', 'tmp'))).toEqual([]);
  });

  it('a writer changing the file during its settle, keeping its size and time: what goes is the file as it settled, not the early copy', async () => {
    const sink = await startSink();
    open.push(sink);
    const { run, inbox } = await folderToHttp(sink, 1500);
    const src = dropFile(inbox, STORE_AHEAD_MIN_BYTES + 3003);
    // the copy has looked at the file and written some of it
    const tmp = path.join(run.dir, 'data', 'content', 'tmp');
    await waitFor(() => listFiles(tmp).some((f) => fs.statSync(path.join(tmp, f)).size > 0), 'the copy begun', 30_000, 5);
    // in place, then the time set back: the watcher sees the same size and time, only the change time moved
    const later = crypto.randomBytes(64 * 1024);
    const settledWith = fs.statSync(src.file);
    overwriteInPlace(src.file, later);
    fs.utimesSync(src.file, src.past, src.past); // exactly the time it had (a Date from stat would round it)
    const after = fs.statSync(src.file);
    expect([after.size, after.mtimeMs]).toEqual([settledWith.size, settledWith.mtimeMs]);
    expect(after.ctimeMs).not.toBe(settledWith.ctimeMs);
    await waitFor(() => sink.accepted.size === 1, 'the file delivered');
    expect(sink.received.map((r) => sha(r.body))).toEqual([sha(overwritten(src.bytes, later))]);
    // the early copy was dropped, and none other began (once per file)
    expect(run.engine.content.aheadCounts).toEqual({ started: 1, used: 0, dropped: 1 });
    await waitFor(() => listFiles(path.join(run.dir, 'data', 'content', 'tmp')).length === 0, 'the early copy removed');
  });

  it('a writer that pauses mid-file costs one early copy, not one per pause, and the file goes whole', async () => {
    const sink = await startSink();
    open.push(sink);
    const { run, inbox } = await folderToHttp(sink, 1500);
    const file = path.join(inbox, 'slow.bin');
    const parts: Buffer[] = [];
    // 6 MB at a time, a second apart: past 16 MB, each pause looks like the end of the file
    for (let i = 0; i < 5; i++) {
      const part = crypto.randomBytes(6 * 1024 * 1024);
      parts.push(part);
      fs.appendFileSync(file, part);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await waitFor(() => sink.accepted.size === 1, 'the file delivered');
    expect(sink.received.map((r) => sha(r.body))).toEqual([sha(Buffer.concat(parts))]);
    expect(run.engine.content.aheadCounts).toEqual({ started: 1, used: 0, dropped: 1 });
    await waitFor(() => listFiles(path.join(run.dir, 'data', 'content', 'tmp')).length === 0, 'the early copy removed');
  });
});
