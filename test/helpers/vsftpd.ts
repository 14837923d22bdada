// A second real FTP server: Debian's vsftpd, started by the test in the foreground on 127.0.0.1 with its own
// config. Anonymous login into a root-owned folder with a writable upload folder; optionally explicit FTPS with
// a self-signed certificate and vsftpd's default of requiring data connections to resume the control
// connection's TLS session (ftp-srv does not), and no MLSD (listings come from LIST).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, scratchDir, selfSignedCert } from './ftp-server.ts';

export const VSFTPD = '/usr/sbin/vsftpd';

export interface VsftpdHandle {
  port: number;
  /** The served folder as the server's files sit on disk ("/" to a client). */
  root: string;
  /** "/upload" to a client: the folder anonymous users may write into. */
  uploadDir: string;
  /** "SHA256:…" of the server's certificate (with tls). */
  fingerprint?: string;
  /** Writes a file below the root, its new folders and itself owned by the anonymous user (who may then move it). */
  put(rel: string, content: Buffer | string): void;
  stop(): Promise<void>;
}

/** Whether this machine can run the vsftpd tests (installed by .ci/run; needs root and its `ftp` account). */
export function vsftpdAvailable(): boolean {
  if (!fs.existsSync(VSFTPD) || process.getuid?.() !== 0) return false;
  try {
    execFileSync('id', ['-u', 'ftp'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`vsftpd exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`vsftpd did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startVsftpd(opts: { tls?: boolean } = {}): Promise<VsftpdHandle> {
  const dir = scratchDir('ferry-vsftpd-');
  const root = path.join(dir, 'root');
  const empty = path.join(dir, 'empty');
  fs.mkdirSync(path.join(root, 'upload'), { recursive: true });
  fs.mkdirSync(empty);
  // vsftpd refuses a served root the anonymous user can write to; the upload folder belongs to that user
  fs.chmodSync(dir, 0o755);
  fs.chmodSync(root, 0o755);
  const ftpUid = Number(execFileSync('id', ['-u', 'ftp'], { encoding: 'utf8' }).trim());
  fs.chownSync(path.join(root, 'upload'), ftpUid, -1);
  const port = await freePort();
  const lines = [
    'listen=YES', 'listen_ipv6=NO', 'listen_address=127.0.0.1', `listen_port=${port}`, 'background=NO',
    'anonymous_enable=YES', `anon_root=${root}`, 'no_anon_password=YES', 'local_enable=NO',
    'write_enable=YES', 'anon_upload_enable=YES', 'anon_mkdir_write_enable=YES', 'anon_other_write_enable=YES', 'anon_umask=022',
    `secure_chroot_dir=${empty}`, 'seccomp_sandbox=NO', 'isolate=NO', 'isolate_network=NO', 'xferlog_enable=NO',
    `vsftpd_log_file=${path.join(dir, 'vsftpd.log')}`,
  ];
  let fingerprint: string | undefined;
  if (opts.tls) {
    const cert = selfSignedCert();
    fs.writeFileSync(path.join(dir, 'cert.pem'), cert.cert);
    fs.writeFileSync(path.join(dir, 'key.pem'), cert.key, { mode: 0o600 });
    fingerprint = cert.fingerprint;
    lines.push(
      'ssl_enable=YES', 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES', 'force_anon_data_ssl=YES',
      `rsa_cert_file=${path.join(dir, 'cert.pem')}`, `rsa_private_key_file=${path.join(dir, 'key.pem')}`,
      'require_ssl_reuse=YES', 'ssl_ciphers=HIGH',
    );
  }
  const conf = path.join(dir, 'vsftpd.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const child = spawn(VSFTPD, [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  await listening(port, child, () => out.slice(-500));
  return {
    port,
    root,
    uploadDir: '/upload',
    fingerprint,
    put(rel, content) {
      const file = path.join(root, rel);
      const made = fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
      fs.chownSync(file, ftpUid, -1);
      // and every folder mkdirSync created: from the file's own up to the first one made
      if (made) for (let d = path.dirname(file); d.length >= made.length; d = path.dirname(d)) fs.chownSync(d, ftpUid, -1);
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
