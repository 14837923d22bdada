// HTTP destination against a real HTTP server on 127.0.0.1: status mapping, Retry-After, recorded responses,
// auth headers, streaming of a large body, and check() that never throws.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpDestination, parseRetryAfter } from '../../connectors/http/destination.ts';
import { httpDestinationSchema } from '../../connectors/http/schema.ts';
import type { DestinationContext, OutgoingItem } from '../../connectors/contract.ts';
import { outgoingItem } from '../helpers/items.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import { startSink, type Sink, type Behaviour } from '../helpers/sink.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startSignedSink } from '../helpers/certs.ts';
import { readBlocks } from '../../main/engine/store/file-blocks.ts';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

async function sinkWith(b: Behaviour): Promise<Sink> {
  const s = await startSink(b);
  closers.push(() => s.close());
  return s;
}

function dest(cfg: Record<string, unknown>): HttpDestination {
  const d = new HttpDestination(httpDestinationSchema.parse(cfg));
  closers.push(() => d.close());
  return d;
}

const item = (body: Buffer | string, extra: Partial<OutgoingItem> = {}) =>
  outgoingItem('report 1.csv', body, { flow: 'upload', idempotencyKey: 'key-123', ...extra });

const ctx = (signal = new AbortController().signal): DestinationContext => ({ flow: 'upload', log: silentLogger, signal });

describe('http destination: what it sends', () => {
  it('POSTs the bytes with Content-Type, X-Ferry-Filename, X-Ferry-Flow, Idempotency-Key and extra headers', async () => {
    const sink = await sinkWith(() => ({ status: 201 }));
    const d = dest({ url: `${sink.url}/in?x=1`, headers: { 'X-Tenant': 'acme' } });
    const out = await d.send(item('a,b\n1,2\n'), ctx());
    expect(out).toEqual({ kind: 'delivered', detail: 'HTTP 201' });
    const r = sink.received[0];
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/in?x=1');
    expect(r.body.toString()).toBe('a,b\n1,2\n');
    expect(r.headers['content-type']).toBe('text/csv');
    expect(r.headers['content-length']).toBe('8');
    expect(decodeURIComponent(String(r.headers['x-ferry-filename']))).toBe('report 1.csv');
    expect(r.headers['x-ferry-flow']).toBe('upload');
    expect(r.headers['idempotency-key']).toBe('key-123');
    expect(r.headers['x-tenant']).toBe('acme');
  });

  it('honours method and contentType overrides, and sends an empty body', async () => {
    const sink = await sinkWith(() => undefined);
    const d = dest({ url: sink.url, method: 'PUT', contentType: 'application/x-custom' });
    expect((await d.send(item(''), ctx())).kind).toBe('delivered');
    expect(sink.received[0].method).toBe('PUT');
    expect(sink.received[0].headers['content-type']).toBe('application/x-custom');
    expect(sink.received[0].body.length).toBe(0);
  });

  it('auth: bearer, basic and API-key headers', async () => {
    const sink = await sinkWith(() => undefined);
    await dest({ url: sink.url, auth: { type: 'bearer', token: 'tok' } }).send(item('x'), ctx());
    await dest({ url: sink.url, auth: { type: 'basic', username: 'ann', password: 'p:w' } }).send(item('x'), ctx());
    await dest({ url: sink.url, auth: { type: 'apiKey', header: 'X-Secret-Key', value: 'v1' } }).send(item('x'), ctx());
    await dest({ url: sink.url, auth: { type: 'apiKey', value: 'v2' } }).send(item('x'), ctx());
    expect(sink.received[0].headers.authorization).toBe('Bearer tok');
    expect(sink.received[1].headers.authorization).toBe(`Basic ${Buffer.from('ann:p:w').toString('base64')}`);
    expect(sink.received[2].headers['x-secret-key']).toBe('v1');
    expect(sink.received[3].headers['x-api-key']).toBe('v2');
  });

  it('streams a 50 MB file body without reading it whole', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'big.bin');
    const chunk = crypto.randomBytes(1024 * 1024);
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < 50; i++) fs.writeSync(fd, chunk);
    fs.closeSync(fd);
    const hash = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
    const sink = await sinkWith(() => undefined);
    const d = dest({ url: sink.url });
    const out = await d.send(item(Buffer.alloc(0), {
      name: 'big.bin',
      size: 50 * 1024 * 1024,
      sha256: hash,
      openBody: () => fs.createReadStream(file),
      readBody: async () => {
        throw new Error('the body must be streamed, not read whole');
      },
    }), ctx());
    expect(out.kind).toBe('delivered');
    const got = sink.received[0].body;
    expect(got.length).toBe(50 * 1024 * 1024);
    expect(crypto.createHash('sha256').update(got).digest('hex')).toBe(hash);
    expect(sink.received[0].headers['content-type']).toBe('application/octet-stream');
  });
});

