// Hostile network input against real servers on 127.0.0.1: an http-poll API answering with a gzip bomb,
// an endless or trickling reply, an unknown encoding; http-steps replies the same way; webhook bodies at
// their cap and one byte over. Every one is cut at its cap or deadline with a reason naming it.
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpStepsDestination } from '../../connectors/http-steps/destination.ts';
import { httpStepsDestinationSchema } from '../../connectors/http-steps/schema.ts';
import { freePort, startEngine, type RunningEngine } from '../helpers/engine.ts';
import { outgoingItem } from '../helpers/items.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { waitFor } from '../helpers/tmp.ts';
import { hostileApi, type HostileApi as Api } from '../helpers/hostile-api.ts';

const MiB = 1024 * 1024;
const TOKEN = 'hook-token-0123456789abcdef';

let api: Api | undefined;
let sink: Sink | undefined;
let run: RunningEngine | undefined;
afterEach(async () => {
  await run?.stop();
  run = undefined;
  await api?.close();
  api = undefined;
  await sink?.close();
  sink = undefined;
});

const NEVER = { schedule: '0 0 1 1 *', catchUp: false };

async function pollEngine(routes: string[], source: Record<string, unknown> = {}): Promise<RunningEngine> {
  return startEngine({
    minFreeDiskMb: 0,
    integrations: [{
      name: 'api',
      flows: routes.map((r) => ({
        name: `poll${r.replace('/', '-')}`,
        trigger: NEVER,
        source: { type: 'http-poll', url: `${api!.url}${r}`, key: 'id', maxRetries: 0, timeoutMs: 1500, ...source },
        destination: { type: 'http', url: `${sink!.url}/in` },
      })),
    }],
  });
}

describe('http-poll replies', () => {
  it('a gzip bomb is cut at maxReplyBytes once decompressed: the run stops with a problem naming it, nothing is queued, memory stays flat', async () => {
    api = await hostileApi();
    sink = await startSink();
    run = await pollEngine(['/bomb']);
    const before = process.memoryUsage().rss;
    await run.engine.flow('poll-bomb').runScan('test');
    expect(run.engine.flow('poll-bomb').facts.lastError).toMatch(/polling http:\/\/127\.0\.0\.1:\d+\/bomb failed on page 1: 127\.0\.0\.1:\d+\/bomb: the reply is larger than 16 MiB once decompressed \(maxReplyBytes\)/);
    expect(api.hits.get('/bomb')).toBe(1); // the same answer would come again: not retried in the run
    expect(run.engine.queue.count({ flow: 'poll-bomb' })).toBe(0);
    // 512 MiB decompressed would show; the cap holds it to 16 MiB and a few buffers
    expect(process.memoryUsage().rss - before).toBeLessThan(96 * MiB);
  });

  it('gzip and brotli replies under the cap are decompressed and their records queued', async () => {
    api = await hostileApi();
    sink = await startSink();
    run = await pollEngine(['/gzip', '/br']);
    await run.engine.flow('poll-gzip').runScan('test');
    await run.engine.flow('poll-br').runScan('test');
    await waitFor(() => sink!.accepted.size === 4, 'four records delivered');
    expect(sink.received.map((r) => JSON.parse(r.body.toString()).name).sort()).toEqual(['Anna', 'Anna', 'Bernd', 'Bernd']);
  });

  it('a never-ending reply is cut at the cap; a trickling one at timeoutMs; an unknown encoding is named', async () => {
    api = await hostileApi();
    sink = await startSink();
    run = await pollEngine(['/endless', '/trickle', '/zstd'], { maxReplyBytes: 4 * MiB });
    await run.engine.flow('poll-endless').runScan('test');
    expect(run.engine.flow('poll-endless').facts.lastError).toMatch(/\/endless: the reply is larger than 4 MiB \(maxReplyBytes\)/);
    await run.engine.flow('poll-trickle').runScan('test');
    expect(run.engine.flow('poll-trickle').facts.lastError).toMatch(/\/trickle: the reply was not complete after 1500 ms \(\d+ bytes read\): cut off/);
    await run.engine.flow('poll-zstd').runScan('test');
    expect(run.engine.flow('poll-zstd').facts.lastError).toMatch(/\/zstd: the reply is in Content-Encoding "zstd", which Ferry cannot read/);
    await waitFor(() => api!.open.size === 0, 'the endless replies to be closed by the client');
    expect(run.engine.queue.count({})).toBe(0);
  });
});

