// A real Prometheus scrapes a running engine's /metrics (on the admin listener, with the admin token from its
// file) and its query API shows the deliveries and a dead item after a 4xx. The alert rules of docs/fleet.md
// pass `promtool check rules` and fire (and stay quiet) on the series `promtool test rules` feeds them.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { repoRoot } from '../helpers/cli.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { PROMTOOL, prometheusAvailable, startPrometheus, type Prometheus } from '../helpers/prometheus.ts';

const available = prometheusAvailable();
if (!available) console.warn('skipping: Debian\'s prometheus package (prometheus, promtool) is not installed');

describe.skipIf(!available)('Prometheus scraping Ferry', () => {
  let h: AdminHarness | undefined;
  let sink: Sink | undefined;
  let prom: Prometheus | undefined;
  afterAll(async () => {
    await prom?.stop();
    await h?.stop();
    await sink?.close();
  });

  it('sees the delivered count after deliveries and a dead item after a 4xx', async () => {
    sink = await startSink((req) => (String(req.headers['x-ferry-filename']).startsWith('bad') ? { status: 400, body: 'unknown customer' } : undefined));
    h = await startAdmin({
      minFreeDiskMb: 0,
      integrations: [{ name: 'billing', flows: [{ name: 'upload', source: { type: 'folder', path: './upload', settleMs: 0, afterDelivery: { action: 'delete' } }, destination: { type: 'http', url: `${sink.url}/in` } }] }],
    }, { dirs: ['upload'] });
    prom = await startPrometheus([{
      job_name: 'ferry',
      authorization: { credentials_file: path.join(h.dataDir, 'admin-token') },
      static_configs: [{ targets: [`127.0.0.1:${h.port}`], labels: { agent: 'branch-042' } }],
    }]);
    await waitFor(async () => (await prom!.query('up{job="ferry"}'))[0]?.value === 1, 'Prometheus scraping Ferry (up == 1)');

    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(h.dir, 'upload', `inv-${i}.csv`), `invoice ${i}\n`);
    fs.writeFileSync(path.join(h.dir, 'upload', 'bad-7.csv'), 'customer 7\n');

    const delivered = await waitFor(async () => {
      const r = await prom!.query('ferry_items_delivered_total{job="ferry", integration="billing", flow="upload"}');
      return r[0]?.value === 5 ? r[0] : undefined;
    }, 'ferry_items_delivered_total = 5 in Prometheus');
    expect(delivered.metric.agent).toBe('branch-042');
    const dead = await waitFor(async () => (await prom!.query('ferry_items_dead_total{flow="upload"}'))[0]?.value === 1, 'ferry_items_dead_total = 1 in Prometheus');
    expect(dead).toBe(true);
    expect((await prom.query('ferry_items{flow="upload", state="dead"}'))[0]?.value).toBe(1);
    expect((await prom.query('ferry_build_info'))[0]?.metric.config_version).toMatch(/^[0-9a-f]{12}$/);
    // the rule "dead items" would fire on this agent
    expect((await prom.query('sum by (instance, integration, flow) (ferry_items{state="dead"}) > 0'))[0]?.metric.flow).toBe('upload');
  });
});

/** The rules block of docs/fleet.md (the fenced YAML that starts with `# ferry-alerts.yml`). */
function rulesFromDocs(): string {
  const doc = fs.readFileSync(path.join(repoRoot, 'docs/fleet.md'), 'utf8');
  const m = /```yaml\n(# ferry-alerts\.yml\n[\s\S]*?)```/.exec(doc);
  if (!m) throw new Error('docs/fleet.md has no ```yaml block starting with "# ferry-alerts.yml"');
  return m[1];
}

