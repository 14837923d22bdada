// `ferry relay` as a real process on 127.0.0.1 with a `ferry run` agent behind it that opens no port: signed
// webhooks reach the agent through the relay; a kill -9 of the relay after its 2xx loses nothing; events
// are deleted once the agent's cursor passes them and dropped after the retention period; size caps,
// quotas, unknown queues and wrong tokens are refused with clear answers.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import YAML from 'yaml';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFerry, writeConfig, type RunningFerry } from '../helpers/cli.ts';
import { startRelay, webhookSender, type RunningRelay } from '../helpers/relay.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const dir = tempDir('ferry-relay-');
const TOKEN = 'site-42-token-0123456789';
const sender = webhookSender();
let relay: RunningRelay | undefined;
let agent: RunningFerry | undefined;
const relayFile = path.join(dir, 'relay.yaml');
const outbox = path.join(dir, 'agent', 'received');

function writeRelayConfig(port: number, extra: Record<string, unknown> = {}): void {
  fs.writeFileSync(relayFile, YAML.stringify({
    dataDir: './relay-data',
    listen: { address: '127.0.0.1', port },
    maxBodyBytes: 64 * 1024,
    maxWaitSec: 5,
    queues: [
      { name: 'site-42', token: '${env:RELAY_TEST_TOKEN}' },
      { name: 'tiny', token: 'tiny-queue-token-0123456789', maxEvents: 2 },
    ],
    ...extra,
  }));
}

function startAgent(relayUrl: string): Promise<RunningFerry> {
  fs.mkdirSync(path.join(dir, 'agent'), { recursive: true });
  const cfg = writeConfig(path.join(dir, 'agent'), {
    dataDir: './data',
    integrations: [{ name: 'shop', flows: [{
      name: 'orders',
      source: { type: 'webhook', mode: 'webhook-relay', relay: { url: `${relayUrl}/queues/site-42`, token: TOKEN, waitSeconds: 2 }, verify: { scheme: 'standard-webhooks', secret: sender.secret } },
      destination: { type: 'folder', path: './received' },
    }] }],
  });
  return startFerry(cfg, { env: { FERRY_ADMIN: 'off' } });
}

/** TCP ports a process listens on (Linux: its socket inodes matched against /proc/net/tcp{,6} in LISTEN). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === '0A' && inodes.has(cols[9])) ports.push(parseInt(cols[1].split(':')[1], 16));
    }
  }
  return ports;
}

const waitingInRelay = () => {
  const db = new Database(path.join(dir, 'relay-data', 'relay.db'), { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM events WHERE queue = 'site-42'").get() as { n: number }).n;
  } finally {
    db.close();
  }
};

/** What the agent delivered (not the destination's `.name.….partial` files being written). */
const received = () => (fs.existsSync(outbox) ? listFiles(outbox).filter((f) => !path.basename(f).startsWith('.')).map((f) => fs.readFileSync(path.join(outbox, f), 'utf8')) : []);

beforeAll(async () => {
  process.env.RELAY_TEST_TOKEN = TOKEN;
  writeRelayConfig(0);
});

afterAll(async () => {
  await agent?.stop();
  await relay?.stop();
});

