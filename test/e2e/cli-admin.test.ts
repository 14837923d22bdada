// The admin side from the command line: `ferry secret`, `ferry run` printing the dashboard URL, `ferry dashboard`
// login links against a running Ferry, `ferry service install --print`.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { request } from '../helpers/admin.ts';
import { startSink } from '../helpers/sink.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const SECRET = 'cli-secret-3e9a61f0';
const running: RunningFerry[] = [];
afterAll(async () => {
  for (const r of running) if (r.child.exitCode === null) await r.stop();
});

describe('ferry secret / run / dashboard', () => {
  it('stores a secret from stdin, runs a flow with it, prints the dashboard URL and a working login link', async () => {
    const dir = tempDir('ferry-cli6-');
    const sink = await startSink();
    try {
      fs.mkdirSync(path.join(dir, 'out'));
      const file = writeConfig(dir, {
        dataDir: './data',
        admin: { port: 0 },
        integrations: [{ name: 'api', flows: [{ name: 'push', source: { type: 'folder', path: './out', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/in`, headers: { 'X-Api-Key': '${secret:API_KEY}' } } }] }],
      });
      const env = { FERRY_MASTER_KEY: 'cli-test-master-key' };

      const missing = await runCli(['validate', '--config', file], { env });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('integrations[0].flows[0].destination.headers.X-Api-Key: secret API_KEY is not set (store it with: ferry secret set API_KEY)');

      const argv = await runCli(['secret', 'set', 'API_KEY', SECRET, '--config', file], { env });
      expect(argv.code).toBe(2); // never from the command line
      const empty = await runCli(['secret', 'set', 'API_KEY', '--config', file], { env, input: '' });
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/no value given/);

      const set = await runCli(['secret', 'set', 'API_KEY', '--config', file], { env, input: `${SECRET}\n` });
      expect(set.code).toBe(0);
      expect(set.stdout).toContain('secret API_KEY stored');
      expect(set.stdout + set.stderr).not.toContain(SECRET);
      const list = await runCli(['secret', 'list', '--config', file], { env });
      expect(list.stdout).toMatch(/API_KEY\s+\d{4}-/);
      expect(list.stdout).toContain('key from FERRY_MASTER_KEY');
      expect(list.stdout).not.toContain(SECRET);
      const wrongKey = await runCli(['secret', 'list', '--config', file], { env: { FERRY_MASTER_KEY: 'other' } });
      expect(wrongKey.code).toBe(2);
      expect(wrongKey.stderr).toMatch(/cannot decrypt .*wrong key/);

      const notRunning = await runCli(['dashboard', '--config', file], { env });
      expect(notRunning.code).toBe(1);
      expect(notRunning.stderr).toMatch(/not running/);

      const ferry = await startFerry(file, { env });
      running.push(ferry);
      await ferry.waitForOutput(/Dashboard: http:\/\/127\.0\.0\.1:\d+\//);
      const port = Number(/Dashboard: http:\/\/127\.0\.0\.1:(\d+)\//.exec(ferry.output())![1]);

      fs.writeFileSync(path.join(dir, 'out', 'a.json'), '{"a":1}');
      await waitFor(() => sink.received.length > 0, 'delivery');
      expect(sink.received[0].headers['x-api-key']).toBe(SECRET);

      const link = await runCli(['dashboard', '--config', file], { env });
      expect(link.code).toBe(0);
      const url = new URL(link.stdout.trim());
      expect(url.port).toBe(String(port));
      const login = await request(port, 'GET', url.pathname + url.search);
      expect(login.status).toBe(303);
      const cookie = /ferry_session=[\w-]+/.exec(String(login.headers['set-cookie']))![0];
      const status = await request(port, 'GET', '/api/status', { headers: { cookie } });
      expect(status.status).toBe(200);
      expect(status.json.flows[0].counts.delivered).toBe(1);
      expect((await request(port, 'GET', '/api/status')).status).toBe(401);

      const token = fs.readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
      const cfg = await request(port, 'GET', '/api/config', { headers: { authorization: `Bearer ${token}` } });
      expect(cfg.text).toContain('${secret:API_KEY}');
      expect(cfg.text).not.toContain(SECRET);

      expect(await ferry.stop()).toBe(0);
      expect(fs.existsSync(path.join(dir, 'data', 'admin.json'))).toBe(false);
      for (const f of listFiles(path.join(dir, 'data')).filter((f) => !f.startsWith('content/'))) {
        expect(fs.readFileSync(path.join(dir, 'data', f)).includes(SECRET), f).toBe(false);
      }
      expect(ferry.output()).not.toContain(SECRET);

      const del = await runCli(['secret', 'delete', 'API_KEY', '--config', file], { env });
      expect(del.code).toBe(0);
      expect((await runCli(['secret', 'delete', 'API_KEY', '--config', file], { env })).code).toBe(1);
    } finally {
      await sink.close();
    }
  });
});

describe('ferry service', () => {
  it('prints what it would install (Linux: the systemd unit and the steps), as the account it chose', async () => {
    const dir = tempDir('ferry-svc-');
    const file = writeConfig(dir, { dataDir: './data', integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] });
    const asRoot = process.getuid?.() === 0 && !process.env.SUDO_USER;
    const plain = await runCli(['service', 'install', '--config', file, '--print']);
    if (asRoot) {
      // root never runs Ferry by default: the install says so and what to do instead
      expect(plain.code).toBe(2);
      expect(plain.stderr).toMatch(/installing as root, and Ferry does not run as root by default: .*--account <name>.*--system/);
    }
    const superuser = await runCli(['service', 'install', '--config', file, '--print', '--account', process.platform === 'win32' ? 'SYSTEM' : 'root']);
    expect(superuser.code).toBe(2);
    expect(superuser.stderr).toMatch(/only when you say so with --system/);

    const r = await runCli(['service', 'install', '--config', file, '--print', '--account', 'nobody']);
    if (r.code === 1 && /refusing to install: the service would run code/.test(r.stderr)) {
      // a checkout an ordinary user can write (a developer's home) is refused: the rule itself is tested in service-guard.test.ts
      console.log(`skipped the printed unit: this checkout is not admin-only:\n${r.stderr}`);
    } else {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      if (process.platform === 'linux') {
        expect(r.stdout).toContain('/etc/systemd/system/ferry.service');
        expect(r.stdout).toContain(`ExecStart=${process.execPath} `);
        expect(r.stdout).toContain(`run --config ${file}`);
        expect(r.stdout).toContain('\nUser=nobody\n');
        expect(r.stdout).toContain('\nNoNewPrivileges=yes\n');
      }
    }

    if (process.platform !== 'win32') {
      // a config anyone can change decides what the service reads and where it sends it: refused
      fs.chmodSync(dir, 0o777);
      const open = await runCli(['service', 'install', '--config', file, '--print', '--account', 'nobody']);
      expect(open.code).toBe(1);
      expect(open.stderr).toMatch(/refusing to install/);
      expect(open.stderr).toContain(`${dir} is writable by every user`);
      fs.chmodSync(dir, 0o700);
    }
    const bad = await runCli(['service', 'install', '--config', path.join(dir, 'missing.yaml'), '--print']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/config file not found/);
  });
});