describe('http destination: a stored body in reused blocks', () => {
  /** A server that reads each body slowly (its socket's buffers fill, so the sender waits on drain), hashing it. */
  async function slowHashingServer(): Promise<{ url: string; got: Array<{ bytes: number; sha256: string }> }> {
    const got: Array<{ bytes: number; sha256: string }> = [];
    const server = http.createServer((req, res) => {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      let chunks = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
        if (++chunks % 64 === 0) {
          req.pause();
          setTimeout(() => req.resume(), 5);
        }
      });
      req.on('end', () => {
        got.push({ bytes, sha256: hash.digest('hex') });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))));
    return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/in`, got };
  }

  /** A file of `size` random bytes, its sha256, and an item whose body can only be read in blocks. */
  function storedBody(size: number): { file: string; sha256: string; item: OutgoingItem } {
    const file = path.join(tempDir(), 'body.bin');
    const bytes = crypto.randomBytes(size);
    fs.writeFileSync(file, bytes);
    const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
    const fail = () => {
      throw new Error('a stored body goes in blocks, not as a stream or whole');
    };
    return { file, sha256, item: item(Buffer.alloc(0), { name: 'body.bin', size, sha256, bodyFile: file, bodyBlocks: () => readBlocks(file, size), openBody: fail, readBody: fail }) };
  }

  it('sends 40 MB byte for byte to a slow reader through three reused buffers', async () => {
    const handle = await fs.promises.open(__filename, 'r');
    await handle.close();
    const proto: fs.promises.FileHandle = Object.getPrototypeOf(handle);
    const reads: Buffer[] = [];
    const read = proto.read as (this: fs.promises.FileHandle, ...args: unknown[]) => Promise<unknown>;
    const spy = vi.spyOn(proto, 'read').mockImplementation(function (this: fs.promises.FileHandle, ...args: unknown[]) {
      reads.push(args[0] as Buffer);
      return read.apply(this, args);
    } as typeof proto.read);
    const server = await slowHashingServer();
    const body = storedBody(40 * 1024 * 1024 + 12345); // not a whole number of blocks
    const out = await dest({ url: server.url }).send(body.item, ctx());
    spy.mockRestore();
    expect(out.kind).toBe('delivered');
    expect(server.got).toEqual([{ bytes: 40 * 1024 * 1024 + 12345, sha256: body.sha256 }]);
    expect(new Set(reads.map((b) => b.buffer)).size).toBeLessThanOrEqual(3);
  });

  it('sends a stored body over TLS byte for byte', async () => {
    const { ca, sink } = await startSignedSink();
    closers.push(() => sink.close());
    const body = storedBody(9 * 1024 * 1024 + 1);
    const out = await dest({ url: sink.url, tls: { ca: [ca.cert] } }).send(body.item, ctx());
    expect(out.kind).toBe('delivered');
    expect(crypto.createHash('sha256').update(sink.received[0].body).digest('hex')).toBe(body.sha256);
  });

  it('a stored body shorter than its size is an error naming the file (retried), not a short request', async () => {
    const server = await slowHashingServer();
    const body = storedBody(3 * 1024 * 1024);
    fs.truncateSync(body.file, 2 * 1024 * 1024 + 10);
    const out = await dest({ url: server.url }).send(body.item, ctx());
    expect(out).toMatchObject({ kind: 'retry' });
    expect(server.got).toEqual([]);
    await expect(async () => {
      for await (const _ of readBlocks(body.file, 3 * 1024 * 1024)) void _;
    }).rejects.toThrow(/body\.bin ends after 2097162 of its 3145728 bytes/);
  });
});

describe('http destination: status mapping', () => {
  it.each([200, 202, 204])('%i is delivered', async (status) => {
    const sink = await sinkWith(() => ({ status }));
    expect((await dest({ url: sink.url }).send(item('x'), ctx())).kind).toBe('delivered');
  });

  it.each([408, 425, 429, 500, 502, 503, 504])('%i is retried with its status and response', async (status) => {
    const sink = await sinkWith(() => ({ status, body: `busy ${status}` }));
    const out = await dest({ url: sink.url }).send(item('x'), ctx());
    expect(out).toMatchObject({ kind: 'retry', status, response: `busy ${status}`, reason: `HTTP ${status} from 127.0.0.1:${sink.port}` });
    expect((out as { retryAfterMs?: number }).retryAfterMs).toBeUndefined();
  });

  it('Retry-After in seconds and as an HTTP date', async () => {
    let header = '7';
    const sink = await sinkWith(() => ({ status: 429, headers: { 'retry-after': header } }));
    const d = dest({ url: sink.url });
    const a = await d.send(item('x'), ctx());
    expect(a).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 7000 });
    header = new Date(Date.now() + 30_000).toUTCString();
    const b = (await d.send(item('x'), ctx())) as { retryAfterMs?: number };
    expect(b.retryAfterMs).toBeGreaterThan(25_000);
    expect(b.retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:00Z'))).toBe(60_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T08:00:00Z'))).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it.each([
    [410, /HTTP 410 .*gone/],
    [400, /^HTTP 400 from /],
    [401, /HTTP 401 .*credentials/],
    [403, /HTTP 403 .*credentials/],
    [404, /^HTTP 404 from /],
    [422, /^HTTP 422 from /],
  ])('%i goes dead with its status and response', async (status, reason) => {
    const sink = await sinkWith(() => ({ status, body: `{"error":"no ${status}"}` }));
    const out = await dest({ url: sink.url }).send(item('x'), ctx());
    expect(out.kind).toBe('dead');
    expect(out).toMatchObject({ status, response: `{"error":"no ${status}"}` });
    expect((out as { reason: string }).reason).toMatch(reason);
  });

  it('records at most 2 KB of a long error response', async () => {
    const long = 'E'.repeat(100_000);
    const sink = await sinkWith(() => ({ status: 400, body: long }));
    const out = (await dest({ url: sink.url }).send(item('x'), ctx())) as { response: string };
    expect(out.response.length).toBe(2048);
    expect(out.response).toBe('E'.repeat(2048));
  });

  it('does not follow a redirect: 3xx goes dead naming the location', async () => {
    const sink = await sinkWith((req) => (req.url === '/moved' ? { status: 301, headers: { location: '/new' } } : undefined));
    const out = await dest({ url: `${sink.url}/moved` }).send(item('x'), ctx());
    expect(out).toMatchObject({ kind: 'dead', status: 301 });
    expect((out as { reason: string }).reason).toContain('redirect to /new not followed');
    expect(sink.received.map((r) => r.url)).toEqual(['/moved']);
  });

  it('a connection reset, a refused port and a timeout are retried with a clear reason', async () => {
    const sink = await sinkWith(() => 'reset');
    const reset = await dest({ url: sink.url }).send(item('x'), ctx());
    expect(reset.kind).toBe('retry');
    expect((reset as { reason: string }).reason).toMatch(/reset|closed|socket/i);

    const port = await freePort();
    const refused = await dest({ url: `http://127.0.0.1:${port}/` }).send(item('x'), ctx());
    expect(refused).toMatchObject({ kind: 'retry', reason: `host unreachable: connection refused by 127.0.0.1:${port}` });

    const hanging = http.createServer(() => undefined); // reads the request, never answers
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => (hanging.closeAllConnections(), hanging.close(r))));
    const hport = (hanging.address() as net.AddressInfo).port;
    const started = Date.now();
    const slow = await dest({ url: `http://127.0.0.1:${hport}/`, timeoutMs: 300 }).send(item('x'), ctx());
    expect(slow).toMatchObject({ kind: 'retry', reason: `timed out talking to 127.0.0.1:${hport}` });
  });

  it('an abort (Ferry stopping) interrupts a hanging request', async () => {
    const hanging = http.createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => (hanging.closeAllConnections(), hanging.close(r))));
    const port = (hanging.address() as net.AddressInfo).port;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const out = await dest({ url: `http://127.0.0.1:${port}/`, timeoutMs: 30_000 }).send(item('x'), ctx(ac.signal));
    expect(out).toMatchObject({ kind: 'retry', reason: 'delivery interrupted (Ferry is stopping)' });
  });
});

