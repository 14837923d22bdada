// A real SFTP server: Debian's OpenSSH sshd, started by the test as a foreground process on 127.0.0.1 with
// its own sshd_config, host key, authorized_keys and password, serving the internal-sftp subsystem.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort, scratchDir } from './ftp-server.ts';

export const SSHD = '/usr/sbin/sshd';

export interface SshdHandle {
  port: number;
  /** The account that logs in (the test's own user: sshd checks real accounts). */
  user: string;
  /** A fresh ed25519 client key accepted by the server (no passphrase). */
  clientKey: string;
  /** The same key protected by a passphrase. */
  clientKeyWithPassphrase: { file: string; passphrase: string };
  /** "SHA256:…" of the server's host key. */
  hostKey: string;
  /** A folder the test owns for remote files (absolute path, as the SFTP server sees it). */
  root: string;
  pid: number;
  /** Kills the session processes (the server's children): every client connection drops. */
  dropSessions(): void;
  /**
   * Stops the session processes open now (SIGSTOP): their connections stay open but nothing is answered, as
   * from a hung server; new connections are served. Returns a function that lets them go on.
   */
  freezeSessions(): () => void;
  /** Stops the server and removes its folder (keys, config, files). */
  stop(): Promise<void>;
  /** Starts sshd again on the same port with the same keys. */
  restart(): Promise<void>;
}

/** Every process below the listener: each connection's privileged monitor and its session child. */
function sessionProcesses(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return kids.flatMap((k) => [k, ...sessionProcesses(k)]);
}

function signalAll(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', file], { stdio: 'ignore' });
}

export function fingerprintOf(pubFile: string): string {
  const out = execFileSync('ssh-keygen', ['-lf', pubFile], { encoding: 'utf8' });
  return /(SHA256:[A-Za-z0-9+/]+)/.exec(out)![1];
}

async function waitForPort(port: number, failed: () => string | undefined, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`sshd did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether this machine can run the SFTP tests (sshd installed, running as root as in CI). */
export function sshdAvailable(): boolean {
  return fs.existsSync(SSHD) && process.getuid?.() === 0;
}

export async function startSshd(): Promise<SshdHandle> {
  const dir = scratchDir('ferry-sshd-');
  fs.chmodSync(dir, 0o755);
  const hostKeyFile = path.join(dir, 'host_ed25519');
  keygen(hostKeyFile);
  const clientKey = path.join(dir, 'client_ed25519');
  keygen(clientKey);
  const passphrase = 'key-pass-phrase';
  const clientKeyPp = path.join(dir, 'client_pp_ed25519');
  keygen(clientKeyPp, passphrase);
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, fs.readFileSync(`${clientKey}.pub`, 'utf8') + fs.readFileSync(`${clientKeyPp}.pub`, 'utf8'), { mode: 0o600 });
  const root = path.join(dir, 'files');
  fs.mkdirSync(root);
  const user = os.userInfo().username;
  const port = await freePort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyFile}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorized}`,
      'PermitRootLogin yes',
      'StrictModes no',
      'PubkeyAuthentication yes',
      // passwords are checked against the real account (locked in CI): every password is a wrong one
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      'MaxStartups 100',
      'MaxSessions 100',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  // sshd refuses to start without its privilege-separation folder (the Debian service creates it at boot)
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const launch = async () => {
    child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    // a test process that ends without its afterAll (a timeout, a crash) takes its server with it
    const started = child;
    process.once('exit', () => started.kill('SIGKILL'));
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.once('exit', (code) => {
      if (code && code !== 0 && err) process.stderr.write(`sshd exited ${code}: ${err}\n`);
    });
    await waitForPort(port, () => child!.exitCode !== null ? `sshd exited (${child!.exitCode}): ${err}` : undefined);
  };
  await launch();
  const halt = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child!.once('exit', r));
    handle.dropSessions();
    child.kill('SIGTERM');
    await exited;
  };
  const handle: SshdHandle = {
    port,
    user,
    clientKey,
    clientKeyWithPassphrase: { file: clientKeyPp, passphrase },
    hostKey: fingerprintOf(`${hostKeyFile}.pub`),
    root,
    get pid() {
      return child!.pid!;
    },
    dropSessions() {
      // frozen first so no more bytes flow, then killed; the listener stays up, so clients can reconnect
      const all = sessionProcesses(child!.pid!);
      for (const sig of ['SIGSTOP', 'SIGKILL'] as const) signalAll(all, sig);
    },
    freezeSessions() {
      const all = sessionProcesses(child!.pid!);
      signalAll(all, 'SIGSTOP');
      return () => signalAll(all, 'SIGCONT');
    },
    async stop() {
      await halt();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
  };
  return handle;
}

