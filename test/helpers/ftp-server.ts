// A real FTP/FTPS server (ftp-srv) on 127.0.0.1 in the test process, serving a temp folder, with a quiet
// logger, optional TLS (a self-signed certificate made with openssl) and injectable connection drops.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import FtpSrvPkg from 'ftp-srv';

const { FtpSrv, FileSystem } = FtpSrvPkg as unknown as typeof import('ftp-srv');

/** A bunyan-compatible logger that drops everything (ftp-srv floods stdout otherwise). */
export function quietLogger(): any {
  const noop = () => undefined;
  const log: any = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop, level: () => 60 };
  log.child = () => log;
  return log;
}

/** A temp folder (no vitest hooks here: benchmarks use these servers too; each server removes its own). */
export function scratchDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface SelfSignedCert {
  key: string;
  cert: string;
  /** "SHA256:AB:CD:…" as tlsFingerprint takes it. */
  fingerprint: string;
}

/** A self-signed certificate for 127.0.0.1/localhost (openssl CLI). */
export function selfSignedCert(cn = 'localhost'): SelfSignedCert {
  const dir = scratchDir('ferry-cert-');
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    const pem = fs.readFileSync(cert, 'utf8');
    const x = new crypto.X509Certificate(pem);
    return { key: fs.readFileSync(key, 'utf8'), cert: pem, fingerprint: `SHA256:${x.fingerprint256}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Faults the server injects; each counter is used up as connections are dropped. */
export interface FtpFaults {
  /** Drop the control and data connections after this many bytes of the next N downloads (RETR). */
  dropDownloadAfterBytes?: number;
  dropDownloads?: number;
  /** Send this many bytes of the next N downloads, then nothing more, keeping the connections open. */
  stallDownloadAfterBytes?: number;
  stallDownloads?: number;
  /** Same for uploads (STOR). */
  dropUploadAfterBytes?: number;
  dropUploads?: number;
  stallUploadAfterBytes?: number;
  stallUploads?: number;
  /** Uploads into this folder (and below) are refused with "Permission denied". */
  denyWritesUnder?: string;
  /** Downloads of this file (absolute, as the client names it) are refused with "Permission denied". */
  denyReadsOf?: string;
}

export interface FtpServerHandle {
  port: number;
  url: string;
  /** The folder the server serves as "/". */
  root: string;
  user: string;
  password: string;
  faults: FtpFaults;
  logins: number;
  /** When each login was accepted (Date.now()). */
  loginTimes: number[];
  /** Logged-in connections now, and the most seen at once. */
  connected: number;
  maxConnected: number;
  close(): Promise<void>;
}

export interface FtpServerOptions {
  tls?: 'explicit' | 'implicit';
  cert?: SelfSignedCert;
  /** Commands the server refuses (e.g. ['EPSV'] to force PASV). */
  blacklist?: string[];
  /** Address announced in PASV replies (e.g. a private one behind NAT). */
  pasvUrl?: string;
  root?: string;
  user?: string;
  password?: string;
  port?: number;
}

/** Passes `limit` bytes, then holds everything back: a server that hangs mid-transfer. */
function staller(limit: number): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      const room = limit - n;
      n += chunk.length;
      if (room >= chunk.length) return done(null, chunk);
      if (room > 0) this.push(chunk.subarray(0, room));
      // never calls done: the file stream stops, the data connection stays open and silent
    },
  });
}

export async function startFtpServer(opts: FtpServerOptions = {}): Promise<FtpServerHandle> {
  const port = opts.port ?? (await freePort());
  const root = opts.root ?? scratchDir('ferry-ftp-root-');
  const user = opts.user ?? 'ferry';
  const password = opts.password ?? 'secret-pw';
  const scheme = opts.tls === 'implicit' ? 'ftps' : 'ftp';
  const faults: FtpFaults = {};
  const server = new FtpSrv({
    url: `${scheme}://127.0.0.1:${port}`,
    pasv_url: opts.pasvUrl ?? '127.0.0.1',
    pasv_min: 30000 + (port % 1000) * 20,
    pasv_max: 30000 + (port % 1000) * 20 + 19,
    anonymous: false,
    greeting: ['Ferry test FTP server'],
    tls: opts.tls ? { key: opts.cert!.key, cert: opts.cert!.cert } : false,
    blacklist: opts.blacklist ?? [],
    log: quietLogger(),
  });
  const handle: FtpServerHandle = {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    root,
    user,
    password,
    faults,
    logins: 0,
    loginTimes: [],
    connected: 0,
    maxConnected: 0,
    close: async () => {
      await server.close().catch(() => undefined);
      if (!opts.root) fs.rmSync(root, { recursive: true, force: true });
    },
  };

  class FaultyFs extends FileSystem {
    override async read(fileName: string, o?: { start?: any }): Promise<any> {
      if (faults.denyReadsOf && path.posix.resolve(this.currentDirectory(), fileName) === faults.denyReadsOf) throw new Error(`Permission denied: ${faults.denyReadsOf}`);
      const r = await super.read(fileName, o);
      if (faults.stallDownloads && faults.stallDownloadAfterBytes !== undefined) {
        faults.stallDownloads--;
        return { ...r, stream: r.stream.pipe(staller(faults.stallDownloadAfterBytes)) };
      }
      if (!faults.dropDownloads || faults.dropDownloadAfterBytes === undefined) return r;
      faults.dropDownloads--;
      return { ...r, stream: r.stream.pipe(this.dropper(faults.dropDownloadAfterBytes)) };
    }

    override write(fileName: string, o?: { append?: boolean; start?: any }): any {
      if (faults.denyWritesUnder) {
        const abs = path.posix.resolve(this.currentDirectory(), fileName);
        if (abs === faults.denyWritesUnder || abs.startsWith(`${faults.denyWritesUnder}/`)) throw new Error(`Permission denied: ${abs}`);
      }
      const w = super.write(fileName, o);
      if (faults.stallUploads && faults.stallUploadAfterBytes !== undefined) {
        faults.stallUploads--;
        const limit = faults.stallUploadAfterBytes;
        let n = 0;
        const stream = w.stream as fs.WriteStream;
        const origWrite = stream.write.bind(stream);
        // past the limit nothing is written and 'drain' never comes: the server stops reading the data connection
        (stream as any).write = (chunk: Buffer, ...rest: any[]) => ((n += chunk.length) <= limit ? origWrite(chunk, ...rest) : false);
        return w;
      }
      if (!faults.dropUploads || faults.dropUploadAfterBytes === undefined) return w;
      faults.dropUploads--;
      const limit = faults.dropUploadAfterBytes;
      let n = 0;
      const conn = this.connection as any;
      const stream = w.stream as fs.WriteStream;
      const origWrite = stream.write.bind(stream);
      (stream as any).write = (chunk: Buffer, ...rest: any[]) => {
        n += chunk.length;
        if (n > limit) {
          // the server "crashes": both connections go away mid-upload, the partial file stays on disk
          conn.connector?.socket?.destroy();
          conn.commandSocket?.destroy();
          return true;
        }
        return origWrite(chunk, ...rest);
      };
      return w;
    }

    /** Passes `limit` bytes, then kills the client's connections. */
    private dropper(limit: number): Transform {
      let n = 0;
      const conn = this.connection as any;
      return new Transform({
        transform(chunk: Buffer, _enc, done) {
          n += chunk.length;
          if (n > limit) {
            done(null, chunk.subarray(0, Math.max(0, chunk.length - (n - limit))));
            setTimeout(() => {
              conn.connector?.socket?.destroy();
              conn.commandSocket?.destroy();
            }, 20);
            return;
          }
          done(null, chunk);
        },
      });
    }
  }

  server.on('login', ({ connection, username, password: pw }, resolve, reject) => {
    if (username === user && pw === password) {
      handle.logins++;
      handle.loginTimes.push(Date.now());
      handle.connected++;
      handle.maxConnected = Math.max(handle.maxConnected, handle.connected);
      loggedIn.add(connection.id);
      resolve({ fs: new FaultyFs(connection, { root, cwd: '/' }) });
    } else reject(new Error('Invalid username or password'));
  });
  const loggedIn = new Set<string>();
  server.on('disconnect', ({ id }) => {
    if (loggedIn.delete(id)) handle.connected--;
  });
  server.on('client-error', () => undefined);
  await server.listen();
  return handle;
}
