// The local admin HTTP server: 127.0.0.1 only, a bearer token (or a session cookie from a one-time login
// link), Host header check against DNS rebinding, no CORS, security headers, the routes of routes.ts and
// the built dashboard at `/`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Engine } from '../engine.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import { readJsonBody, Reply, safeEqual, STREAMED } from './http.ts';
import { FerryApiError } from '../api/errors.ts';
import { problemFromLine } from '../api/input.ts';
import { EngineApi } from '../api/engine-api.ts';
import { bodySchemas, VALIDATED_BODIES } from './schemas.ts';
import { checkRepliesEnabled } from './reply-check-switch.ts';
import type { replyMismatch } from './reply-check.ts';
import { formatIssues } from '../config/load.ts';
import { checkLoginLink, ensureAdminToken, removeAdminInfo, writeAdminInfo } from './login.ts';
import { matchRoute, routes, type RouteContext } from './routes.ts';
import { packageRoot } from '../paths.ts';
import { CALLBACK_PATH } from '../oauth/config.ts';
import { CALLBACK_HEADERS, callbackPage } from './connections.ts';

export interface AdminOptions {
  /** Folder of the built dashboard (default: dist/renderer of this checkout); served at `/` when present. */
  staticDir?: string;
  /** When the configured port is taken: pick a free one (default, printed) or fail. */
  onPortInUse?: 'free-port' | 'fail';
}

const SESSION_COOKIE = 'ferry_session';
const SESSION_MS = 12 * 3600_000;
/** How long the text of a reply object is reused: the age the status reply itself may have (EngineApi). */
const REPLY_TEXT_REUSE_MS = 250;

const API_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
};

/** The dashboard's CSP: only its own scripts, styles and API; no inline scripts, no external anything. */
export const DASHBOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export const defaultStaticDir = () => path.join(packageRoot(), 'dist', 'renderer');

export class AdminServer {
  readonly api: EngineApi;
  readonly engine: Engine;
  readonly token: string;
  private readonly opts: AdminOptions;
  private server?: http.Server;
  private readonly sessions = new Map<string, number>();
  private readonly usedLogins = new Map<string, number>();
  private readonly streams = new Set<() => void>();
  /** Checks replies against their schemas (FERRY_CHECK_REPLIES=1: the tests); loaded by listen() when on. */
  private replyMismatch?: typeof replyMismatch;
  /** The last reply object and its scrubbed text (see replyText). */
  private lastReply?: { body: object; text: string; at: number };
  /** The scrubbed text of frozen replies as UTF-8 bytes, kept while they are (see replyText). */
  private readonly frozenText = new WeakMap<object, Buffer>();
  port = 0;

