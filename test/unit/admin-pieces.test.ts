// Pure parts of the admin side: service unit/plist/task texts, login links, route table, YAML merges.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';
import YAML from 'yaml';
import { installPlan, launchdPlist, systemdUnit, uninstallPlan, windowsTaskXml, type ServiceOptions } from '../../main/engine/service.ts';
import { checkLoginLink, loginLink } from '../../main/engine/admin/login.ts';
import { matchRoute, routes } from '../../main/engine/admin/routes.ts';
import { mergeInto, putFlow } from '../../main/engine/api/config-file.ts';

const opts: ServiceOptions = {
  name: 'ferry',
  node: '/usr/local/bin/node',
  ferryBin: '/opt/Ferry & Co/bin/ferry.js',
  configFile: '/etc/ferry/ferry.yaml',
  logDir: '/var/lib/ferry/logs',
  workingDir: '/etc/ferry',
};

describe('service definitions', () => {
  it('launchd plist: runs `ferry run --config`, at load, kept alive on failure, XML-escaped', () => {
    const plist = launchdPlist(opts);
    expect(plist).toContain('<key>Label</key>\n  <string>com.ferry.agent</string>');
    expect(plist).toContain('    <string>/usr/local/bin/node</string>\n    <string>/opt/Ferry &amp; Co/bin/ferry.js</string>\n    <string>run</string>\n    <string>--config</string>\n    <string>/etc/ferry/ferry.yaml</string>');
    expect(plist).toMatch(/<key>RunAtLoad<\/key>\s*<true\/>/);
    expect(plist).toMatch(/<key>KeepAlive<\/key>\s*<dict>\s*<key>SuccessfulExit<\/key>\s*<false\/>/);
    expect(plist).toContain('<string>/var/lib/ferry/logs/service.err.log</string>');
    expect(plist).not.toContain('UserName');
    expect(launchdPlist({ ...opts, user: '_ferry' })).toContain('<key>UserName</key>\n  <string>_ferry</string>');
    const parsedKeys = [...plist.matchAll(/<key>(\w+)<\/key>/g)].map((m) => m[1]);
    expect(new Set(parsedKeys).size).toBe(parsedKeys.length);
  });

  it('systemd unit: quoted ExecStart, restart on failure, SIGTERM with time to finish deliveries', () => {
    const unit = systemdUnit({ ...opts, user: 'ferry' });
    expect(unit).toContain('ExecStart=/usr/local/bin/node "/opt/Ferry & Co/bin/ferry.js" run --config /etc/ferry/ferry.yaml');
    expect(unit).toContain('Restart=on-failure');
    expect(unit).toContain('User=ferry');
    expect(unit).toContain('KillSignal=SIGTERM');
    expect(unit).toContain('WantedBy=multi-user.target');
  });

  it('Windows task: at boot as SYSTEM, restarted on failure, no time limit', () => {
    const task = windowsTaskXml({ ...opts, node: 'C:\\Program Files\\nodejs\\node.exe', ferryBin: 'C:\\Ferry\\bin\\ferry.js', configFile: 'C:\\ProgramData\\Ferry\\ferry.yaml' });
    expect(task).toContain('<BootTrigger>');
    expect(task).toContain('<UserId>S-1-5-18</UserId>');
    expect(task).toContain('<Command>C:\\Program Files\\nodejs\\node.exe</Command>');
    expect(task).toContain('<Arguments>C:\\Ferry\\bin\\ferry.js run --config C:\\ProgramData\\Ferry\\ferry.yaml</Arguments>');
    expect(task).toContain('<ExecutionTimeLimit>PT0S</ExecutionTimeLimit>');
    expect(task).toMatch(/<RestartOnFailure>\s*<Interval>PT1M<\/Interval>/);
  });

  it('plans per platform: files and commands on macOS/Windows, instructions on Linux', () => {
    const mac = installPlan('darwin', opts, '/tmp');
    expect(mac.files[0].path).toBe('/Library/LaunchDaemons/com.ferry.agent.plist');
    expect(mac.commands).toEqual([['launchctl', 'bootstrap', 'system', '/Library/LaunchDaemons/com.ferry.agent.plist']]);
    const win = installPlan('win32', opts, 'C:\\Temp');
    expect(win.commands[0].slice(0, 3)).toEqual(['schtasks.exe', '/Create', '/TN']);
    expect(win.files[0].encoding).toBe('utf16le');
    const linux = installPlan('linux', opts, '/tmp');
    expect(linux.files).toEqual([]);
    expect(linux.commands).toEqual([]);
    expect(linux.notes.join('\n')).toContain('systemctl enable --now ferry.service');
    expect(linux.notes.join('\n')).toContain('[Service]');
    expect(uninstallPlan('darwin', 'ferry').remove).toEqual(['/Library/LaunchDaemons/com.ferry.agent.plist']);
    expect(uninstallPlan('win32', 'ferry').commands.at(-1)).toEqual(['schtasks.exe', '/Delete', '/TN', 'ferry', '/F']);
  });
});

