// An in-process engine with its admin API on a free 127.0.0.1 port, and a raw HTTP client for it
// (node:http, so tests control every header, Host included).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import YAML from 'yaml';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { startWithAdmin, type AdminServer } from '../../main/engine/admin/server.ts';
import { createLogger } from '../../main/engine/logger.ts';
import { SecretStore } from '../../main/engine/secrets.ts';
import { scrubberFor } from '../../main/engine/scrub.ts';
import { tempDir } from './tmp.ts';

export interface ApiReply<T = any> {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: T;
}

export interface AdminHarness {
  engine: Engine;
  /** The admin server on top of the engine; its `api` is the engine API in-process. */
  admin: AdminServer;
  dir: string;
  configFile: string;
  dataDir: string;
  port: number;
  token: string;
  secrets: SecretStore;
  /** Calls the API with the token (unless `headers.authorization` is given, '' = none). */
  api<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiReply<T>>;
  stop(): Promise<void>;
}

export function request(port: number, method: string, urlPath: string, opts: { body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: { host: `127.0.0.1:${port}`, ...opts.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/**
 * Writes `config` (an object, or YAML text kept verbatim so comments can be tested) to ferry.yaml in a temp
 * dir (dataDir ./data, admin port 0 unless given), starts the engine with its admin API.
 */
export async function startAdmin(config: Record<string, unknown> | string, opts: { secrets?: Record<string, string>; logFile?: boolean; staticDir?: string; /** folders (relative to the config) created before the engine starts */ dirs?: string[] } = {}): Promise<AdminHarness> {
  const dir = tempDir('ferry-admin-');
  const configFile = path.join(dir, 'ferry.yaml');
  const text = typeof config === 'string' ? config : YAML.stringify({ dataDir: './data', admin: { port: 0 }, ...config });
  fs.writeFileSync(configFile, text);
  for (const d of opts.dirs ?? []) fs.mkdirSync(path.join(dir, d), { recursive: true });
  const dataDir = path.join(dir, 'data');
  const secrets = new SecretStore(dataDir, { masterKey: 'test-master-key' });
  for (const [k, v] of Object.entries(opts.secrets ?? {})) secrets.set(k, v);
  const loaded = loadConfig(configFile, { secrets: secrets.lookup() });
  const log = opts.logFile ? createLogger({ level: 'debug', logDir: path.join(loaded.dataDir, 'logs'), stderr: false, scrub: scrubberFor(loaded, secrets).text }) : undefined;
  const engine = Engine.open(loaded, { log, secrets, stopGraceMs: 2000 });
  const admin = await startWithAdmin(engine, { staticDir: opts.staticDir });
  const { port, token } = admin;
  return {
    engine,
    admin,
    dir,
    configFile,
    dataDir: loaded.dataDir,
    port,
    token,
    secrets,
    api: (method, p, body, headers = {}) => {
      const h: Record<string, string> = { ...headers };
      if (h.authorization === undefined) h.authorization = `Bearer ${token}`;
      if (h.authorization === '') delete h.authorization;
      if (body !== undefined) h['content-type'] ??= 'application/json';
      return request(port, method, p, { body: body === undefined ? undefined : JSON.stringify(body), headers: h });
    },
    stop: () => engine.stop(),
  };
}
