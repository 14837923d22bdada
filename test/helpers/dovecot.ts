// A real IMAP server: Debian's Dovecot, started by the test in the foreground on 127.0.0.1 with its own
// config, a test user (password, and optionally XOAUTH2 tokens checked by a local introspection endpoint), a
// self-signed certificate and Maildir mail in a temp folder. Messages arrive by APPEND, as a mail client or a
// delivery agent would put them there, or are written into the Maildir directly (10,000 for the bench).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ImapFlow } from 'imapflow';
import { freePort, scratchDir, selfSignedCert } from './ftp-server.ts';

export const DOVECOT = '/usr/sbin/dovecot';

/** The unprivileged account the mail files belong to (Dovecot refuses to serve mail as root). */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

export interface DovecotHandle {
  /** Plain IMAP port offering STARTTLS. */
  port: number;
  /** Implicit-TLS port (IMAPS). */
  tlsPort: number;
  user: string;
  password: string;
  /** "SHA256:…" of the server certificate. */
  fingerprint: string;
  /** Valid XOAUTH2 access token of the user (with `oauth: true`). */
  accessToken?: string;
  /** Tokens the introspection endpoint was asked about (with `oauth: true`). */
  introspected: string[];
  /** The user's Maildir on disk. */
  maildir: string;
  /** Puts a message into a mailbox by IMAP APPEND (creating the mailbox when needed); returns its UID. */
  append(raw: Buffer | string, mailbox?: string, flags?: string[]): Promise<number>;
  /** Writes messages straight into the INBOX's Maildir (fast; Dovecot indexes them when the mailbox is opened). */
  writeMaildir(messages: Iterable<Buffer | string>): number;
  /** UIDs, flags and Message-IDs in a mailbox ([] when it does not exist). */
  list(mailbox?: string): Promise<Array<{ uid: number; flags: string[]; messageId?: string; subject?: string }>>;
  /** Dovecot's log so far. */
  log(): string;
  /** A connected client of the test user (closed by stop()). */
  client(): Promise<ImapFlow>;
  /** Stops (SIGSTOP) / continues (SIGCONT) every IMAP session process: commands of connected clients hang meanwhile. */
  freezeSessions(): number;
  thawSessions(): void;
  stop(): Promise<void>;
}

/** Whether this machine can run the Dovecot tests (installed by .ci/run; needs root to serve another account's mail). */
export function dovecotAvailable(): boolean {
  return fs.existsSync(DOVECOT) && process.getuid?.() === 0;
}