describe.skipIf(!available)('the alert rules of docs/fleet.md', () => {
  it('pass promtool check rules', () => {
    const dir = tempDir('ferry-rules-');
    fs.writeFileSync(path.join(dir, 'ferry-alerts.yml'), rulesFromDocs());
    const r = spawnSync(PROMTOOL, ['check', 'rules', path.join(dir, 'ferry-alerts.yml')], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS: 5 rules found');
  });

  it('fire on a down agent, a failing flow, dead items, an old item and a low disk, and not on a healthy agent', () => {
    const dir = tempDir('ferry-rules-');
    fs.writeFileSync(path.join(dir, 'ferry-alerts.yml'), rulesFromDocs());
    const sick = 'job="ferry", instance="branch-042:7399"';
    const well = 'job="ferry", instance="branch-007:7399"';
    const flow = 'integration="billing", flow="upload"';
    const tests = {
      rule_files: ['ferry-alerts.yml'],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: [
          { series: `up{${sick}}`, values: '1 1 0x20' },
          { series: `up{${well}}`, values: '1x22' },
          { series: `ferry_circuit_open{${sick}, ${flow}}`, values: '0 1x20' },
          { series: `ferry_source_failing{${sick}, ${flow}}`, values: '0x21' },
          { series: `ferry_circuit_open{${well}, ${flow}}`, values: '0x21' },
          { series: `ferry_source_failing{${well}, ${flow}}`, values: '0x21' },
          { series: `ferry_items{${sick}, ${flow}, state="dead"}`, values: '0 0 3x19' },
          { series: `ferry_items{${well}, ${flow}, state="dead"}`, values: '0x21' },
          { series: `ferry_oldest_waiting_seconds{${sick}, ${flow}}`, values: '0+60x21' },
          { series: `ferry_oldest_waiting_seconds{${well}, ${flow}}`, values: '5x21' },
          { series: `ferry_data_dir_free_bytes{${sick}}`, values: '1073741824x21' },
          { series: `ferry_data_dir_free_bytes{${well}}`, values: '53687091200x21' },
        ],
        alert_rule_test: [
          { eval_time: '20m', alertname: 'FerryAgentDown', exp_alerts: [{ exp_labels: { severity: 'critical', job: 'ferry', instance: 'branch-042:7399' }, exp_annotations: { summary: 'Ferry agent branch-042:7399 is down', description: 'Prometheus has not reached Ferry at branch-042:7399 for 5 minutes: the process, the machine or the network is down.' } }] },
          { eval_time: '20m', alertname: 'FerryFlowFailing', exp_alerts: [{ exp_labels: { severity: 'warning', instance: 'branch-042:7399', integration: 'billing', flow: 'upload' }, exp_annotations: { summary: 'Ferry flow upload on branch-042:7399 is failing', description: "The destination's circuit is open or the source's scans fail for 10 minutes; `ferry status` names the reason." } }] },
          { eval_time: '5m', alertname: 'FerryFlowFailing', exp_alerts: [] },
          { eval_time: '3m', alertname: 'FerryDeadItems', exp_alerts: [{ exp_labels: { severity: 'warning', instance: 'branch-042:7399', integration: 'billing', flow: 'upload' }, exp_annotations: { summary: '3 dead items in flow upload on branch-042:7399', description: 'Items the destination refused for good wait for an admin: `ferry queue list --state dead`, then retry or discard.' } }] },
          { eval_time: '20m', alertname: 'FerryOldestWaiting', exp_alerts: [{ exp_labels: { severity: 'warning', job: 'ferry', instance: 'branch-042:7399', integration: 'billing', flow: 'upload' }, exp_annotations: { summary: 'Flow upload on branch-042:7399: an item has waited over 15 minutes', description: 'The oldest waiting item is 20m 0s old: deliveries are paused, failing or too slow.' } }] },
          { eval_time: '10m', alertname: 'FerryOldestWaiting', exp_alerts: [] },
          { eval_time: '10m', alertname: 'FerryDiskLow', exp_alerts: [{ exp_labels: { severity: 'warning', job: 'ferry', instance: 'branch-042:7399' }, exp_annotations: { summary: 'Ferry on branch-042:7399: 1GiB free in its data dir', description: "Below minFreeDiskMb intake stops (files stay where they are). Free space on the data dir's disk." } }] },
        ],
      }],
    };
    fs.writeFileSync(path.join(dir, 'tests.yml'), YAML.stringify(tests));
    const r = spawnSync(PROMTOOL, ['test', 'rules', 'tests.yml'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });
});