describe('login links', () => {
  it('are signed with the token, single-use and short-lived', () => {
    const used = new Map<string, number>();
    const now = 1_800_000_000_000;
    const link = new URL(loginLink('http://127.0.0.1:7399/', 'the-token', now));
    expect(link.pathname).toBe('/login');
    expect(checkLoginLink('the-token', link.searchParams, used, now + 1000)).toBeUndefined();
    expect(checkLoginLink('the-token', link.searchParams, used, now + 2000)).toMatch(/already used/);
    const other = new URL(loginLink('http://127.0.0.1:7399', 'the-token', now));
    expect(checkLoginLink('another-token', other.searchParams, used, now)).toMatch(/not valid/);
    expect(checkLoginLink('the-token', other.searchParams, used, now + 3 * 60_000)).toMatch(/expired/);
    const tampered = new URLSearchParams(other.searchParams);
    tampered.set('e', String(now + 10 * 3600_000));
    expect(checkLoginLink('the-token', tampered, used, now)).toMatch(/not valid/);
    expect(checkLoginLink('the-token', new URLSearchParams(''), used, now)).toMatch(/incomplete/);
  });
});

describe('route table', () => {
  it('has one entry per method and path, each with a summary, under /api/ (and Prometheus\' /metrics)', () => {
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const r of routes) {
      expect(r.path.startsWith('/api/') || r.path === '/metrics', r.path).toBe(true);
      expect(r.summary.length).toBeGreaterThan(10);
    }
    expect(keys).toEqual(expect.arrayContaining([
      'GET /api/status', 'GET /api/config', 'POST /api/config/validate', 'PUT /api/config/integrations/:integration',
      'DELETE /api/config/integrations/:integration/flows/:flow', 'GET /api/queue', 'GET /api/queue/:id/body', 'POST /api/queue/retry',
      'POST /api/flows/:flow/run', 'POST /api/check', 'POST /api/dry-run', 'GET /api/schedule/next', 'GET /api/activity', 'GET /api/events',
      'PUT /api/secrets/:name', 'GET /api/settings', 'PUT /api/settings',
    ]));
  });

  it('is documented in docs/admin-api.md, route by route', () => {
    const doc = fs.readFileSync(path.join(repoRoot, 'docs/admin-api.md'), 'utf8');
    for (const r of routes) expect(doc, `${r.method} ${r.path}`).toMatch(new RegExp(`\`${r.method} ${r.path.replace(/[.]/g, '\\.')}[?\`]`));
  });

  it('matches paths with decoded parameters, and fixed paths before parameters', () => {
    expect(matchRoute('PUT', '/api/config/integrations/a%20b/flows/f-1')?.params).toEqual({ integration: 'a b', flow: 'f-1' });
    expect(matchRoute('POST', '/api/queue/retry')?.route.path).toBe('/api/queue/retry');
    expect(matchRoute('GET', '/api/queue/12/body')?.params).toEqual({ id: '12' });
    expect(matchRoute('GET', '/api/queue/12/body/x')).toBeUndefined();
    expect(() => matchRoute('GET', '/api/queue/%E0%A4%A')).toThrow(/malformed/);
  });
});

describe('YAML merge', () => {
  it('replaces only what changed and keeps comments on the rest', () => {
    const doc = YAML.parseDocument('a: 1 # one\nb:\n  c: 2 # two\n  d: [x, y] # list\ne: gone\n');
    mergeInto(doc, doc.contents as any, { a: 1, b: { c: 3, d: ['x', 'y'] }, f: { g: true } });
    const out = doc.toString();
    expect(out).toContain('a: 1 # one');
    expect(out).toContain('d: [ x, y ] # list');
    expect(out).toMatch(/c: 3/);
    expect(out).not.toContain('e: gone');
    expect(YAML.parse(out)).toEqual({ a: 1, b: { c: 3, d: ['x', 'y'] }, f: { g: true } });
  });

  it('adds a flow to a new integration when none exists', () => {
    const doc = YAML.parseDocument('integrations: []\n');
    expect(putFlow(doc, 'i', 'f', { source: { type: 'folder', path: 'a' }, destination: { type: 'folder', path: 'b' } })).toBe('integrations[0].flows[0]');
    expect(YAML.parse(doc.toString()).integrations[0]).toEqual({ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: 'a' }, destination: { type: 'folder', path: 'b' } }] });
  });
});