describe('http destination: check() never throws', () => {
  it('reports a reachable endpoint as ok', async () => {
    const sink = await sinkWith(() => undefined);
    const r = await dest({ url: sink.url }).check();
    expect(r.ok).toBe(true);
    expect(sink.received[0].method).toBe('HEAD');
  });

  it('reports a refused port, 401 and 5xx as not ok with a clear message', async () => {
    const port = await freePort();
    await expect(dest({ url: `http://127.0.0.1:${port}/` }).check()).resolves.toEqual({ ok: false, message: `host unreachable: connection refused by 127.0.0.1:${port}` });
    const s401 = await sinkWith(() => ({ status: 401 }));
    await expect(dest({ url: s401.url, auth: { type: 'bearer', token: 'bad' } }).check()).resolves.toEqual({ ok: false, message: `authentication failed: ${s401.url} answered HTTP 401` });
    expect(s401.received[0].headers.authorization).toBe('Bearer bad');
    const s503 = await sinkWith(() => ({ status: 503 }));
    const r = await dest({ url: s503.url }).check();
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.message).toContain('HTTP 503');
    const bad = await dest({ url: 'http://no-such-host.invalid/' }).check();
    expect(bad.ok).toBe(false);
  });

  it('reports a timeout as not ok', async () => {
    const hanging = net.createServer(() => undefined); // accepts TCP, never speaks HTTP
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    const sockets = new Set<net.Socket>();
    hanging.on('connection', (s) => sockets.add(s));
    closers.push(() => new Promise((r) => (sockets.forEach((s) => s.destroy()), hanging.close(r))));
    const port = (hanging.address() as net.AddressInfo).port;
    const r = await dest({ url: `http://127.0.0.1:${port}/`, timeoutMs: 300 }).check();
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.message).toMatch(/timed out/);
  });
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
