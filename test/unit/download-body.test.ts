// The download body that reuses its memory: a real TCP connection on 127.0.0.1 reads straight into its blocks,
// the real content store hands them back once written, a slow consumer pauses the socket, copied-in chunks
// cross block boundaries, and an abandoned body cuts the connection.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { DownloadBody, socketReadingInto, writableInto } from '../../connectors/remote/download-body.ts';
import { ContentStore } from '../../main/engine/store/content.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const MB = 1024 * 1024;
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server on 127.0.0.1 that sends `bytes` to each connection, then closes it; `closed` resolves when a client hangs up. */
async function sender(bytes: Buffer, opts: { stallAfter?: number } = {}): Promise<{ port: number; closed: Promise<void> }> {
  let hungUp!: () => void;
  const closed = new Promise<void>((r) => (hungUp = r));
  const server = net.createServer((c) => {
    c.on('error', () => undefined);
    c.on('close', hungUp);
    let at = 0;
    const more = () => {
      while (at < (opts.stallAfter ?? bytes.length)) {
        const chunk = bytes.subarray(at, at + 256 * 1024);
        at += chunk.length;
        if (!c.write(chunk)) return void c.once('drain', more);
      }
      if (opts.stallAfter === undefined) c.end(); // else: a server that stops sending and keeps the connection open
    };
    more();
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, closed };
}

function connect(body: DownloadBody, port: number): net.Socket {
  const socket = socketReadingInto(body);
  socket.on('end', () => body.finish());
  socket.on('error', (err) => body.destroy(err));
  socket.connect(port, '127.0.0.1');
  return socket;
}

describe('download body', () => {
  it('reads a socket straight into a few blocks that the content store hands back, byte for byte', async () => {
    const bytes = crypto.randomBytes(24 * MB + 4321);
    const { port } = await sender(bytes);
    const body = new DownloadBody();
    connect(body, port);
    const store = new ContentStore(tempDir());
    const stored = await store.put({ stream: body, size: bytes.length, recycle: body.recycle });
    expect(stored.size).toBe(bytes.length);
    expect(stored.sha256).toBe(crypto.createHash('sha256').update(bytes).digest('hex'));
    expect(fs.readFileSync(store.pathOf(stored.file!)).equals(bytes)).toBe(true);
    expect(body.blocks).toBeGreaterThan(0);
    expect(body.blocks).toBeLessThanOrEqual(16); // 25 MB went through at most 16 blocks of 256 KB (4 MB), not 100
  });

  it('pauses the socket while a slow consumer has enough queued, and loses nothing', async () => {
    const bytes = crypto.randomBytes(8 * MB);
    const { port } = await sender(bytes);
    const body = new DownloadBody();
    const socket = connect(body, port);
    let pauses = 0;
    const pause = socket.pause.bind(socket);
    socket.pause = () => (pauses++, pause());
    const got: Buffer[] = [];
    await pipeline(
      body,
      new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _enc, done) {
          got.push(Buffer.from(chunk)); // a copy: the block is read into again once recycled
          setTimeout(() => (body.recycle(chunk), done()), 15);
        },
      }),
    );
    expect(pauses).toBeGreaterThan(0);
    expect(Buffer.concat(got).equals(bytes)).toBe(true);
    expect(body.blocks).toBeLessThanOrEqual(12);
  });

  it('copies chunks in across block boundaries (a TLS data connection hands out its own chunks)', async () => {
    const bytes = crypto.randomBytes(3 * MB + 77);
    const chunks: Buffer[] = [];
    for (let at = 0, i = 0; at < bytes.length; i++) {
      const n = 1000 + ((i * 7919) % (90 * 1024));
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    const body = new DownloadBody();
    const got: Buffer[] = [];
    const consumed = pipeline(
      body,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          got.push(Buffer.from(chunk));
          body.recycle(chunk);
          done();
        },
      }),
    );
    await pipeline(Readable.from(chunks), writableInto(body));
    body.finish();
    await consumed;
    expect(Buffer.concat(got).equals(bytes)).toBe(true);
    expect(body.received).toBe(bytes.length);
  });

  it('an abandoned body cuts the connection', async () => {
    const { port, closed } = await sender(crypto.randomBytes(64 * MB));
    const body = new DownloadBody();
    const socket = connect(body, port);
    await new Promise((r) => body.once('readable', r)); // the first block arrived; nothing drains the body
    body.destroy();
    body.on('error', () => undefined);
    await closed; // the server saw the client hang up
    expect(socket.destroyed).toBe(true);
    expect(body.received).toBeLessThan(64 * MB);
  });

  it('an abandoned body cuts a stalled connection at once, and a copying target too', async () => {
    const { port, closed } = await sender(crypto.randomBytes(4 * MB), { stallAfter: 512 * 1024 });
    const body = new DownloadBody();
    const socket = connect(body, port);
    body.resume(); // drained: the socket is not paused, it waits for a server that sends nothing more
    await waitFor(() => body.received === 512 * 1024, 'everything the server sends before it stalls');
    expect(socket.isPaused()).toBe(false);
    body.destroy();
    await closed;
    expect(socket.destroyed).toBe(true);

    const copying = new DownloadBody();
    const target = writableInto(copying);
    target.on('error', () => undefined);
    copying.destroy();
    await new Promise((r) => setImmediate(r));
    expect(target.destroyed).toBe(true);
  });
});
