// Config loading: every error form names its key path and what was expected; paths resolve against the
// config file's folder; JSON is accepted; `ferry validate` exits 2 with one line per problem, 0 when valid.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadConfig, parseConfigText, ConfigError } from '../../main/engine/config/load.ts';
import { tempDir } from '../helpers/tmp.ts';
import { runCli } from '../helpers/cli.ts';

function base(): any {
  return {
    dataDir: './data',
    integrations: [
      {
        name: 'invoices',
        flows: [
          {
            name: 'upload',
            source: { type: 'folder', path: './outbox', afterDelivery: { action: 'move', to: './outbox/.sent' } },
            destination: { type: 'http', url: 'http://127.0.0.1:8080/in' },
          },
        ],
      },
    ],
  };
}

function problems(cfg: unknown, file = '/cfg/ferry.yaml'): string[] {
  const r = parseConfigText(typeof cfg === 'string' ? cfg : YAML.stringify(cfg), file);
  if (r.ok) throw new Error('expected the config to be invalid');
  return r.problems;
}

function valid(cfg: unknown, file = '/cfg/ferry.yaml') {
  const r = parseConfigText(typeof cfg === 'string' ? cfg : YAML.stringify(cfg), file);
  if (!r.ok) throw new Error(`expected a valid config, got:\n${r.problems.join('\n')}`);
  return r.value;
}

describe('config: valid files', () => {
  it('applies defaults and resolves relative paths against the config folder', () => {
    const v = valid(base(), '/srv/conf/ferry.yaml');
    expect(v.dataDir).toBe(path.resolve('/srv/conf/data'));
    const flow = v.config.integrations[0].flows[0];
    const src = flow.source as any;
    expect(src.path).toBe(path.resolve('/srv/conf/outbox'));
    expect(src.afterDelivery.to).toBe(path.resolve('/srv/conf/outbox/.sent'));
    expect(src.settleMs).toBe(1000);
    expect(flow.trigger).toEqual({ on: 'change' });
    expect(flow.retry).toEqual({ maxAttempts: 12, initialDelayMs: 1000, maxDelayMs: 600000 });
    expect((flow.destination as any).method).toBe('POST');
  });

  it('keeps absolute paths as they are and resolves folder destination paths', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].source.path = '/abs/in';
    cfg.integrations[0].flows[0].destination = { type: 'folder', path: 'out/sub' };
    const v = valid(cfg, '/srv/conf/ferry.yaml');
    expect((v.config.integrations[0].flows[0].source as any).path).toBe('/abs/in');
    expect((v.config.integrations[0].flows[0].destination as any).path).toBe(path.resolve('/srv/conf/out/sub'));
  });

  it('accepts JSON', () => {
    const v = valid(JSON.stringify(base(), null, 2), '/srv/conf/ferry.json');
    expect(v.config.integrations[0].flows[0].name).toBe('upload');
  });

  it('interpolates ${env:NAME} and accepts a schedule with a time zone', () => {
    process.env.FERRY_TEST_KEY = 'k-123';
    const cfg = base();
    cfg.integrations[0].flows[0].destination.headers = { 'X-Api-Key': '${env:FERRY_TEST_KEY}' };
    cfg.integrations[0].flows[0].trigger = { schedule: '*/5 * * * *', timezone: 'Europe/Berlin' };
    const v = valid(cfg);
    const flow = v.config.integrations[0].flows[0];
    expect((flow.destination as any).headers['X-Api-Key']).toBe('k-123');
    expect(flow.trigger).toEqual({ schedule: '*/5 * * * *', timezone: 'Europe/Berlin', catchUp: true });
    // the raw view keeps the template, never the value
    expect(JSON.stringify(v.raw)).toContain('${env:FERRY_TEST_KEY}');
    expect(JSON.stringify(v.raw)).not.toContain('k-123');
  });
});

