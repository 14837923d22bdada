// GET /metrics: the handler both listeners share, and the optional listener of its own (`metrics.port`),
// which serves nothing else. Its token (required off loopback) is compared in constant time; without a
// token on loopback, Host must name loopback (a web page rebinding its name to 127.0.0.1 reads nothing).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Engine } from '../engine.ts';
import type { MetricsConfig } from './schema.ts';
import { METRICS_CONTENT_TYPE } from './ferry-metrics.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import { isLoopback } from '../../../connectors/net/no-proxy.ts';
import { safeEqual } from '../admin/http.ts';

const HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/** Writes the exposition `render` makes to a response (GET or HEAD). */
export async function writeMetrics(req: http.IncomingMessage, res: http.ServerResponse, render: () => Promise<string>): Promise<void> {
  const text = await render();
  res.writeHead(200, { ...HEADERS, 'content-type': METRICS_CONTENT_TYPE, 'content-length': String(Buffer.byteLength(text)) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

export class MetricsListener {
  private readonly server: http.Server;
  readonly cfg: MetricsConfig;
  readonly port: number;

  private constructor(server: http.Server, cfg: MetricsConfig) {
    this.server = server;
    this.cfg = cfg;
    this.port = (server.address() as AddressInfo).port;
  }

  get url(): string {
    const host = this.cfg.address.includes(':') ? `[${this.cfg.address}]` : this.cfg.address;
    return `http://${host}:${this.port}/metrics`;
  }

  /**
   * Makes the running listener match the engine's config: none without `metrics.port`, the current one kept
   * while its settings are unchanged, else a new one. A port that cannot be had throws (at start: Ferry
   * does not start; on a config change: the change is reported and the old listener is gone).
   */
  static async apply(engine: Engine, current: MetricsListener | undefined): Promise<MetricsListener | undefined> {
    const cfg = engine.config.metrics;
    const wanted = cfg?.port !== undefined ? cfg : undefined;
    if (current && wanted && JSON.stringify(current.cfg) === JSON.stringify(wanted)) return current;
    await current?.close();
    if (!wanted) return undefined;
    const server = http.createServer((req, res) => void handle(engine, wanted, req, res));
    server.keepAliveTimeout = 65_000; // Prometheus keeps its connection between scrapes
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`metrics listener cannot listen on ${wanted.address}:${wanted.port}: ${errorMessage(err)}`)));
      server.listen(wanted.port, wanted.address, () => resolve());
    });
    const listener = new MetricsListener(server, wanted);
    engine.log.info({ url: listener.url }, 'metrics listener started');
    return listener;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function handle(engine: Engine, cfg: MetricsConfig, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const deny = (status: number, text: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { ...HEADERS, 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(`${text}\n`);
  };
  const url = new URL(req.url ?? '/', 'http://metrics');
  if (cfg.token !== undefined) {
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !safeEqual(auth.slice(7).trim(), cfg.token)) return deny(401, 'missing or wrong token: send Authorization: Bearer <metrics.token>', { 'www-authenticate': 'Bearer realm="ferry-metrics"' });
  } else if (!hostIsLoopback(req.headers.host)) {
    return deny(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed; use 127.0.0.1`);
  }
  if (url.pathname !== '/metrics') return deny(404, 'only /metrics is served here');
  if (req.method !== 'GET' && req.method !== 'HEAD') return deny(405, 'GET /metrics', { allow: 'GET, HEAD' });
  try {
    await writeMetrics(req, res, async () => (await engine.metrics()).render());
  } catch (err) {
    engine.log.error({ err: errorMessage(err) }, 'metrics failed');
    if (!res.headersSent) deny(500, `metrics failed: ${errorMessage(err)}`);
  }
}

function hostIsLoopback(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return isLoopback(name);
}