async function greeting(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dovecot exited (${child.exitCode}): ${log()}`);
    // ready once the login process answers with its capabilities (not "Waiting for authentication process")
    const ready = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let text = '';
      s.setTimeout(2000, () => (s.destroy(), resolve(false)));
      s.on('data', (d) => {
        text += d;
        if (/\bready\b/i.test(text)) (s.destroy(), resolve(true));
      });
      s.once('error', () => resolve(false));
      s.once('close', () => resolve(/\bready\b/i.test(text)));
    });
    if (ready) return;
    if (Date.now() > end) throw new Error(`dovecot did not greet on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An introspection endpoint (RFC 7662) Dovecot asks whether an XOAUTH2 token is valid. */
async function startIntrospection(validToken: string, user: string, seen: string[]): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const token = new URLSearchParams(body).get('token') ?? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      seen.push(token);
      const active = token === validToken;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(active ? { active: true, username: user } : { active: false }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

export async function startDovecot(opts: { idle?: boolean; oauth?: boolean } = {}): Promise<DovecotHandle> {
  const dir = scratchDir('ferry-dovecot-');
  fs.chmodSync(dir, 0o755);
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  fs.chownSync(home, MAIL_UID, MAIL_GID);
  const cert = selfSignedCert();
  fs.writeFileSync(path.join(dir, 'cert.pem'), cert.cert);
  fs.writeFileSync(path.join(dir, 'key.pem'), cert.key, { mode: 0o600 });
  const user = 'alice';
  const password = 'correct horse battery';
  fs.writeFileSync(path.join(dir, 'users'), `${user}:{PLAIN}${password}::::::\n`, { mode: 0o644 }); // read by Dovecot's auth process (its own account)
  const [port, tlsPort] = [await freePort(), await freePort()];
  const introspected: string[] = [];
  let accessToken: string | undefined;
  let introspection: { url: string; close(): Promise<void> } | undefined;
  const passdbs = [`passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${path.join(dir, 'users')}\n}`];
  const mechanisms = ['plain', 'login'];
  if (opts.oauth) {
    accessToken = `ya29.test-${Math.random().toString(36).slice(2)}`;
    introspection = await startIntrospection(accessToken, user, introspected);
    fs.writeFileSync(
      path.join(dir, 'oauth2.conf.ext'),
      [`introspection_mode = post`, `introspection_url = ${introspection.url}`, 'username_attribute = username', 'active_attribute = active', 'active_value = true', 'force_introspection = yes'].join('\n') + '\n',
    );
    passdbs.unshift(`passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = ${path.join(dir, 'oauth2.conf.ext')}\n}`);
    mechanisms.push('xoauth2', 'oauthbearer');
  }
  const lines = [
    `base_dir = ${path.join(dir, 'run')}`,
    `state_dir = ${path.join(dir, 'state')}`,
    `instance_name = ferry-test-${path.basename(dir)}`,
    `log_path = ${path.join(dir, 'dovecot.log')}`,
    'listen = 127.0.0.1',
    'protocols = imap',
    'ssl = yes',
    `ssl_cert = <${path.join(dir, 'cert.pem')}`,
    `ssl_key = <${path.join(dir, 'key.pem')}`,
    'disable_plaintext_auth = no',
    `auth_mechanisms = ${mechanisms.join(' ')}`,
    ...passdbs,
    `userdb {\n  driver = static\n  args = uid=${MAIL_UID} gid=${MAIL_GID} home=${home}/%u\n}`,
    'mail_location = maildir:~/Maildir',
    'first_valid_uid = 1',
    'mail_fsync = never',
    'service imap-login {',
    '  chroot =',
    `  inet_listener imap {\n    address = 127.0.0.1\n    port = ${port}\n  }`,
    `  inet_listener imaps {\n    address = 127.0.0.1\n    port = ${tlsPort}\n    ssl = yes\n  }`,
    '}',
    'service anvil {\n  chroot =\n}',
    // the IDLE test needs new mail noticed at once (inotify), not at the 30 s fallback check
    'mailbox_idle_check_interval = 1 secs',
  ];
  if (opts.idle === false) {
    // a server without IDLE: Ferry falls back to polling
    lines.push('imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ UIDPLUS MOVE CHILDREN NAMESPACE');
  }
  const conf = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(conf, lines.join('\n') + '\n');
  const child = spawn(DOVECOT, ['-F', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const log = () => `${out.slice(-500)} ${fs.existsSync(path.join(dir, 'dovecot.log')) ? fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8').slice(-1500) : ''}`;
  await greeting(port, child, log);

  const clients: ImapFlow[] = [];
  const connect = async (): Promise<ImapFlow> => {
    const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: false, auth: { user, pass: password }, logger: false, disableAutoIdle: true });
    await c.connect();
    clients.push(c);
    return c;
  };
  let admin: ImapFlow | undefined;
  const adminClient = async () => {
    if (!admin || !admin.usable) admin = await connect();
    return admin;
  };
  const maildir = path.join(home, user, 'Maildir');
  let written = 0;
  const sessionPids = (): number[] => {
    const pids: number[] = [];
    for (const p of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
        if (ppid === child.pid && /^dovecot\/imap\b|\/imap\0/.test(cmd) && !/imap-login/.test(cmd)) pids.push(Number(p));
      } catch {
        // gone meanwhile
      }
    }
    return pids;
  };
  let frozen: number[] = [];
  const thaw = () => {
    for (const p of frozen) {
      try {
        process.kill(p, 'SIGCONT');
      } catch {
        // gone
      }
    }
    frozen = [];
  };

  return {
    port,
    tlsPort,
    user,
    password,
    fingerprint: cert.fingerprint,
    accessToken,
    introspected,
    maildir,
    async append(raw, mailbox = 'INBOX', flags = []) {
      const c = await adminClient();
      if (mailbox !== 'INBOX') await c.mailboxCreate(mailbox).catch(() => undefined);
      const r = await c.append(mailbox, typeof raw === 'string' ? Buffer.from(raw) : raw, flags);
      if (!r || r.uid === undefined) throw new Error(`APPEND to ${mailbox} failed`);
      return r.uid;
    },
    writeMaildir(messages) {
      const cur = path.join(maildir, 'cur');
      for (const sub of ['cur', 'new', 'tmp']) fs.mkdirSync(path.join(maildir, sub), { recursive: true });
      let n = 0;
      const t = Math.floor(Date.now() / 1000);
      for (const m of messages) {
        const file = path.join(cur, `${t}.M${written++}P${process.pid}.ferrytest:2,`);
        fs.writeFileSync(file, m);
        fs.chownSync(file, MAIL_UID, MAIL_GID);
        n++;
      }
      execFileSync('chown', ['-R', `${MAIL_UID}:${MAIL_GID}`, path.join(home, user)]);
      return n;
    },
    async list(mailbox = 'INBOX') {
      const c = await adminClient();
      let lock;
      try {
        lock = await c.getMailboxLock(mailbox.includes('/') ? mailbox.split('/') : mailbox); // "/" between levels, as in Ferry's config
      } catch {
        return [];
      }
      try {
        await c.noop(); // expunges by other sessions are reported only now (never during a FETCH)
        if (!c.mailbox || c.mailbox.exists === 0) return [];
        const msgs = await c.fetchAll('1:*', { uid: true, flags: true, envelope: true });
        return msgs.map((m) => ({ uid: m.uid, flags: [...(m.flags ?? [])], messageId: m.envelope?.messageId, subject: m.envelope?.subject }));
      } finally {
        lock.release();
      }
    },
    client: connect,
    log: () => (fs.existsSync(path.join(dir, 'dovecot.log')) ? fs.readFileSync(path.join(dir, 'dovecot.log'), 'utf8') : ''),
    freezeSessions() {
      frozen = sessionPids();
      for (const p of frozen) process.kill(p, 'SIGSTOP');
      return frozen.length;
    },
    thawSessions: thaw,
    async stop() {
      thaw();
      for (const c of clients) c.close();
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await introspection?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
