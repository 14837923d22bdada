// A misbehaving HTTP API on 127.0.0.1 for tests and benchmarks: each path answers one hostile way (a gzip
// bomb, a never-ending or trickling reply, an encoding nobody reads) or with two plain records.
import http from 'node:http';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';

const MiB = 1024 * 1024;

/** gzip of `size` bytes of spaces, compressed as it is made (about 1,000 to 1): a bomb of a few hundred KB. */
export async function gzipBomb(size: number): Promise<Buffer> {
  const gz = zlib.createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((r) => gz.on('end', r));
  const block = Buffer.alloc(MiB, 0x20);
  for (let left = size; left > 0; left -= MiB) if (!gz.write(block)) await new Promise((r) => gz.once('drain', r));
  gz.end();
  await done;
  return Buffer.concat(out);
}

export interface HostileApi {
  url: string;
  /** Requests per path. */
  hits: Map<string, number>;
  /** Replies still open (endless ones end once the client goes away). */
  open: Set<http.ServerResponse>;
  close(): Promise<void>;
}

export const RECORDS = JSON.stringify([{ id: 1, name: 'Anna' }, { id: 2, name: 'Bernd' }]);

/**
 * Paths: /bomb (gzip expanding to 512 MiB), /gzip and /br (two records, compressed), /zstd (an encoding
 * Ferry does not read), /endless (spaces as fast as the client reads), /trickle (a byte every 50 ms),
 * anything else: two records.
 */
export async function hostileApi(): Promise<HostileApi> {
  const bomb = await gzipBomb(512 * MiB);
  const hits = new Map<string, number>();
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    req.resume();
    open.add(res);
    res.on('close', () => open.delete(res));
    switch (path) {
      case '/bomb':
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(bomb);
        return;
      case '/gzip':
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(zlib.gzipSync(RECORDS));
        return;
      case '/br':
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br' }).end(zlib.brotliCompressSync(RECORDS));
        return;
      case '/zstd':
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'zstd' }).end('(zstd bytes)');
        return;
      case '/endless': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const block = Buffer.alloc(256 * 1024, 0x20);
        res.write('[');
        const pump = () => {
          while (!res.destroyed && res.write(block));
          if (!res.destroyed) res.once('drain', pump);
        };
        pump();
        return;
      }
      case '/trickle': {
        // never idle long enough for an idle timeout, never complete
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('[');
        const t = setInterval(() => (res.destroyed ? clearInterval(t) : res.write(' ')), 50);
        res.on('close', () => clearInterval(t));
        return;
      }
      default:
        res.writeHead(200, { 'content-type': 'application/json' }).end(RECORDS);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    open,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
