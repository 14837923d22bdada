// Config editing through the admin API: validation names the field, edits keep the admin's comments, and
// the running engine applies the change (new flows start, changed ones restart, removed ones stop).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { listFiles, waitFor } from '../helpers/tmp.ts';

let h: AdminHarness;

const CONFIG = `# Ferry at the depot: keep these notes
dataDir: ./data
admin:
  port: 0 # tests pick a free port
retention: { deliveredDays: 7, fingerprintDays: 90 } # as long as the auditors ask for, and not a day longer
integrations:
  # the ERP hands over scans here
  - name: scans
    description: Scanned delivery notes
    flows:
      - name: scans-in # do not rename: the ERP support team knows it
        source: { type: folder, path: ./scans, settleMs: 0, afterDelivery: { action: delete } } # shared with the scanner
        trigger: { on: change }
        destination:
          type: folder
          path: ./scans-out
`;

beforeAll(async () => {
  h = await startAdmin(CONFIG, { dirs: ['scans'] });
});
afterAll(async () => {
  await h?.stop();
});

const text = () => fs.readFileSync(h.configFile, 'utf8');

describe('config routes', () => {
  it('returns the file as written and the JSON Schema of the config and of each connector', async () => {
    const r = await h.api('GET', '/api/config');
    expect(r.status).toBe(200);
    expect(r.json.file).toBe(h.configFile);
    expect(r.json.config.integrations[0].flows[0].source.path).toBe('./scans');
    expect(r.json.schema.properties.integrations.type).toBe('array');
    const folder = r.json.connectors.find((c: any) => c.type === 'folder');
    expect(folder.source.properties.settleMs.default).toBe(1000);
    expect(folder.changeEvents).toBe(true);
    expect(r.json.connectors.find((c: any) => c.type === 'http').source).toBeUndefined();
  });

  it('validates a flow and names each wrong field relative to it', async () => {
    const bad = await h.api('POST', '/api/config/validate', {
      integration: 'scans',
      flow: { name: 'new-flow', source: { type: 'folder', settleMs: -5 }, destination: { type: 'http', url: 'ftp://nope' } },
    });
    expect(bad.status).toBe(200);
    expect(bad.json.ok).toBe(false);
    const byPath = Object.fromEntries(bad.json.problems.map((p: any) => [p.path, p.message]));
    expect(byPath['source.path']).toMatch(/required/);
    expect(byPath['source.settleMs']).toMatch(/at least 0/);
    expect(byPath['destination.url']).toMatch(/http\(s\) URL/);
    const good = await h.api('POST', '/api/config/validate', { integration: 'scans', flow: { name: 'x', source: { type: 'folder', path: './x' }, destination: { type: 'folder', path: './y' } } });
    expect(good.json).toEqual({ ok: true, problems: [], warnings: [] });
    // a listener open to the network: refused, or accepted with allowInsecure as a warning on its field
    const open = { name: 'hook', source: { type: 'webhook', address: '0.0.0.0', port: 18080, verify: { scheme: 'none' } }, destination: { type: 'folder', path: './y' } };
    const refused = await h.api('POST', '/api/config/validate', { integration: 'scans', flow: open });
    expect(refused.json.problems.map((p: any) => p.path)).toEqual(['source.tls', 'source.verify.scheme']);
    const insecure = await h.api('POST', '/api/config/validate', { integration: 'scans', flow: { ...open, source: { ...open.source, allowInsecure: true } } });
    expect(insecure.json.ok).toBe(true);
    expect(insecure.json.warnings).toEqual([{ path: 'source.allowInsecure', message: expect.stringMatching(/^webhook listener on 0\.0\.0\.0:18080 accepts requests from the network without TLS/) }]);
    const whole = await h.api('POST', '/api/config/validate', { config: { integrations: [{ name: 'a b', flows: [] }] } });
    expect(whole.json.ok).toBe(false);
    expect(whole.json.problems.map((p: any) => p.path)).toEqual(expect.arrayContaining(['integrations[0].name', 'integrations[0].flows']));
    const dupe = await h.api('POST', '/api/config/validate', { integration: 'other', flow: { name: 'scans-in', source: { type: 'folder', path: './x' }, destination: { type: 'folder', path: './y' } } });
    expect(dupe.json.problems.some((p: any) => /duplicate flow name "scans-in"/.test(p.message))).toBe(true);
  });

  it('refuses an invalid change with 400, the fields named, and leaves the file alone', async () => {
    const before = text();
    const r = await h.api('PUT', '/api/config/integrations/scans/flows/scans-in', {
      source: { type: 'folder', path: './scans', settleMs: 'soon' },
      destination: { type: 'folder', path: './scans-out' },
    });
    expect(r.status).toBe(400);
    expect(r.json.problems).toEqual([{ path: 'source.settleMs', message: expect.stringMatching(/expected (int|number).*got "soon"/) }]);
    expect(text()).toBe(before);
  });

  it('adds a flow, keeps every comment, and starts it at once', async () => {
    fs.mkdirSync(path.join(h.dir, 'invoices'), { recursive: true });
    const r = await h.api('PUT', '/api/config/integrations/scans/flows/invoices', {
      source: { type: 'folder', path: './invoices', settleMs: 0, afterDelivery: { action: 'delete' } },
      trigger: { on: 'change' },
      destination: { type: 'folder', path: './invoices-out' },
    });
    expect(r.status).toBe(200);
    expect(r.json.applied).toEqual({ started: ['invoices'], stopped: [], restarted: [], restartRequired: [] });
    const t = text();
    for (const comment of ['retention: { deliveredDays: 7, fingerprintDays: 90 } # as long as the auditors ask for, and not a day longer', '# Ferry at the depot: keep these notes', '# tests pick a free port', '# the ERP hands over scans here', '# do not rename: the ERP support team knows it', '        source: { type: folder, path: ./scans, settleMs: 0, afterDelivery: { action: delete } } # shared with the scanner']) {
      expect(t).toContain(comment);
    }
    expect(YAML.parse(t).integrations[0].flows[1].name).toBe('invoices');
    fs.writeFileSync(path.join(h.dir, 'invoices', 'inv-7.pdf'), '%PDF-1.4');
    await waitFor(() => listFiles(path.join(h.dir, 'invoices-out')).includes('inv-7.pdf'), 'new flow delivers');
    expect((await h.api('GET', '/api/status')).json.flows.map((f: any) => f.flow)).toEqual(['scans-in', 'invoices']);
  });

  it('changes a flow in place: only the changed key is rewritten and the flow restarts with it', async () => {
    const r = await h.api('PUT', '/api/config/integrations/scans/flows/scans-in', {
      source: { type: 'folder', path: './scans', settleMs: 0, afterDelivery: { action: 'delete' } },
      trigger: { on: 'change' },
      destination: { type: 'folder', path: './scans-archive' },
    });
    expect(r.status).toBe(200);
    expect(r.json.applied.restarted).toEqual(['scans-in']);
    const t = text();
    expect(t).toContain('- name: scans-in # do not rename: the ERP support team knows it');
    expect(t).toContain('        source: { type: folder, path: ./scans, settleMs: 0, afterDelivery: { action: delete } } # shared with the scanner');
    expect(t).toContain('path: ./scans-archive');
    fs.writeFileSync(path.join(h.dir, 'scans', 'note-1.tif'), 'II*');
    await waitFor(() => listFiles(path.join(h.dir, 'scans-archive')).includes('note-1.tif'), 'delivery to the new destination');
    expect(listFiles(path.join(h.dir, 'scans-out'))).toEqual([]);
  });

  it('deletes a flow (stopping it) and an integration', async () => {
    const r = await h.api('DELETE', '/api/config/integrations/scans/flows/invoices');
    expect(r.status).toBe(200);
    expect(r.json.applied.stopped).toEqual(['invoices']);
    expect(YAML.parse(text()).integrations[0].flows.map((f: any) => f.name)).toEqual(['scans-in']);
    // stopped: nothing watches its folder any more
    expect(h.engine.flows.has('invoices')).toBe(false);
    expect((await h.api('GET', '/api/status')).json.flows.map((f: any) => f.flow)).not.toContain('invoices');
    expect((await h.api('DELETE', '/api/config/integrations/scans/flows/invoices')).status).toBe(404);

    const add = await h.api('PUT', '/api/config/integrations/temp', {
      description: 'short-lived',
      flows: [{ name: 'temp-flow', source: { type: 'folder', path: './temp' }, destination: { type: 'folder', path: './temp-out' } }],
    });
    expect(add.status).toBe(200);
    expect(add.json.applied.started).toEqual(['temp-flow']);
    const del = await h.api('DELETE', '/api/config/integrations/temp');
    expect(del.json.applied.stopped).toEqual(['temp-flow']);
    expect(text()).toContain('# the ERP hands over scans here');
    expect(YAML.parse(text()).integrations.map((i: any) => i.name)).toEqual(['scans']);
  });

  it('refuses to delete the last flow of an integration with the field named', async () => {
    const r = await h.api('DELETE', '/api/config/integrations/scans/flows/scans-in');
    expect(r.status).toBe(400);
    expect(r.json.problems[0]).toEqual({ path: 'integrations[0].flows', message: expect.stringMatching(/at least one flow/) });
  });

  it('reads and changes settings; port changes wait for a restart', async () => {
    const s = await h.api('GET', '/api/settings');
    expect(s.json).toMatchObject({ logLevel: 'info', adminPort: 0, dataDir: h.dataDir, startAtLogin: false, restartRequired: [] });
    const changed = await h.api('PUT', '/api/settings', { logLevel: 'debug', startAtLogin: true, adminPort: 7411 });
    expect(changed.status).toBe(200);
    expect(changed.json).toMatchObject({ logLevel: 'debug', startAtLogin: true, adminPort: 7411 });
    expect(changed.json.restartRequired).toContain('adminPort');
    expect(YAML.parse(text()).logLevel).toBe('debug');
    expect(YAML.parse(text()).admin.port).toBe(7411);
    expect(text()).toContain('# tests pick a free port');
    const bad = await h.api('PUT', '/api/settings', { logLevel: 'loud' });
    expect(bad.status).toBe(400);
    expect(bad.json.problems[0].path).toBe('logLevel');
    const unknown = await h.api('PUT', '/api/settings', { colour: 'blue' });
    expect(unknown.json.problems[0]).toEqual({ path: 'colour', message: 'unknown key' });
  });
});