describe('ferry relay', () => {
  it('stores webhooks and a kill -9 after its 2xx loses none of them', async () => {
    relay = await startRelay(relayFile);
    for (let i = 0; i < 40; i++) {
      const r = await sender.send(`${relay.url}/hooks/site-42`, `evt-${i}`, JSON.stringify({ order: i }));
      expect(r.status).toBe(202);
      expect(r.json).toMatchObject({ status: 'stored' });
    }
    await relay.kill9();
    // same port again, so the agent's URL stays valid
    const port = Number(new URL(relay.url).port);
    writeRelayConfig(port);
    relay = await startRelay(relayFile);
    expect(waitingInRelay()).toBe(40);
  });

  it('a kill -9 in the middle of a burst keeps every webhook it answered 2xx', async () => {
    const url = relay!.url;
    const answered: string[] = [];
    const sends = Array.from({ length: 300 }, (_, i) =>
      sender.send(`${url}/hooks/site-42`, `burst-${i}`, JSON.stringify({ burst: i })).then(
        (r) => void (r.status === 202 && answered.push(`burst-${i}`)),
        () => undefined, // cut by the kill: the sender would send it again
      ),
    );
    await waitFor(() => answered.length >= 50, '50 webhooks answered');
    await relay!.kill9();
    await Promise.all(sends);
    const port = Number(new URL(url).port);
    relay = await startRelay(relayFile);
    expect(Number(new URL(relay.url).port)).toBe(port);
    const db = new Database(path.join(dir, 'relay-data', 'relay.db'), { readonly: true });
    const stored = new Set((db.prepare("SELECT headers FROM events WHERE queue = 'site-42'").all() as Array<{ headers: string }>).map((r) => JSON.parse(r.headers)['webhook-id']));
    db.close();
    expect(answered.length).toBeGreaterThanOrEqual(50);
    expect(answered.filter((id) => !stored.has(id))).toEqual([]);
    // the test expects 40 + the stored burst below; remove the burst so the agent test counts the first 40
    const rw = new Database(path.join(dir, 'relay-data', 'relay.db'));
    rw.prepare("DELETE FROM events WHERE queue = 'site-42' AND headers LIKE '%burst-%'").run();
    rw.close();
    expect(waitingInRelay()).toBe(40);
  });

  it('an agent with no open port receives them through the relay, each once, verified', async () => {
    agent = await startAgent(relay!.url);
    expect(listeningPorts(agent.child.pid!)).toEqual([]);
    await waitFor(() => received().length === 40, '40 events delivered to the agent\'s folder');
    const orders = received().map((t) => JSON.parse(t).order).sort((a, b) => a - b);
    expect(orders).toEqual([...Array(40).keys()]);
    // live: one more arrives within the long poll
    expect((await sender.send(`${relay!.url}/hooks/site-42`, 'evt-live', JSON.stringify({ order: 'live' }))).status).toBe(202);
    await waitFor(() => received().some((t) => t.includes('live')), 'the live event');
    // the cursor of the next poll passed them: the relay forgot them
    await waitFor(() => waitingInRelay() === 0, 'events deleted from the relay');
    expect(listeningPorts(agent.child.pid!)).toEqual([]);
  });

  it('a forged webhook is stored by the relay but refused by the agent', async () => {
    const body = JSON.stringify({ order: 'forged' });
    const headers = { ...sender.headers('evt-forged', body), 'webhook-signature': 'v1,AAAA' };
    const res = await request(`${relay!.url}/hooks/site-42`, { method: 'POST', headers, body });
    expect(res.statusCode).toBe(202);
    await res.body.dump();
    await agent!.waitForOutput(/evt-forged refused: verification failed/);
    expect(received().some((t) => t.includes('forged'))).toBe(false);
  });

  it('refuses oversized bodies, full queues, unknown queues and wrong tokens clearly', async () => {
    const url = relay!.url;
    const big = await request(`${url}/hooks/site-42`, { method: 'POST', body: Buffer.alloc(65 * 1024, 120) });
    expect(big.statusCode).toBe(413);
    expect((await big.body.json() as { error: string }).error).toMatch(/larger than maxBodyBytes \(65536\)/);
    for (let i = 0; i < 2; i++) expect((await sender.send(`${url}/hooks/tiny`, `t${i}`, '{}')).status).toBe(202);
    const full = await request(`${url}/hooks/tiny`, { method: 'POST', body: '{}' });
    expect(full.statusCode).toBe(429);
    expect(full.headers['retry-after']).toBe('60');
    expect((await full.body.json() as { error: string }).error).toBe('queue "tiny" is full: 2 events wait for its agent (maxEvents 2)');
    const unknown = await request(`${url}/hooks/nope`, { method: 'POST', body: '{}' });
    expect(unknown.statusCode).toBe(404);
    expect((await unknown.body.json() as { error: string }).error).toBe('no queue named "nope"');
    const wrong = await request(`${url}/queues/site-42?wait=0`, { headers: { authorization: 'Bearer tiny-queue-token-0123456789' } });
    expect(wrong.statusCode).toBe(401);
    expect((await wrong.body.json() as { error: string }).error).toBe('the token does not open queue "site-42"');
    const none = await request(`${url}/queues/site-42?wait=0`);
    expect(none.statusCode).toBe(401);
    await none.body.dump();
    const badCursor = await request(`${url}/queues/tiny?cursor=zzz&wait=0`, { headers: { authorization: 'Bearer tiny-queue-token-0123456789' } });
    expect(badCursor.statusCode).toBe(400);
    await badCursor.body.dump();
    const get = await request(`${url}/hooks/site-42`);
    expect(get.statusCode).toBe(405);
    await get.body.dump();
  });

  it('drops events no agent fetched after the retention period', async () => {
    await agent!.stop();
    agent = undefined;
    const port = Number(new URL(relay!.url).port);
    await relay!.stop();
    writeRelayConfig(port, { retentionDays: 1 / 86_400 }); // one second
    relay = await startRelay(relayFile);
    const sentAt = Date.now();
    expect((await sender.send(`${relay.url}/hooks/site-42`, 'old', '{"old":true}')).status).toBe(202);
    expect(waitingInRelay()).toBe(1);
    await relay.stop();
    await waitFor(() => Date.now() - sentAt > 1500, 'the event to be older than the retention period');
    relay = await startRelay(relayFile);
    expect(waitingInRelay()).toBe(0);
    expect(relay.output()).toMatch(/events no agent fetched within the retention period were dropped/);
  });
});

describe('relay.yaml', () => {
  it('refuses a reachable address without TLS and names short tokens', async () => {
    const f = path.join(tempDir('ferry-relay-cfg-'), 'relay.yaml');
    fs.writeFileSync(f, YAML.stringify({ dataDir: './d', listen: { address: '0.0.0.0', port: 0 }, queues: [{ name: 'a', token: 'short' }] }));
    const { runCli } = await import('../helpers/cli.ts');
    const r = await runCli(['relay', '--config', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/listen\.tls: required: 0\.0\.0\.0 is reachable from the network/);
    expect(r.stderr).toMatch(/queues\[0\]\.token: expected a token of at least 16 characters/);
  });
});
