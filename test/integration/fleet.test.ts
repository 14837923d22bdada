// Fleet heartbeats through a real RabbitMQ (Debian's rabbitmq-server): three engines publish, `ferry fleet
// status` lists them; one killed with kill -9 is reported silent, one whose destination fails is reported
// failing with its reason; a broker that is down stops no delivery and heartbeats resume when it is back.
// The dashboard's GET /api/fleet shows the same.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRabbit, rabbitAvailable, type Rabbit } from '../helpers/rabbitmq.ts';
import { startSink, type Sink } from '../helpers/sink.ts';
import { startEngine, type RunningEngine } from '../helpers/engine.ts';
import { startAdmin, type AdminHarness } from '../helpers/admin.ts';
import { runCli, startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';
import { configVersion } from '../../main/engine/config/version.ts';
import type { FleetReport } from '../../main/engine/fleet/report.ts';

const available = rabbitAvailable();
if (!available) console.warn("skipping: Debian's rabbitmq-server is not installed");

describe.skipIf(!available)('fleet heartbeats and `ferry fleet status`', () => {
  let rabbit: Rabbit;
  let sink: Sink;
  const engines: RunningEngine[] = [];
  let killed: RunningFerry | undefined;
  let viewer: AdminHarness | undefined;

  const config = (agent: string, route: string, extra: Record<string, unknown> = {}) => ({
    admin: { port: 0 },
    minFreeDiskMb: 0,
    fleet: { agent, labels: { region: 'north' }, publish: { type: 'amqp', url: rabbit.url, intervalSec: 1 } },
    integrations: [{
      name: 'billing',
      flows: [{
        name: 'upload',
        source: { type: 'folder', path: './in', settleMs: 0, afterDelivery: { action: 'delete' } },
        destination: { type: 'http', url: `${sink.url}/${route}`, timeoutMs: 2000 },
        retry: { maxAttempts: 100, initialDelayMs: 50, maxDelayMs: 200 },
        circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 },
      }],
    }],
    ...extra,
  });

  async function fleetStatus(args: string[] = []): Promise<{ code: number | null; report: FleetReport; stdout: string }> {
    const r = await runCli(['fleet', 'status', '--amqp', rabbit.url, '--json', ...args]);
    expect(r.stderr).toBe('');
    return { code: r.code, report: JSON.parse(r.stdout), stdout: r.stdout };
  }
  const agentOf = (r: FleetReport, name: string) => r.agents.find((a) => a.agent === name);
  /** Runs `ferry fleet status` until it reports the agent in this state. */
  const untilState = (name: string, state: string) =>
    waitFor(async () => {
      const r = await fleetStatus();
      return agentOf(r.report, name)?.state === state ? r : undefined;
    }, `${name} ${state}`);

  beforeAll(async () => {
    rabbit = await startRabbit();
    sink = await startSink((req) => (req.url?.startsWith('/fail') ? { status: 503, body: 'maintenance until 6 am' } : undefined));
    for (const [agent, route] of [['branch-001', 'ok'], ['branch-002', 'fail']]) {
      const dir = tempDir('ferry-fleet-');
      fs.mkdirSync(path.join(dir, 'in'));
      engines.push(await startEngine(config(agent, route), dir));
    }
    const dir = tempDir('ferry-fleet-');
    fs.mkdirSync(path.join(dir, 'in'));
    killed = await startFerry(writeConfig(dir, { dataDir: './data', ...config('branch-003', 'ok') }));
  }, 120_000);

  afterAll(async () => {
    if (killed && killed.child.exitCode === null && killed.child.signalCode === null) await killed.kill9();
    await viewer?.stop();
    for (const e of engines) await e.stop();
    await sink?.close();
    await rabbit?.stop();
  });

  it('lists the three agents with labels, versions and config versions', async () => {
    const { report, code } = await waitFor(async () => {
      const r = await fleetStatus();
      return r.report.agents.length === 3 ? r : undefined;
    }, 'three agents in ferry fleet status');
    expect(code).toBe(0);
    expect(report.agents.map((a) => [a.agent, a.state])).toEqual([['branch-001', 'ok'], ['branch-002', 'ok'], ['branch-003', 'ok']]);
    const a = agentOf(report, 'branch-001')!;
    expect(a.labels).toEqual({ region: 'north' });
    expect(a.version).toBe('0.1.0');
    expect(a.configVersion).toBe(configVersion(engines[0].engine.loaded));
    expect(a.intervalSec).toBe(1);
    expect(a.flows).toEqual([{ integration: 'billing', flow: 'upload', ok: true, reason: null, waiting: 0, dead: 0, lastDeliveryAt: null }]);
    // never a secret: the broker URL's password is not in the heartbeat
    expect(JSON.stringify(report)).not.toContain('guest:guest');
  });

  it('reports an agent whose destination fails as failing, with the reason, and exits 1', async () => {
    fs.writeFileSync(path.join(engines[1].dir, 'in', 'inv-1.csv'), 'invoice 1\n');
    const { report, code } = await untilState('branch-002', 'failing');
    expect(code).toBe(1);
    const b = agentOf(report, 'branch-002')!;
    expect(b.flowsFailing).toBe(1);
    expect(b.waiting).toBe(1);
    expect(b.flows[0].reason).toMatch(/^destination http unreachable since .*503/);
    const text = await runCli(['fleet', 'status', '--amqp', rabbit.url]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/branch-002\s+failing\s+region=north\s+0\.1\.0/);
    expect(text.stdout).toMatch(/^branch-002: upload failing: destination http unreachable since .*503/m);
  });

  it('publishes at once when a flow changes health, not only every interval', async () => {
    const dir = tempDir('ferry-fleet-');
    fs.mkdirSync(path.join(dir, 'in'));
    const cfg = config('branch-hourly', 'fail');
    (cfg.fleet.publish as { intervalSec: number }).intervalSec = 3600;
    const e = await startEngine(cfg, dir);
    engines.push(e);
    await waitFor(() => e.engine.fleet.publisher!.sent === 1, 'the first heartbeat of branch-hourly');
    fs.writeFileSync(path.join(dir, 'in', 'inv-2.csv'), 'invoice 2\n');
    await untilState('branch-hourly', 'failing');
    expect(e.engine.fleet.publisher!.sent).toBe(2);
  });

  it('reports an agent killed with kill -9 as silent after three missed intervals', async () => {
    await killed!.kill9();
    const killedAt = Date.now();
    const { report, code } = await untilState('branch-003', 'silent');
    expect(code).toBe(1);
    const c = agentOf(report, 'branch-003')!;
    // silent since three intervals after its last heartbeat, which came before the kill
    expect(Date.parse(c.lastHeardAt)).toBeLessThanOrEqual(killedAt);
    expect(Date.parse(c.silentSince!) - Date.parse(c.lastHeardAt)).toBe(3000);
    const text = await runCli(['fleet', 'status', '--amqp', rabbit.url]);
    expect(text.stdout).toMatch(/branch-003\s+silent\s+.*silent since/);
  });

  it('keeps delivering while the broker is down, and heartbeats resume when it is back', async () => {
    const a = engines[0];
    await rabbit.stopBroker();
    // the broker's going shows as a lost connection (at once, or after AMQP's heartbeat timeout when the socket
    // lingers) or, at the next attempt, a refused one: either is noticed
    await waitFor(() => (a.engine.fleet.publisher!.problem ?? '') !== '', 'the publisher noticing the broker is down', 60_000);
    const before = a.engine.fleet.publisher!.sent;
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(a.dir, 'in', `down-${i}.csv`), `row ${i}\n`);
    await waitFor(() => a.engine.flows.get('upload')!.counters.delivered === 3, 'three deliveries while the broker is down');
    expect(sink.received.filter((r) => r.url === '/ok').length).toBeGreaterThanOrEqual(3);
    expect(a.engine.fleet.publisher!.sent).toBe(before);
    await rabbit.startBroker();
    const back = Date.now();
    const { report } = await waitFor(async () => {
      const r = await fleetStatus();
      const agent = agentOf(r.report, 'branch-001');
      return agent && Date.parse(agent.lastHeardAt) >= back - 1000 ? r : undefined;
    }, 'a heartbeat of branch-001 after the broker came back', 60_000);
    const agentA = agentOf(report, 'branch-001')!;
    expect(agentA.state).toBe('ok');
    expect(agentA.lastDeliveryAt).not.toBeNull();
  }, 150_000); // the broker stopped and started, each noticed within a heartbeat timeout

  it('shows the fleet on the dashboard API when fleet.view is set, and says when it is not', async () => {
    viewer = await startAdmin({ fleet: { agent: 'hq', view: { amqp: rabbit.url } }, integrations: [] });
    const r = await waitFor(async () => {
      const reply = await viewer!.api('GET', '/api/fleet');
      // the viewer reads the stream from its start: until it has caught up, branch-002's first heartbeats (sent
      // before its destination failed) stand for it, so the view is read until it shows the failing state
      const report = reply.status === 200 && !reply.json.error ? (reply.json as FleetReport) : undefined;
      return report && report.agents.length >= 3 && agentOf(report, 'branch-002')?.state === 'failing' ? report : undefined;
    }, 'the fleet view listing the agents, branch-002 failing');
    expect(agentOf(r, 'branch-002')?.state).toBe('failing');
    expect(agentOf(r, 'branch-003')?.state).toBe('silent');
    expect(r.broker).toBe(`127.0.0.1:${rabbit.port}`);
    const none = await startAdmin({ integrations: [] });
    try {
      const reply = await none.api('GET', '/api/fleet');
      expect(reply.status).toBe(404);
      expect(reply.json.error).toMatch(/fleet\.view\.amqp/);
    } finally {
      await none.stop();
    }
  });

  it('names a broker it cannot reach, without its password, and exits 1', async () => {
    const r = await runCli(['fleet', 'status', '--amqp', 'amqp://guest:s3cret-pass@127.0.0.1:1', '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/AMQP 127\.0\.0\.1:1: connection refused/);
    expect(r.stderr + r.stdout).not.toContain('s3cret-pass');
    const usage = await runCli(['fleet', 'status', '--amqp', rabbit.url, '--since', 'soon']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--since: expected a duration like 15m/);
  });
});
