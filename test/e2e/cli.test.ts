// The rest of the CLI contract through the spawned `ferry`: check, start with a default config, exit codes,
// the log file in the data dir, secrets kept out of logs and the database, giving up after maxAttempts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';
import { ferryBin, runCli, startFerry } from '../helpers/cli.ts';
import { cleanUpAfterEach, ferry, setup, sink, statusJson } from '../helpers/flows.ts';

cleanUpAfterEach();

describe('ferry CLI', () => {
  it('`ferry check` tests each source and destination: exit 0 when all are OK, 1 naming what failed', async () => {
    const s = await sink();
    const st = setup(s.url);
    const ok = await runCli(['check', '--config', st.cfg]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('upload source (folder): OK');
    expect(ok.stdout).toContain('upload destination (http): OK');
    await s.close();
    const down = await runCli(['check', '--config', st.cfg]);
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/upload destination \(http\): FAILED - host unreachable: connection refused by 127\.0\.0\.1:\d+/);
    const unknown = await runCli(['check', '--config', st.cfg, '--flow', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('ferry: --flow: no flow named "nope"');
  });

  it('a reader that goes away (`ferry status | head -1`) ends the output quietly, not with a crash', async () => {
    const s = await sink();
    const st = setup(s.url);
    for (const args of [['check', '--config', st.cfg], ['--help']]) {
      const child = spawn(process.execPath, [ferryBin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.destroy(); // the reader is gone before Ferry writes its first line: every write meets EPIPE
      let stderr = '';
      child.stderr!.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect({ args, code, stderr }).toEqual({ args, code: 0, stderr: '' });
    }
    await s.close();
  });

  it('status and queue commands work in a shell without the service\'s environment variables; check and run still need them', async () => {
    const s = await sink();
    const st = setup(s.url, { destination: { headers: { authorization: 'Bearer ${env:FERRY_E2E_TOKEN}' } } });
    fs.writeFileSync(path.join(st.inbox, 'a.json'), '{"a":1}');
    const running = await startFerry(st.cfg, { env: { FERRY_E2E_TOKEN: 'tok-123' } });
    await waitFor(() => s.accepted.size === 1, 'delivered with the token');
    expect([...s.accepted.values()][0][0].headers.authorization).toBe('Bearer tok-123');
    await running.stop();
    await s.close();

    const env = { FERRY_E2E_TOKEN: undefined };
    const status = await runCli(['status', '--config', st.cfg], { env });
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(status.stdout).toMatch(/upload\s+active\s+0\s+0\s+0\s+0\s+1\b/);
    const list = await runCli(['queue', 'list', '--config', st.cfg], { env });
    expect(list).toMatchObject({ code: 0, stdout: expect.stringContaining('a.json') });
    const check = await runCli(['check', '--config', st.cfg], { env });
    expect(check.code).toBe(2);
    expect(check.stderr).toContain('environment variable FERRY_E2E_TOKEN is not set');
  });

  it('usage mistakes exit 2 with one line; --help exits 0', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['run', 'start', 'validate', 'status', 'queue', 'check']) expect(help.stdout).toContain(cmd);
    const bogus = await runCli(['frobnicate']);
    expect(bogus.code).toBe(2);
    const s = await sink();
    const st = setup(s.url);
    const badState = await runCli(['queue', 'list', '--config', st.cfg, '--state', 'lost']);
    expect(badState.code).toBe(2);
    expect(badState.stderr).toContain("'lost' is invalid");
    const badFlow = await runCli(['queue', 'list', '--config', st.cfg, '--flow', 'nope']);
    expect(badFlow.code).toBe(2);
    expect(badFlow.stderr.trim()).toBe('ferry: --flow: no flow named "nope" (flows: upload)');
    // a config that never ran: the reading commands say so and leave no empty data dir behind
    const never = await runCli(['status', '--config', st.cfg]);
    expect(never.code).toBe(2);
    expect(never.stderr.trim()).toBe(`ferry: no queue in ${path.join(st.dir, 'data')} yet: Ferry has not run with this config (\`ferry run --config <file>\` starts it)`);
    expect(fs.existsSync(path.join(st.dir, 'data'))).toBe(false);
    const missing = await runCli(['status', '--config', path.join(st.dir, 'missing.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toEqual([`${path.join(st.dir, 'missing.yaml')}: 1 problem`, 'config file not found']);
  });

  it('`ferry start` without a config creates a default one, says where, and delivers outbox → delivered', async () => {
    const home = tempDir('ferry-home-');
    const child = spawn(process.execPath, [ferryBin, 'start'], { env: { ...process.env, XDG_CONFIG_HOME: home, APPDATA: home, HOME: home, FERRY_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    try {
      await waitFor(() => out.includes('Ctrl+C stops'), `ferry start to run:\n${out}`, 30_000);
      const appDir = path.join(home, 'ferry');
      expect(out).toContain(`Created a default configuration: ${path.join(appDir, 'ferry.yaml')}`);
      expect(out).toContain(`config:  ${path.join(appDir, 'ferry.yaml')}`);
      expect(out).toContain(`data:    ${path.join(appDir, 'data')}`);
      fs.writeFileSync(path.join(appDir, 'outbox', 'hello.txt'), 'hello');
      await waitFor(() => fs.existsSync(path.join(appDir, 'delivered', 'hello.txt')), 'the file delivered into "delivered"', 20_000);
      expect(fs.readFileSync(path.join(appDir, 'delivered', 'hello.txt'), 'utf8')).toBe('hello');
      await waitFor(() => listFiles(path.join(appDir, 'outbox')).join() === '.sent/hello.txt', 'the original moved to outbox/.sent', 10_000);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('logs go to a file in the data dir, and a secret from ${env:…} appears neither there nor in the database', async () => {
    const secret = 'sEcReT-token-4242';
    const s = await sink((req) => (req.headers.authorization === `Bearer ${secret}` ? { status: 401, body: 'no thanks' } : undefined));
    const st = setup(s.url, { destination: { auth: { type: 'bearer', token: '${env:FERRY_E2E_TOKEN}' }, headers: { 'X-Api-Key': '${env:FERRY_E2E_TOKEN}' } } });
    process.env.FERRY_E2E_TOKEN = secret;
    const f = await ferry(st.cfg);
    fs.writeFileSync(path.join(st.inbox, 'a.csv'), 'x');
    await waitFor(async () => (await statusJson(st.cfg)).flows[0].counts.dead === 1, 'the item dead after 401', 15_000, 200);
    expect(s.received[0].headers.authorization).toBe(`Bearer ${secret}`);
    expect(await f.stop()).toBe(0);
    const logFile = path.join(st.dir, 'data', 'logs', 'ferry.log');
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).toContain('"msg":"Ferry is running"');
    expect(log).toContain('item is dead');
    for (const file of listFiles(path.join(st.dir, 'data'))) {
      expect(fs.readFileSync(path.join(st.dir, 'data', file)).includes(secret), `${file} holds the secret`).toBe(false);
    }
    expect(f.output()).not.toContain(secret);
  });

  it('an item that keeps failing goes dead after retry.maxAttempts, with the reason', async () => {
    const s = await sink(() => ({ status: 503, body: 'maintenance' }));
    const st = setup(s.url, { retry: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 50 } });
    const f = await ferry(st.cfg);
    fs.writeFileSync(path.join(st.inbox, 'a.csv'), 'x');
    const dead = await waitFor(async () => {
      const r = await runCli(['queue', 'list', '--config', st.cfg, '--state', 'dead', '--json']);
      return JSON.parse(r.stdout)[0];
    }, 'the item to go dead', 20_000, 200);
    expect(s.received).toHaveLength(3);
    expect(dead).toMatchObject({ attempts: 3, last_status: 503, last_response: 'maintenance' });
    expect(dead.last_error).toBe(`gave up after 3 attempts: HTTP 503 from 127.0.0.1:${s.port}`);
    expect(fs.existsSync(path.join(st.inbox, 'a.csv'))).toBe(true);
    // the running engine writes its flow facts (last error…) for other processes once a second
    const lastError = await waitFor(async () => (await statusJson(st.cfg)).flows[0].lastError, 'status to show the last error', 10_000, 200);
    expect(lastError).toContain('gave up after 3 attempts');
    // an admin drops it: it becomes a tombstone (never taken again), and discard leaves delivered items alone
    const discard = await runCli(['queue', 'discard', '--config', st.cfg, '--id', String(dead.id)]);
    expect(discard.stdout.trim()).toBe('discarded 1 items');
    const dropped = await runCli(['queue', 'list', '--config', st.cfg, '--state', 'discarded', '--json']);
    expect(JSON.parse(dropped.stdout).map((i: any) => i.id)).toEqual([dead.id]);
    const usage = await runCli(['queue', 'discard', '--config', st.cfg]);
    expect(usage.code).toBe(2);
    expect(await f.stop()).toBe(0);
  });

  it('keeps at most `concurrency` requests in flight, and waits as long as Retry-After says', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let first429 = true;
    const s = await sink((req) => {
      if (decodeURIComponent(String(req.headers['x-ferry-filename'])) === 'later.csv' && first429) {
        first429 = false;
        return { status: 429, headers: { 'retry-after': '2' } };
      }
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => inFlight--, 150);
      return { delayMs: 150 };
    });
    const st = setup(s.url, { destination: { concurrency: 3 }, retry: { maxAttempts: 5, initialDelayMs: 20, maxDelayMs: 50 } });
    const f = await ferry(st.cfg);
    for (let i = 0; i < 12; i++) fs.writeFileSync(path.join(st.inbox, `c${i}.csv`), `c${i}`);
    fs.writeFileSync(path.join(st.inbox, 'later.csv'), 'later');
    await waitFor(() => listFiles(st.sent).length === 13, 'all 13 files delivered', 30_000, 50);
    expect(maxInFlight).toBe(3);
    const tries = s.received.filter((r) => decodeURIComponent(String(r.headers['x-ferry-filename'])) === 'later.csv');
    expect(tries).toHaveLength(2);
    expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(1900);
    expect(await f.stop()).toBe(0);
  });

  it('--log-level warn keeps info lines off stderr', async () => {
    const s = await sink();
    const st = setup(s.url);
    const f = await startFerry(st.cfg, { args: ['--log-level', 'warn'] });
    try {
      fs.writeFileSync(path.join(st.inbox, 'a.csv'), 'x');
      await waitFor(() => s.accepted.size === 1, 'a delivery', 15_000);
      expect(await f.stop()).toBe(0);
      expect(f.output()).toContain('Ferry is running: 1 flows');
      expect(f.output()).not.toMatch(/INFO/);
    } finally {
      if (f.child.exitCode === null) await f.kill9();
    }
  });
});