  constructor(api: EngineApi, opts: AdminOptions = {}) {
    this.api = api;
    this.engine = api.engine;
    this.opts = opts;
    this.token = ensureAdminToken(this.engine.dataDir);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port: number): Promise<void> {
    if (checkRepliesEnabled()) this.replyMismatch = (await import('./reply-check.ts')).replyMismatch;
    const server = http.createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 5000;
    const tryListen = (p: number) =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(p, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    try {
      await tryListen(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || this.opts.onPortInUse === 'fail' || port === 0) {
        throw new Error(`admin API cannot listen on 127.0.0.1:${port}: ${errorMessage(err)}`);
      }
      this.engine.log.warn({ port }, `admin port ${port} is in use (another Ferry?); using a free port instead`);
      await tryListen(0);
    }
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    this.api.adminUrl = this.url;
    writeAdminInfo(this.engine.dataDir, { url: this.url, port: this.port, pid: process.pid, startedAt: new Date().toISOString() });
  }

  async close(): Promise<void> {
    for (const end of this.streams) end();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    removeAdminInfo(this.engine.dataDir);
  }

  /** Called by an event stream so close() can end it. */
  trackStream(end: () => void): () => void {
    this.streams.add(end);
    return () => this.streams.delete(end);
  }

  /** Host must name this machine's loopback (DNS rebinding: a foreign name pointing at 127.0.0.1 is refused). */
  private hostAllowed(host: string | undefined): boolean {
    if (!host) return false;
    const m = /^(localhost|127\.0\.0\.1|\[::1\])(?::(\d+))?$/i.exec(host);
    return m !== null && (m[2] === undefined || Number(m[2]) === this.port);
  }

  private authorised(req: http.IncomingMessage, url: URL): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && safeEqual(auth.slice(7).trim(), this.token)) return true;
    // EventSource cannot send headers: the event stream alone accepts the token as a query parameter.
    if (url.pathname === '/api/events' && safeEqual(url.searchParams.get('token') ?? '', this.token)) return true;
    const session = cookie(req, SESSION_COOKIE);
    const until = session ? this.sessions.get(session) : undefined;
    if (until !== undefined && until > Date.now()) return true;
    if (session) this.sessions.delete(session);
    return false;
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = this.replyText(body);
    res.writeHead(status, { ...API_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  }

  /**
   * The scrubbed JSON of a reply. The API hands out one status object while it is fresh (250 ms), and the
   * dashboard, tray and scripts poll it from many connections: its text is made once, not per request.
   * The same object within that time is the same reply (a handler that hands out a live object it changes
   * later would at worst be that old).
   */
  private replyText(body: unknown): string | Buffer {
    const now = Date.now();
    const last = this.lastReply;
    if (last && body === last.body && now - last.at < REPLY_TEXT_REUSE_MS) return last.text;
    // a frozen reply (the OpenAPI document) never changes: its bytes are made once for the process, so a
    // request neither serialises nor encodes it again
    const frozen = body !== null && typeof body === 'object' && Object.isFrozen(body);
    const kept = frozen ? this.frozenText.get(body) : undefined;
    if (kept !== undefined) return kept;
    const text = this.engine.scrubber.text(JSON.stringify(body ?? null));
    if (frozen) {
      const bytes = Buffer.from(text);
      this.frozenText.set(body, bytes);
      return bytes;
    }
    if (body !== null && typeof body === 'object') this.lastReply = { body, text, at: now };
    return text;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      if (!this.hostAllowed(req.headers.host)) {
        this.send(res, 403, { error: `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed; use http://127.0.0.1:${this.port}` });
        return;
      }
      const url = new URL(req.url ?? '/', this.url);
      if (req.method === 'OPTIONS') {
        // No CORS: a preflight gets no Access-Control-* headers, so browsers block cross-origin calls.
        res.writeHead(405, { ...API_HEADERS, allow: 'GET, POST, PUT, DELETE' });
        res.end();
        return;
      }
      if (url.pathname === '/login') return this.login(req, res, url);
      if (url.pathname === CALLBACK_PATH && req.method === 'GET') {
        // the provider's redirect: no admin credentials, the one-use consent state authenticates it
        const page = await callbackPage(this.engine.connections, url, req.headers.host!, { dashboard: true });
        res.writeHead(page.status, { ...API_HEADERS, ...CALLBACK_HEADERS });
        res.end(page.html);
        return;
      }
      if (url.pathname === '/api' || url.pathname.startsWith('/api/') || url.pathname === '/metrics') return await this.handleApi(req, res, url);
      return this.serveStatic(req, res, url);
    } catch (err) {
      if (!res.headersSent) this.send(res, 500, { error: errorMessage(err) });
      else res.destroy();
    }
  }

