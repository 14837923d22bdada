// The HTTP destination's lean path for bodies held in memory (connectors/http-common/small-request.ts), against
// real HTTP servers on 127.0.0.1: replies read as far as the outcome needs, informational answers skipped,
// replies cut short, and one abort listener per signal however many requests are in flight.
import http from 'node:http';
import net from 'node:net';
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpDestination } from '../../connectors/http/destination.ts';
import { httpDestinationSchema } from '../../connectors/http/schema.ts';
import type { DestinationContext } from '../../connectors/contract.ts';
import { REPLY_MAX_BYTES } from '../../connectors/http-common/reply.ts';
import { outgoingItem } from '../helpers/items.ts';
import { silentLogger } from '../../main/engine/logger.ts';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

/** A raw HTTP server: `answer` gets each request once its body arrived. */
async function server(answer: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void): Promise<{ url: string; requests: number }> {
  const s = { url: '', requests: 0 };
  const srv = http.createServer((req, res) => {
    const n = s.requests++;
    req.resume();
    req.on('end', () => answer(req, res, n));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}/in`;
  closers.push(() => new Promise((r) => (srv.closeAllConnections(), srv.close(r))));
  return s;
}

function dest(url: string, extra: Record<string, unknown> = {}): HttpDestination {
  const d = new HttpDestination(httpDestinationSchema.parse({ url, ...extra }));
  closers.push(() => d.close());
  return d;
}

const ctx = (signal = new AbortController().signal, wantsReply = false): DestinationContext => ({ flow: 'f', log: silentLogger, signal, wantsReply });
const item = (body = 'a,b\n') => outgoingItem('x.csv', body);

describe('http destination: in-memory bodies through the lean path', () => {
  it('a 2xx reply larger than what is drained is delivered, and the next item still goes', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'r');
    const s = await server((_req, res) => res.end(big));
    const d = dest(s.url);
    expect(await d.send(item(), ctx())).toEqual({ kind: 'delivered', detail: 'HTTP 200' });
    expect(await d.send(item(), ctx())).toEqual({ kind: 'delivered', detail: 'HTTP 200' });
    expect(s.requests).toBe(2);
  });

  it('a synchronous caller gets the reply body, cut at the reply cap', async () => {
    const s = await server((req, res, n) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(n === 0 ? '{"id":7}' : Buffer.alloc(REPLY_MAX_BYTES + 300_000, 'z'));
    });
    const d = dest(s.url);
    const small = await d.send(item(), ctx(undefined, true));
    expect(small).toMatchObject({ kind: 'delivered', detail: 'HTTP 200', reply: { status: 200, contentType: 'application/json' } });
    expect((small as { reply: { body: Buffer } }).reply.body.toString()).toBe('{"id":7}');
    const large = (await d.send(item(), ctx(undefined, true))) as { reply: { body: Buffer } };
    expect(large.reply.body.length).toBe(REPLY_MAX_BYTES);
    expect(large.reply.body.every((b) => b === 0x7a)).toBe(true);
  });

  it('an informational answer (102) is skipped: the final status and its Retry-After count', async () => {
    const s = await server((_req, res) => {
      res.writeProcessing();
      res.writeHead(503, { 'retry-after': '7' });
      res.end('busy');
    });
    const out = await dest(s.url).send(item(), ctx());
    expect(out).toMatchObject({ kind: 'retry', status: 503, response: 'busy', retryAfterMs: 7000 });
  });

  it('a reply cut short: a 2xx still counts as delivered, a 5xx is retried without its body', async () => {
    const s = await server((req, res, n) => {
      res.writeHead(n === 0 ? 200 : 500, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const d = dest(s.url);
    expect(await d.send(item(), ctx())).toEqual({ kind: 'delivered', detail: 'HTTP 200' });
    expect(await d.send(item(), ctx())).toMatchObject({ kind: 'retry', status: 500, response: '' });
  });

  it('requests in flight share one abort listener; an abort interrupts them all, also one still waiting for a connection', async () => {
    const s = await server(() => undefined); // reads each request, never answers
    const d = dest(s.url, { concurrency: 3, timeoutMs: 30_000 });
    const ac = new AbortController();
    const sends = Array.from({ length: 4 }, () => d.send(item(), ctx(ac.signal)));
    for (const end = Date.now() + 10_000; s.requests < 3 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    expect(s.requests).toBe(3); // the fourth waits for a free connection
    expect(getEventListeners(ac.signal, 'abort').length).toBe(1);
    ac.abort();
    for (const out of await Promise.all(sends)) expect(out).toEqual({ kind: 'retry', reason: 'delivery interrupted (Ferry is stopping)' });
    expect(s.requests).toBe(3);
  });

  it('an abort after the requests were answered changes nothing; the next signal gets its own listener', async () => {
    const s = await server((_req, res) => res.end('ok'));
    const d = dest(s.url);
    const ac = new AbortController();
    for (const out of await Promise.all(Array.from({ length: 10 }, () => d.send(item(), ctx(ac.signal))))) expect(out.kind).toBe('delivered');
    ac.abort();
    const next = new AbortController();
    expect(await d.send(item(), ctx(next.signal))).toEqual({ kind: 'delivered', detail: 'HTTP 200' });
    expect(s.requests).toBe(11);
  });

  it('a signal aborted before the send sends nothing', async () => {
    const s = await server((_req, res) => res.end('ok'));
    const ac = new AbortController();
    ac.abort();
    expect(await dest(s.url).send(item(), ctx(ac.signal))).toEqual({ kind: 'retry', reason: 'delivery interrupted (Ferry is stopping)' });
    expect(s.requests).toBe(0);
  });

  it('OAuth: a 401 to a cached token fetches a new one and sends once more', async () => {
    let issued = 0;
    const tokens = await server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ access_token: `t${++issued}`, token_type: 'Bearer', expires_in: 3600 }));
    });
    const seen: string[] = [];
    const api = await server((req, res) => {
      seen.push(String(req.headers.authorization));
      res.writeHead(req.headers.authorization === 'Bearer t2' ? 201 : 401);
      res.end('no');
    });
    const d = dest(api.url, { auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: tokens.url, clientId: 'c', clientSecret: 's' } });
    expect(await d.send(item(), ctx())).toEqual({ kind: 'delivered', detail: 'HTTP 201' });
    expect(seen).toEqual(['Bearer t1', 'Bearer t2']);
    // refused twice: dead, naming the credentials
    issued = 10;
    const again = dest(api.url, { auth: { type: 'oauth2', grant: 'client_credentials', tokenUrl: tokens.url, clientId: 'c', clientSecret: 's' } });
    expect(await again.send(item(), ctx())).toMatchObject({ kind: 'dead', status: 401, reason: expect.stringContaining('check the credentials') });
  });
});