describe('http-steps replies', () => {
  it('a step answering with a gzip bomb makes the item dead naming maxReplyBytes; a gzip answer feeds the next step', async () => {
    api = await hostileApi();
    const dest = new HttpStepsDestination(httpStepsDestinationSchema.parse({
      steps: [{ name: 'lookup', url: `${api.url}/gzip` }, { name: 'create', url: `${api.url}/bomb`, body: '{ "first": steps.lookup[0].name }' }],
      maxReplyBytes: MiB,
    }));
    const ctx = { flow: 'f', log: console, signal: new AbortController().signal };
    const out = await dest.send(outgoingItem('order.json', '{"id":7}'), ctx);
    expect(out).toMatchObject({ kind: 'dead', reason: 'the reply to step create is larger than 1 MiB once decompressed (maxReplyBytes); the step answered HTTP 200' });
    const trickle = new HttpStepsDestination(httpStepsDestinationSchema.parse({ steps: [{ name: 'slow', url: `${api.url}/trickle` }], timeoutMs: 500 }));
    expect(await trickle.send(outgoingItem('order.json', '{"id":8}'), ctx)).toMatchObject({ kind: 'retry', reason: expect.stringMatching(/^step slow: 127\.0\.0\.1:\d+: the reply to step slow was not complete after 500 ms/) });
    await dest.close();
    await trickle.close();
  });
});

describe('webhook bodies', () => {
  it('a body exactly at maxBodyBytes is accepted; one byte over is refused with 413 naming the limit, with or without Content-Length', async () => {
    const port = await freePort();
    sink = await startSink();
    run = await startEngine({
      minFreeDiskMb: 0,
      integrations: [{ name: 'in', flows: [{ name: 'hook', source: { type: 'webhook', port, maxBodyBytes: 4096, verify: { scheme: 'bearer', secret: TOKEN } }, destination: { type: 'http', url: `${sink.url}/in` } }] }],
    });
    const post = (body: Buffer, chunked = false) => new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/hooks/hook', method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }) } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      });
      req.on('error', reject);
      if (chunked) for (let i = 0; i < body.length; i += 1000) req.write(body.subarray(i, i + 1000));
      else req.write(body);
      req.end();
    });
    // JSON bodies of an exact size ({"p":""} is 8 bytes)
    const body = (n: number, c: string) => Buffer.from(JSON.stringify({ p: c.repeat(n - 8) }));
    expect(body(4096, 'a').length).toBe(4096);
    const at = await post(body(4096, 'a'));
    expect(at.status).toBe(202);
    const over = await post(body(4097, 'b'));
    expect(over).toEqual({ status: 413, text: JSON.stringify({ error: 'request body too large: 4097 bytes, more than the 4096 bytes allowed (maxBodyBytes)' }) });
    const atChunked = await post(body(4096, 'c'), true);
    expect(atChunked.status).toBe(202);
    const overChunked = await post(body(4097, 'd'), true);
    expect(overChunked).toEqual({ status: 413, text: JSON.stringify({ error: 'request body too large: more than the 4096 bytes allowed (maxBodyBytes)' }) });
    await waitFor(() => sink!.accepted.size === 2, 'the two bodies at the cap delivered');
    expect(sink.received.map((r) => r.body.length)).toEqual([4096, 4096]);
  });

  it('an endless chunked body is answered 413 and its connection closed', async () => {
    const port = await freePort();
    sink = await startSink();
    run = await startEngine({
      minFreeDiskMb: 0,
      integrations: [{ name: 'in', flows: [{ name: 'hook', source: { type: 'webhook', port, maxBodyBytes: 64 * 1024, verify: { scheme: 'bearer', secret: TOKEN } }, destination: { type: 'http', url: `${sink.url}/in` } }] }],
    });
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(`POST /hooks/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`);
    let reply = '';
    socket.on('data', (d) => (reply += d));
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    const chunk = `4000\r\n${'z'.repeat(0x4000)}\r\n`;
    const t = setInterval(() => !closed && socket.write(chunk), 5);
    await waitFor(() => closed, 'the server to close the endless upload', 20_000);
    clearInterval(t);
    expect(reply).toMatch(/^HTTP\/1\.1 413 /);
    expect(reply).toContain('more than the 65536 bytes allowed (maxBodyBytes)');
    expect(run.engine.queue.count({ flow: 'hook' })).toBe(0);
  });
});