describe('config: every error names its key path', () => {
  it('unknown keys, at every level', () => {
    const cfg = base();
    cfg.colour = 'blue';
    cfg.integrations[0].flows[0].source.pth = './x';
    cfg.integrations[0].flows[0].destination.retries = 3;
    const p = problems(cfg);
    expect(p).toContain('colour: unknown key');
    expect(p).toContain('integrations[0].flows[0].source.pth: unknown key');
    expect(p).toContain('integrations[0].flows[0].destination.retries: unknown key');
  });

  it('wrong types', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].source.settleMs = 'soon';
    cfg.integrations[0].flows[0].destination.concurrency = 2.5;
    cfg.integrations[0].flows[0].source.include = '**/*.csv';
    const p = problems(cfg);
    expect(p).toContain('integrations[0].flows[0].source.settleMs: expected number, got "soon"');
    expect(p.some((l) => l.startsWith('integrations[0].flows[0].destination.concurrency: expected int'))).toBe(true);
    expect(p).toContain('integrations[0].flows[0].source.include: expected array, got "**/*.csv"');
  });

  it('a missing required key', () => {
    const cfg = base();
    delete cfg.integrations[0].flows[0].destination.url;
    expect(problems(cfg)).toContain('integrations[0].flows[0].destination.url: required (expected string)');
  });

  it('a bad URL, in exactly the documented style', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].destination.url = 'ftp:/x';
    expect(problems(cfg)).toEqual(['integrations[0].flows[0].destination.url: expected an http(s) URL, got "ftp:/x"']);
  });

  it('an unknown connector type and a bad enum value', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].source.type = 'floppy';
    cfg.integrations[0].flows[0].destination.method = 'GET';
    const p = problems(cfg);
    expect(p).toContainEqual(expect.stringMatching(/^integrations\[0\]\.flows\[0\]\.source\.type: expected a source type of folder( \| [a-z-]+)*, got "floppy"$/));
    expect(p).toContain('integrations[0].flows[0].destination.method: expected one of "POST" | "PUT" | "PATCH", got "GET"');
  });

  it('an unset ${env:NAME} names NAME and where it was used', () => {
    delete process.env.FERRY_SURELY_UNSET;
    const cfg = base();
    cfg.integrations[0].flows[0].destination.auth = { type: 'bearer', token: '${env:FERRY_SURELY_UNSET}' };
    const p = problems(cfg);
    expect(p).toContain('integrations[0].flows[0].destination.auth.token: environment variable FERRY_SURELY_UNSET is not set');
  });

  it('duplicate integration and flow names', () => {
    const cfg = base();
    const second = structuredClone(cfg.integrations[0]);
    cfg.integrations.push(second);
    const p = problems(cfg);
    expect(p.some((l) => l.startsWith('integrations[1].name: duplicate integration name "invoices"'))).toBe(true);
    expect(p.some((l) => l.startsWith('integrations[1].flows[0].name: duplicate flow name "upload" (also integrations[0].flows[0])'))).toBe(true);
  });

  it('an unknown auth type and a destination that is not a mapping', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].destination.auth = { type: 'oauth' };
    expect(problems(cfg)).toEqual(['integrations[0].flows[0].destination.auth.type: expected auth type bearer | basic | apiKey, got "oauth"']);
    const cfg2 = base();
    cfg2.integrations[0].flows[0].destination = 'http';
    expect(problems(cfg2)).toEqual(['integrations[0].flows[0].destination: expected object, got "http"']);
  });

  it('a bad name', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].name = 'has space';
    expect(problems(cfg)[0]).toMatch(/^integrations\[0\]\.flows\[0\]\.name: expected a name of letters.*got "has space"$/);
  });

  it('a bad cron expression and a bad time zone', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].trigger = { schedule: '61 * * * *', timezone: 'Mars/Olympus' };
    const p = problems(cfg);
    expect(p.some((l) => l.startsWith('integrations[0].flows[0].trigger.schedule: expected a cron expression, got "61 * * * *"'))).toBe(true);
    expect(p).toContain('integrations[0].flows[0].trigger.timezone: expected an IANA time zone like "Europe/Berlin", got "Mars/Olympus"');
  });

  it('a trigger that is neither change nor schedule', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].trigger = { on: 'tuesday' };
    const p = problems(cfg);
    expect(p.length).toBeGreaterThan(0);
    expect(p.every((l) => l.startsWith('integrations[0].flows[0].trigger'))).toBe(true);
  });

  it('retry.initialDelayMs above maxDelayMs and numbers out of range', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].retry = { initialDelayMs: 5000, maxDelayMs: 1000 };
    cfg.integrations[0].flows[0].destination.concurrency = 0;
    const p = problems(cfg);
    expect(p).toContain('integrations[0].flows[0].retry.initialDelayMs: expected at most maxDelayMs (1000), got 5000');
    expect(p).toContain('integrations[0].flows[0].destination.concurrency: expected at least 1, got 0');
  });

  it('a bad afterDelivery action and a readyMarker without {name}', () => {
    const cfg = base();
    cfg.integrations[0].flows[0].source.afterDelivery = { action: 'shred' };
    cfg.integrations[0].flows[0].source.readyMarker = 'done';
    const p = problems(cfg);
    expect(p).toContain('integrations[0].flows[0].source.afterDelivery.action: expected { action: move, to: <folder> } | { action: delete } | { action: keep }, got "shred"');
    expect(p.some((l) => l.startsWith('integrations[0].flows[0].source.readyMarker: expected a pattern containing {name}'))).toBe(true);
  });

  it('reports every problem at once, each on its own line', () => {
    const cfg = base();
    cfg.colour = 'blue';
    cfg.integrations[0].flows[0].destination.url = 'nope';
    cfg.integrations[0].flows[0].source.settleMs = -5;
    const p = problems(cfg);
    expect(p.length).toBe(3);
    for (const line of p) expect(line).not.toContain('\n');
  });

  it('a YAML syntax error gives its line', () => {
    const text = 'dataDir: ./data\nintegrations:\n  - name: a\n    flows: [\n';
    const p = problems(text);
    expect(p.length).toBeGreaterThan(0);
    expect(p[0]).toMatch(/^line \d+: /);
    const dup = problems('dataDir: ./a\ndataDir: ./b\nintegrations: []\n');
    expect(dup[0]).toMatch(/^line 2: .*[Uu]nique|^line 2: .*duplicat/i);
  });

  it('a document that is not a mapping', () => {
    expect(problems('- just\n- a list\n')).toEqual(['(root): expected a mapping with an "integrations" list']);
  });

  it('loadConfig throws a ConfigError for a missing file', () => {
    const dir = tempDir();
    expect(() => loadConfig(path.join(dir, 'nope.yaml'))).toThrow(ConfigError);
    try {
      loadConfig(path.join(dir, 'nope.yaml'));
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(['config file not found']);
    }
  });
});

describe('ferry validate', () => {
  it('exits 0 on a valid file and 2 with one stderr line per problem on an invalid one', async () => {
    const dir = tempDir();
    const good = path.join(dir, 'good.yaml');
    fs.writeFileSync(good, YAML.stringify(base()));
    const ok = await runCli(['validate', '--config', good]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('valid (1 integrations, 1 flows)');
    expect(ok.stderr).toBe('');

    const cfg = base();
    cfg.integrations[0].flows[0].destination.url = 'ftp:/x';
    cfg.integrations[0].flows[0].source.pth = 'x';
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, YAML.stringify(cfg));
    const r = await runCli(['validate', '--config', bad]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toBe(`${bad}: 2 problems`);
    expect(lines.slice(1).sort()).toEqual([
      'integrations[0].flows[0].destination.url: expected an http(s) URL, got "ftp:/x"',
      'integrations[0].flows[0].source.pth: unknown key',
    ]);

    const usage = await runCli(['validate']);
    expect(usage.code).toBe(2);
    expect(usage.stderr.trim().split('\n')).toHaveLength(1);
    expect(usage.stderr).toContain('missing --config');
  });
});
