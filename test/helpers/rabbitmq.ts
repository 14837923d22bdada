// A real RabbitMQ broker (Debian's rabbitmq-server) started by the test as a plain process on 127.0.0.1,
// with its own data/log folders, node name, ports and epmd port, no plugins. restart() keeps its data.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort } from './net.ts';
import { tempDir } from './tmp.ts';

export interface Rabbit {
  url: string;
  port: number;
  /** Stops the broker (SIGTERM to its process group) and starts it again on the same data. */
  restart(downMs?: number): Promise<void>;
  stopBroker(): Promise<void>;
  startBroker(): Promise<void>;
  stop(): Promise<void>;
}

const SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export function rabbitAvailable(): boolean {
  return fs.existsSync(SERVER);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export async function startRabbit(): Promise<Rabbit> {
  const base = tempDir('ferry-rabbit-');
  const [port, dist, epmd] = [await freePort(), await freePort(), await freePort()];
  fs.mkdirSync(path.join(base, 'mnesia'));
  fs.mkdirSync(path.join(base, 'log'));
  fs.writeFileSync(path.join(base, 'enabled_plugins'), '[].\n');
  fs.writeFileSync(path.join(base, 'rabbitmq.conf'), `listeners.tcp.default = 127.0.0.1:${port}\nloopback_users = none\n`);
  const env = {
    ...process.env,
    HOME: base,
    RABBITMQ_MNESIA_BASE: path.join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(base, 'log'),
    RABBITMQ_NODENAME: `ferrytest${process.pid}@localhost`,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(dist),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, 'enabled_plugins'),
    RABBITMQ_CONFIG_FILE: path.join(base, 'rabbitmq'),
    RABBITMQ_PID_FILE: path.join(base, 'pid'),
    RABBITMQ_LOGS: path.join(base, 'log', 'rabbit.log'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    ERL_EPMD_PORT: String(epmd),
  };
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const startBroker = async () => {
    child = spawn(SERVER, [], { env, detached: true, stdio: ['ignore', 'ignore', 'ignore'] });
    exited = new Promise((resolve) => child!.once('exit', () => resolve()));
    const end = Date.now() + 60_000;
    while (!(await portOpen(port))) {
      if (child.exitCode !== null) throw new Error(`rabbitmq-server exited (${child.exitCode}); see ${base}/log`);
      if (Date.now() > end) throw new Error(`rabbitmq-server did not listen on ${port} within 60 s; see ${base}/log`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const stopBroker = async () => {
    if (!child || child.exitCode !== null) return;
    try {
      process.kill(-child.pid!, 'SIGTERM'); // the script and its beam.smp share the group we created
    } catch {
      // already gone
    }
    const t = setTimeout(() => {
      try {
        process.kill(-child!.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 20_000);
    await exited;
    clearTimeout(t);
    // beam.smp may outlive the script briefly: wait for the port to close
    const end = Date.now() + 20_000;
    while ((await portOpen(port)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  };
  await startBroker();
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    startBroker,
    stopBroker,
    restart: async (downMs = 500) => {
      await stopBroker();
      await new Promise((r) => setTimeout(r, downMs));
      await startBroker();
    },
    stop: async () => {
      await stopBroker();
      spawnSync('epmd', ['-kill'], { env, stdio: 'ignore' });
    },
  };
}