describe('log level', () => {
  it('a new logLevel applies at once, to the flows too', async () => {
    const h2 = await startAdmin({ logLevel: 'info', integrations: [{ name: 'i', flows: [{ name: 'quiet', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] }, { logFile: true, dirs: ['in'] });
    try {
      const r = await h2.api('PUT', '/api/settings', { logLevel: 'warn' });
      expect(r.json.logLevel).toBe('warn');
      expect(h2.engine.log.level).toBe('warn');
      const same = await h2.api('PUT', '/api/settings', { startAtLogin: true });
      expect(same.json.restartRequired).toEqual([]);
      expect(YAML.parse(fs.readFileSync(h2.configFile, 'utf8')).logLevel).toBe('warn');
    } finally {
      await h2.stop();
    }
  });
});

describe('Engine.reload', () => {
  it('applies a hand edit of the file, and leaves the flows alone when the file is broken', async () => {
    const before = text();
    const doc = YAML.parseDocument(before);
    (doc.getIn(['integrations', 0, 'flows']) as any).add(doc.createNode({ name: 'hand-made', source: { type: 'folder', path: './hand' }, destination: { type: 'folder', path: './hand-out' } }));
    fs.writeFileSync(h.configFile, doc.toString());
    expect((await h.engine.reload()).started).toEqual(['hand-made']);
    fs.writeFileSync(h.configFile, before.replace('settleMs: 0', 'settleMs: -1'));
    await expect(h.engine.reload()).rejects.toThrow(/settleMs: expected at least 0/);
    expect([...h.engine.flows.keys()]).toEqual(['scans-in', 'hand-made']);
    fs.writeFileSync(h.configFile, before);
    expect((await h.engine.reload()).stopped).toEqual(['hand-made']);
  });
});

describe('check, dry run and schedule preview', () => {
  it('checks a configured endpoint and an unsaved block, never failing the request', async () => {
    const ok = await h.api('POST', '/api/check', { flow: 'scans-in', role: 'source' });
    expect(ok.json).toMatchObject({ ok: true });
    const missing = await h.api('POST', '/api/check', { source: { type: 'folder', path: './no-such-folder' } });
    expect(missing.status).toBe(200);
    expect(missing.json.ok).toBe(false);
    expect(missing.json.message).toMatch(/folder missing: .*no-such-folder/);
    const invalid = await h.api('POST', '/api/check', { destination: { type: 'http' } });
    expect(invalid.json.ok).toBe(false);
    expect(invalid.json.problems[0].path).toBe('url');
    const unreachable = await h.api('POST', '/api/check', { destination: { type: 'http', url: 'http://127.0.0.1:1/x', timeoutMs: 1000 } });
    expect(unreachable.json.ok).toBe(false);
  });

  it('dry-runs a folder source: complete files and files still being written', async () => {
    const dir = path.join(h.dir, 'dry');
    fs.mkdirSync(dir);
    const old = Date.now() / 1000 - 3600;
    for (const n of ['a.csv', 'b.csv', 'skip.tmp']) {
      fs.writeFileSync(path.join(dir, n), 'x');
      fs.utimesSync(path.join(dir, n), old, old);
    }
    fs.writeFileSync(path.join(dir, 'growing.csv'), 'start');
    const writer = setInterval(() => fs.appendFileSync(path.join(dir, 'growing.csv'), 'more'), 100);
    try {
      const r = await h.api('POST', '/api/dry-run', { source: { type: 'folder', path: './dry', include: ['*.csv'], settleMs: 1000 } });
      expect(r.json.ok).toBe(true);
      expect(r.json.files.map((f: any) => [f.relativePath, f.state])).toEqual([['a.csv', 'complete'], ['b.csv', 'complete'], ['growing.csv', 'writing']]);
      expect(r.json.message).toBe('3 existing files match; 1 is still being written');
    } finally {
      clearInterval(writer);
    }
    const bad = await h.api('POST', '/api/dry-run', { source: { type: 'folder', path: './nowhere' } });
    expect(bad.json).toMatchObject({ ok: false, message: expect.stringMatching(/folder missing/) });
    const http = await h.api('POST', '/api/dry-run', { source: { type: 'http', url: 'http://x' } });
    expect(http.json.ok).toBe(false);
    expect(http.json.problems[0]).toMatchObject({ path: 'type' });
  });

  it('previews the next run times of a schedule in its time zone', async () => {
    const r = await h.api('GET', `/api/schedule/next?cron=${encodeURIComponent('30 8 * * 1-5')}&timezone=Europe/Berlin&count=5`);
    expect(r.json.ok).toBe(true);
    expect(r.json.times).toHaveLength(5);
    expect(r.json.local.every((t: string) => t.endsWith('08:30:00'))).toBe(true);
    for (const t of r.json.times) expect([1, 2, 3, 4, 5]).toContain(new Date(t).getUTCDay());
    const bad = await h.api('GET', '/api/schedule/next?cron=nonsense&timezone=Mars/Base');
    expect(bad.json.ok).toBe(false);
    expect(bad.json.problems.map((p: any) => p.path)).toEqual(['cron', 'timezone']);
  });
});
