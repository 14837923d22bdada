// A real HTTP(S) server on 127.0.0.1 serving central configurations and their signatures, as a web server
// would (ETag, Last-Modified, 304), and able to misbehave: down, slow, truncated, missing files.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ConfigServer {
  url: string;
  port: number;
  /** Path → bytes served. */
  files: Map<string, Buffer>;
  /** Per path: hold the answer this long, or send half and cut the connection. */
  trouble: Map<string, 'truncate' | { delayMs: number }>;
  /** Every request: path and the conditional headers it carried, and the status it got. */
  log: Array<{ path: string; ifNoneMatch?: string; status: number }>;
  close(): Promise<void>;
}

export async function startConfigServer(tls?: https.ServerOptions, port = 0): Promise<ConfigServer> {
  const files = new Map<string, Buffer>();
  const trouble = new Map<string, 'truncate' | { delayMs: number }>();
  const log: ConfigServer['log'] = [];
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const body = files.get(p);
    const entry = { path: p, ifNoneMatch: req.headers['if-none-match'], status: 0 };
    log.push(entry);
    if (!body) {
      entry.status = 404;
      res.writeHead(404).end('not found');
      return;
    }
    const etag = `"${crypto.createHash('sha256').update(body).digest('hex').slice(0, 16)}"`;
    if (req.headers['if-none-match'] === etag) {
      entry.status = 304;
      res.writeHead(304, { etag }).end();
      return;
    }
    entry.status = 200;
    const t = trouble.get(p);
    if (t === 'truncate') {
      res.writeHead(200, { etag, 'content-length': String(body.length) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return;
    }
    const send = () => res.writeHead(200, { etag, 'last-modified': new Date(0).toUTCString(), 'content-length': String(body.length) }).end(body);
    if (t) setTimeout(send, t.delayMs);
    else send();
  };
  const server = tls ? https.createServer(tls, handle) : http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${actual}`,
    port: actual,
    files,
    trouble,
    log,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
