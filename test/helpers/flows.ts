// Shared pieces of the folder → HTTP end-to-end tests: a config with one folder → HTTP flow, random files,
// and the "everything arrived once per key" assertion.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { listFiles, tempDir } from './tmp.ts';
import { runCli, startFerry, writeConfig, type RunningFerry } from './cli.ts';
import { startSink, type Behaviour, type Received, type Sink } from './sink.ts';

let ferries: RunningFerry[] = [];
let sinks: Sink[] = [];
/** Kills what a test left running and closes its sinks (register once per test file). */
export function cleanUpAfterEach(): void {
  afterEach(async () => {
    for (const f of ferries) if (f.child.exitCode === null && f.child.signalCode === null) await f.kill9();
    for (const s of sinks) await s.close();
    ferries = [];
    sinks = [];
  });
}

export async function sink(b?: Behaviour): Promise<Sink> {
  const s = await startSink(b);
  sinks.push(s);
  return s;
}
export async function ferry(cfg: string, opts?: Parameters<typeof startFerry>[1]): Promise<RunningFerry> {
  const f = await startFerry(cfg, opts);
  ferries.push(f);
  return f;
}

export interface Setup {
  dir: string;
  inbox: string;
  sent: string;
  cfg: string;
}

export function setup(url: string, flow: Record<string, any> = {}, top: Record<string, unknown> = {}): Setup {
  const dir = tempDir('ferry-e2e-');
  const inbox = path.join(dir, 'outbox');
  fs.mkdirSync(inbox);
  const { source, destination, ...rest } = flow;
  const cfg = writeConfig(dir, {
    dataDir: './data',
    minFreeDiskMb: 0,
    ...top,
    integrations: [{
      name: 'invoices',
      flows: [{
        name: 'upload',
        source: { type: 'folder', path: './outbox', settleMs: 150, afterDelivery: { action: 'move', to: './outbox/.sent' }, ...source },
        destination: { type: 'http', url: `${url}/invoices`, timeoutMs: 5000, concurrency: 4, ...destination },
        retry: { maxAttempts: 30, initialDelayMs: 50, maxDelayMs: 400 },
        circuitBreaker: { failureThreshold: 50, cooldownMs: 200 },
        ...rest,
      }],
    }],
  });
  return { dir, inbox, sent: path.join(inbox, '.sent'), cfg };
}

/** Writes n files of 200 B–4 KB of random bytes; returns name → bytes. */
export function dropFiles(inbox: string, n: number, prefix = 'inv'): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const name = `${prefix}-${String(i).padStart(4, '0')}.csv`;
    const bytes = crypto.randomBytes(200 + Math.floor(Math.random() * 3900));
    fs.writeFileSync(path.join(inbox, name), bytes);
    files.set(name, bytes);
  }
  return files;
}

export const nameOf = (r: Received) => decodeURIComponent(String(r.headers['x-ferry-filename']));
export const pending = (s: Setup) => listFiles(s.inbox).filter((f) => !f.startsWith('.sent/'));

export async function statusJson(cfg: string): Promise<any> {
  const r = await runCli(['status', '--config', cfg, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

/** Every file arrived with its bytes; a file sent twice carried the same key both times. */
export function expectAllDelivered(s: Sink, files: Map<string, Buffer>): void {
  const byName = new Map<string, Set<string>>();
  const acceptedNames = new Set<string>();
  for (const [key, recs] of s.accepted) {
    for (const r of recs) {
      const name = nameOf(r);
      expect(files.has(name), `unexpected file ${name}`).toBe(true);
      expect(r.body.equals(files.get(name)!), `bytes of ${name}`).toBe(true);
      acceptedNames.add(name);
      byName.set(name, (byName.get(name) ?? new Set()).add(key));
    }
  }
  for (const r of s.received) if (r.headers['x-ferry-filename']) byName.set(nameOf(r), (byName.get(nameOf(r)) ?? new Set()).add(String(r.headers['idempotency-key'])));
  expect([...acceptedNames].sort()).toEqual([...files.keys()].sort());
  for (const [name, keys] of byName) expect(keys.size, `keys of ${name}`).toBe(1);
}

