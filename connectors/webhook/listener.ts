// The shared HTTP(S) listener: several flows (webhook receivers, sync endpoints) on one address:port share
// one server; each mounts a route `/<kind>/<flow>` and the server goes away with the last route.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { errorMessage } from '../contract.ts';
import type { ListenConfig } from './schema.ts';

/** Handles one request; `rest` is the path after `/<kind>/<flow>` split on "/" (e.g. a ticket). */
export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse, rest: string[]) => void;

interface SharedServer {
  server: http.Server;
  tlsKey: string;
  routes: Map<string, RouteHandler>;
  listening: Promise<void>;
}

const servers = new Map<string, SharedServer>();

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  send(res, status, body, headers);
}

function serverKey(cfg: ListenConfig): string {
  return `${cfg.address}:${cfg.port}`;
}

function createServer(cfg: ListenConfig, routes: Map<string, RouteHandler>): http.Server {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      return sendJson(res, 400, { error: 'bad request target' });
    }
    // A web page open in a browser on this machine could otherwise POST to 127.0.0.1 (cross-site request):
    // integrations never send Origin, browsers always do on cross-origin requests.
    if (req.headers.origin !== undefined) return sendJson(res, 403, { error: 'requests from web pages (with an Origin header) are refused' });
    const parts = pathname.split('/').filter((p) => p !== '');
    const route = parts.length >= 2 ? routes.get(`${parts[0]}/${decodeURIComponent(parts[1])}`) : undefined;
    if (!route) return sendJson(res, 404, { error: `no flow at ${parts.slice(0, 2).join('/') || '/'} (routes: POST /hooks/<flow>, POST /sync/<flow>, GET /sync/<flow>/<ticket>)` });
    try {
      route(req, res, parts.slice(2));
    } catch (err) {
      sendJson(res, 500, { error: `internal error: ${errorMessage(err)}` });
    }
  };
  const server = cfg.tls
    ? https.createServer({ cert: fs.readFileSync(cfg.tls.cert), key: fs.readFileSync(cfg.tls.key) }, handler)
    : http.createServer(handler);
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 120_000;
  return server;
}

/**
 * Mounts `/<kind>/<flow>` on the listener of cfg's address:port, starting it when it is the first route.
 * Returns the unmount function (the server closes with its last route).
 */
export async function mountRoute(cfg: ListenConfig, kind: 'hooks' | 'sync', flow: string, handler: RouteHandler): Promise<() => Promise<void>> {
  const key = serverKey(cfg);
  const tlsKey = cfg.tls ? `${cfg.tls.cert}|${cfg.tls.key}` : '';
  let shared = servers.get(key);
  if (shared && shared.tlsKey !== tlsKey) {
    throw new Error(`${key} is already served ${shared.tlsKey ? 'with a different TLS certificate' : 'without TLS'} by another flow; flows on one port must share the same tls settings`);
  }
  if (!shared) {
    const routes = new Map<string, RouteHandler>();
    let server: http.Server;
    try {
      server = createServer(cfg, routes);
    } catch (err) {
      throw new Error(`cannot serve TLS on ${key}: ${errorMessage(err)}`);
    }
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        servers.delete(key);
        reject(new Error(err.code === 'EADDRINUSE' ? `cannot listen on ${key}: the port is in use by another program` : `cannot listen on ${key}: ${errorMessage(err)}`));
      });
      server.listen(cfg.port, cfg.address, () => resolve());
    });
    shared = { server, tlsKey, routes, listening };
    servers.set(key, shared);
  }
  const routeKey = `${kind}/${flow}`;
  if (shared.routes.has(routeKey)) throw new Error(`${key}: /${routeKey} is already served`);
  shared.routes.set(routeKey, handler);
  try {
    await shared.listening;
  } catch (err) {
    shared.routes.delete(routeKey);
    throw err;
  }
  const mine = shared;
  return async () => {
    mine.routes.delete(routeKey);
    if (mine.routes.size > 0 || servers.get(key) !== mine) return;
    servers.delete(key);
    await new Promise<void>((resolve) => {
      mine.server.close(() => resolve());
      mine.server.closeIdleConnections();
      setTimeout(() => mine.server.closeAllConnections(), 2_000).unref();
    });
  };
}

/** Whether the address:port could be listened on now (or is already served here). Never throws. */
export async function probeListen(cfg: ListenConfig): Promise<{ ok: true } | { ok: false; message: string }> {
  if (servers.has(serverKey(cfg))) return { ok: true };
  if (cfg.tls) {
    for (const f of [cfg.tls.cert, cfg.tls.key]) {
      if (!fs.existsSync(f)) return { ok: false, message: `TLS file missing: ${f}` };
    }
  }
  return new Promise((resolve) => {
    const s = http.createServer();
    s.once('error', (err: NodeJS.ErrnoException) =>
      resolve({ ok: false, message: err.code === 'EADDRINUSE' ? `${serverKey(cfg)} is in use by another program` : `cannot listen on ${serverKey(cfg)}: ${errorMessage(err)}` }),
    );
    s.listen(cfg.port, cfg.address, () => s.close(() => resolve({ ok: true })));
  });
}

/** Reads a request body up to max bytes; resolves undefined (after answering 413) when it is larger. */
export function readBody(req: http.IncomingMessage, res: http.ServerResponse, max: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    sendJson(res, 413, { error: `request body too large: ${declared} bytes, more than the ${max} bytes allowed (maxBodyBytes)` }, { connection: 'close' });
    req.resume();
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let n = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      n += c.length;
      if (n > max) {
        over = true;
        sendJson(res, 413, { error: `request body too large: more than the ${max} bytes allowed (maxBodyBytes)` }, { connection: 'close' });
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks, n));
    });
    req.on('error', () => resolve(undefined));
    req.on('aborted', () => resolve(undefined));
  });
}
