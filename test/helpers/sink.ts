// A real HTTP (or HTTPS) server on 127.0.0.1 that records what it receives and can be told to fail.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

/**
 * Decides the reply to one request: a status (and headers), 'reset' to drop the connection, or undefined for 200.
 * `delayMs` holds the answer back (a slow API); the request is recorded at once.
 */
export type Behaviour = (req: http.IncomingMessage, body: Buffer, n: number) =>
  | { status?: number; headers?: Record<string, string>; body?: string; delayMs?: number }
  | 'reset'
  | undefined;

export interface Sink {
  url: string;
  port: number;
  received: Received[];
  /** Requests answered 2xx, by idempotency key. */
  accepted: Map<string, Received[]>;
  behaviour: Behaviour;
  /** Connections accepted (TLS handshakes done, for HTTPS): keep-alive shows as few per many requests. */
  connections: number;
  close(): Promise<void>;
}

export async function startSink(behaviour: Behaviour = () => undefined, port = 0): Promise<Sink> {
  return serve(undefined, behaviour, port);
}

/** An HTTPS sink with this certificate; `requestCert` + `ca` make it require a client certificate (mutual TLS). */
export async function startHttpsSink(tls: https.ServerOptions, behaviour: Behaviour = () => undefined): Promise<Sink> {
  return serve(tls, behaviour, 0);
}

async function serve(tls: https.ServerOptions | undefined, behaviour: Behaviour, port: number): Promise<Sink> {
  let n = 0;
  const sink: Sink = {
    url: '',
    port: 0,
    received: [],
    accepted: new Map(),
    behaviour,
    connections: 0,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  const handle = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const rec: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, at: Date.now() };
      sink.received.push(rec);
      const reply = sink.behaviour(req, body, n++);
      if (reply === 'reset') {
        req.socket.destroy();
        return;
      }
      const status = reply?.status ?? 200;
      const answer = () => {
        if (res.destroyed || req.socket.destroyed) return; // the client went away (killed) before the answer
        if (status >= 200 && status < 300) {
          const key = String(req.headers['idempotency-key'] ?? '');
          sink.accepted.set(key, [...(sink.accepted.get(key) ?? []), rec]);
        }
        res.writeHead(status, reply?.headers ?? { 'content-type': 'text/plain' });
        res.end(reply?.body ?? (status < 300 ? 'ok' : `error ${status}`));
      };
      if (reply?.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
    });
  };
  const server = tls ? https.createServer(tls, handle) : http.createServer(handle);
  server.on(tls ? 'secureConnection' : 'connection', () => sink.connections++);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  sink.port = (server.address() as AddressInfo).port;
  sink.url = `${tls ? 'https' : 'http'}://127.0.0.1:${sink.port}`;
  return sink;
}