  private login(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const why = checkLoginLink(this.token, url.searchParams, this.usedLogins);
    if (why) {
      res.writeHead(403, { ...API_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Ferry: ${why}\n`);
      return;
    }
    const session = crypto.randomBytes(32).toString('base64url');
    const now = Date.now();
    for (const [s, until] of this.sessions) if (until < now) this.sessions.delete(s);
    this.sessions.set(session, now + SESSION_MS);
    res.writeHead(303, {
      ...API_HEADERS,
      location: '/',
      'set-cookie': `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}`,
    });
    res.end();
  }

  private async handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    if (!this.authorised(req, url)) {
      this.send(res, 401, { error: 'missing or wrong admin token: send Authorization: Bearer <token> (the token is in <dataDir>/admin-token)' }, { 'www-authenticate': 'Bearer realm="ferry"' });
      return;
    }
    // A browser session must not be driven from another origin (SameSite=Strict already stops most of it).
    const origin = req.headers.origin;
    if (origin && origin !== 'null' && !this.hostAllowed(origin.replace(/^https?:\/\//, ''))) {
      this.send(res, 403, { error: `Origin ${origin} is not allowed` });
      return;
    }
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    if (!match) {
      const allowed = routes.filter((r) => matchRoute(r.method, url.pathname)?.route === r).map((r) => r.method);
      if (allowed.length > 0) this.send(res, 405, { error: `${req.method} is not allowed on ${url.pathname} (allowed: ${allowed.join(', ')})` }, { allow: allowed.join(', ') });
      else this.send(res, 404, { error: `no route ${req.method} ${url.pathname}; see /api/openapi.json` });
      return;
    }
    try {
      const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : await readJsonBody(req);
      const bodyName = match.route.body;
      if (bodyName && VALIDATED_BODIES.has(bodyName)) {
        const parsed = bodySchemas[bodyName].safeParse(body ?? {}, { reportInput: true });
        if (!parsed.success) {
          const problems = formatIssues(parsed.error.issues).map(problemFromLine).map((p) => (p.path === '(root)' ? { ...p, path: '' } : p));
          throw new FerryApiError(400, `invalid request: ${problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; ')}`, problems);
        }
      }
      const ctx: RouteContext = { api: this.api, params: match.params, query: url.searchParams, body, req, res, trackStream: (end) => this.trackStream(end), scrub: (text) => this.engine.scrubber.text(text) };
      const result = await match.route.handler(ctx);
      if (result === STREAMED) return;
      const reply = result instanceof Reply ? result : new Reply(200, result);
      const mismatch = this.replyMismatch?.(match.route.reply, reply.status, reply.body);
      if (mismatch) throw new Error(`${match.route.method} ${match.route.path}: ${mismatch}`);
      this.send(res, reply.status, reply.body, reply.headers);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      let failure = err;
      if (err instanceof FerryApiError) {
        const error = { error: err.message, ...(err.problems ? { problems: err.problems } : {}) };
        const mismatch = this.replyMismatch?.(match.route.reply, err.status, error);
        if (!mismatch) return this.send(res, err.status, error);
        failure = new Error(`${match.route.method} ${match.route.path}: ${mismatch}`);
      }
      this.engine.log.error({ route: match.route.path, err: errorMessage(failure) }, 'admin API request failed');
      this.send(res, 500, { error: errorMessage(failure) });
    }
  }

  private serveStatic(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const root = this.opts.staticDir ?? defaultStaticDir();
    const headers = { ...API_HEADERS, 'content-security-policy': DASHBOARD_CSP };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD' });
      res.end();
      return;
    }
    let rel: string;
    try {
      rel = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    } catch {
      res.writeHead(400, headers);
      res.end();
      return;
    }
    let file = path.resolve(root, rel || 'index.html');
    if (file !== root && !file.startsWith(root + path.sep)) {
      res.writeHead(404, headers);
      res.end();
      return;
    }
    let st = fs.statSync(file, { throwIfNoEntry: false });
    // client-side routes (/queue, /flows/x) get the app's page
    if ((!st || st.isDirectory()) && !path.extname(rel)) {
      file = path.join(root, 'index.html');
      st = fs.statSync(file, { throwIfNoEntry: false });
    }
    if (!st || !st.isFile()) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
      res.end(fs.existsSync(root) ? 'not found\n' : `The dashboard is not built (${root} is missing); the API is at /api/ (see /api/openapi.json).\n`);
      return;
    }
    const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const immutable = /[.-][0-9a-zA-Z_-]{8,}\.(js|css|woff2|svg|png)$/.test(file);
    res.writeHead(200, { ...headers, 'content-type': type, 'content-length': String(st.size), 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    fs.createReadStream(file).pipe(res);
  }
}


function cookie(req: http.IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * Starts an engine with its admin API on top (`ferry run`/`start`, the desktop app): the admin server listens
 * first, so a port problem stops the start before any file is taken, and closes when the engine stops.
 */
export async function startWithAdmin(engine: Engine, opts: AdminOptions = {}): Promise<AdminServer> {
  const admin = new AdminServer(new EngineApi(engine), opts);
  await admin.listen(engine.config.admin.port);
  engine.dashboardUrl = admin.url;
  try {
    await engine.start();
  } catch (err) {
    await admin.close();
    throw err;
  }
  engine.onStop(() => admin.close());
  engine.log.info({ admin: admin.url }, 'admin API and dashboard listening');
  return admin;
}
