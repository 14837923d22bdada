// FTP/FTPS over basic-ftp: one Client per session (basic-ftp runs one command at a time per client),
// certificate pinning for self-signed servers, EPSV→PASV fallback that always uses the control host.
import type { TLSSocket, ConnectionOptions } from 'node:tls';
import { Writable, type Readable } from 'node:stream';
import type { Client, FTPContext, FTPError, FTPResponse, FileInfo } from 'basic-ftp';
import { errorMessage } from '../contract.ts';
import { socketReadingInto, writableInto, type DownloadBody } from '../remote/download-body.ts';
import { networkFailure, RemoteProblem } from '../remote/errors.ts';
import { listEntries, listingDigest } from './listing.ts';
import type { DigestedFolder, RemoteEntry, RemoteFailure, RemoteFs, RemoteSession } from '../remote/protocol.ts';
import type { FtpConnectionConfig } from './schema.ts';

// basic-ftp is loaded on the first connection, so a Ferry process without FTP flows never pays its memory.
type BasicFtp = typeof import('basic-ftp');
type BasicFtpTransfer = typeof import('basic-ftp/dist/transfer.js');
let basicFtp: Promise<[BasicFtp, BasicFtpTransfer]> | undefined;
function loadBasicFtp(): Promise<[BasicFtp, BasicFtpTransfer]> {
  basicFtp ??= Promise.all([import('basic-ftp'), import('basic-ftp/dist/transfer.js')]);
  basicFtp.catch(() => (basicFtp = undefined));
  return basicFtp;
}

/** basic-ftp's FTPError (a server reply ≥ 400), recognised without loading the library. */
function isFtpError(err: unknown): err is FTPError {
  return err instanceof Error && err.name === 'FTPError' && typeof (err as { code?: unknown }).code === 'number';
}

// basic-ftp's FileType enum values
const FILE_TYPE_FILE = 1;
const FILE_TYPE_DIRECTORY = 2;

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * Turns a LIST time ("Nov 29 20:45", "Nov 29  2025", DOS "11-29-26  08:45PM") into ms (UTC, as servers
 * rarely say their zone). Undefined when it cannot be read. Unix times without a year are in the last 12 months.
 */
export function parseListTime(raw: string, now = Date.now()): number | undefined {
  const s = raw.trim();
  let m = /^([A-Za-z]{3})\s+(\d{1,2})\s+(?:(\d{1,2}):(\d{2})|(\d{4}))$/.exec(s);
  if (m) {
    const month = MONTHS.indexOf(m[1].toLowerCase());
    if (month < 0) return undefined;
    const day = Number(m[2]);
    if (m[5]) return Date.UTC(Number(m[5]), month, day);
    const year = new Date(now).getUTCFullYear();
    let t = Date.UTC(year, month, day, Number(m[3]), Number(m[4]));
    if (t > now + 86_400_000) t = Date.UTC(year - 1, month, day, Number(m[3]), Number(m[4]));
    return t;
  }
  m = /^(\d{1,2})-(\d{1,2})-(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})\s*([AaPp][Mm])?$/.exec(s);
  if (m) {
    let year = Number(m[3]);
    if (m[3].length === 2) year += year < 70 ? 2000 : 1900;
    let hour = Number(m[4]) % (m[6] ? 12 : 24);
    if (m[6] && m[6].toLowerCase() === 'pm') hour += 12;
    return Date.UTC(year, Number(m[1]) - 1, Number(m[2]), hour, Number(m[5]));
  }
  return undefined;
}

/** Maps basic-ftp's FileInfo (MLSD, Unix LIST or DOS/IIS LIST) to a RemoteEntry. */
export function toEntry(f: FileInfo): RemoteEntry {
  const type = f.type === FILE_TYPE_DIRECTORY ? 'dir' : f.type === FILE_TYPE_FILE ? 'file' : 'other';
  const mtimeMs = f.modifiedAt?.getTime() ?? parseListTime(f.rawModifiedAt) ?? 0;
  return { name: f.name, type, size: f.size, mtimeMs, rawTime: f.rawModifiedAt ?? '' };
}

/** Normalises "SHA256:ab:cd…" / "AB:CD…" / "abcd…" to upper-case hex without colons. */
export function normaliseFingerprint(fp: string): string {
  return fp.replace(/^SHA256:/i, '').replace(/:/g, '').toUpperCase();
}

/** Formats a hex fingerprint the way `tlsFingerprint` is written. */
export function formatFingerprint(hex: string): string {
  return `SHA256:${hex.match(/../g)!.join(':')}`;
}

/**
 * Checks every TLS data connection of this client against the pinned fingerprint once its handshake is done
 * (before basic-ftp reads or writes on it: it waits for the same event). basic-ftp creates the TLS socket
 * itself and hands it to the `dataSocket` setter, which is where it is caught.
 */
export function pinDataConnections(ftp: FTPContext, pin: string, where: string): void {
  const accessor = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(ftp), 'dataSocket');
  if (!accessor?.get || !accessor.set) throw new Error('basic-ftp changed: FTPContext.dataSocket is no longer an accessor');
  const { get, set } = accessor;
  Object.defineProperty(ftp, 'dataSocket', {
    configurable: true,
    get() {
      return get.call(this);
    },
    set(socket: unknown) {
      const tlsSocket = socket as TLSSocket | undefined;
      if (tlsSocket && tlsSocket.encrypted) {
        tlsSocket.prependOnceListener('secureConnect', () => {
          // a resumed session proves the server holds the secret agreed with the pinned control connection
          // (and carries no certificate of its own to compare)
          if (tlsSocket.isSessionReused()) return;
          const cert = tlsSocket.getPeerCertificate();
          const got = cert?.fingerprint256 ? normaliseFingerprint(cert.fingerprint256) : undefined;
          if (got !== pin) {
            // the whole client goes: nothing from that connection (a session ticket) may be resumed later
            ftp.tlsSessionStore = undefined;
            ftp.closeWithError(new RemoteProblem('tls', `TLS certificate not trusted: the data connection from ${where} presented ${got ? formatFingerprint(got) : 'no certificate'}, tlsFingerprint pins ${formatFingerprint(pin)}`));
          }
        });
      }
      set.call(this, socket);
    },
  });
}

/**
 * Passive mode: EPSV first; servers that refuse it get PASV, and the data connection always goes to the
 * control connection's address (so a server announcing a private or wrong PASV address still works, and
 * an FTP bounce to another host is impossible).
 */
function passiveStrategy([lib, transfer]: [BasicFtp, BasicFtpTransfer]): (ftp: FTPContext) => Promise<FTPResponse> {
  const { enterPassiveModeIPv6 } = lib;
  const { connectForPassiveTransfer, parsePasvResponse } = transfer;
  let epsvRefused = false;
  const pasvToControlHost = async (ftp: FTPContext): Promise<FTPResponse> => {
    const res = await ftp.request('PASV');
    const target = parsePasvResponse(res.message);
    const controlHost = ftp.socket.remoteAddress?.replace(/^::ffff:/i, '');
    await connectForPassiveTransfer(controlHost ?? target.host, target.port, ftp);
    return res;
  };
  return async (ftp) => {
    if (!epsvRefused) {
      try {
        return await enterPassiveModeIPv6(ftp);
      } catch (err) {
        if (!isFtpError(err) && !/EPSV/.test(errorMessage(err))) throw err;
        epsvRefused = true;
      }
    }
    return pasvToControlHost(ftp);
  };
}

class FtpSession implements RemoteSession {
  readonly client: Client;
  private readonly transfer: BasicFtpTransfer;
  private mdtm = true;
  constructor(client: Client, transfer: BasicFtpTransfer) {
    this.client = client;
    this.transfer = transfer;
  }

  get closed(): boolean {
    return this.client.closed;
  }

  async list(dir: string): Promise<RemoteEntry[]> {
    return [...(await this.listDigested(dir)).pages].flat();
  }

  listDigested(dir: string): Promise<DigestedFolder> {
    return listEntries(this.client, this.transfer, dir, toEntry);
  }

  listingDigest(dir: string): Promise<string> {
    return listingDigest(this.client, this.transfer, dir);
  }

  async stat(file: string): Promise<{ size: number; mtimeMs: number; type: RemoteEntry['type'] } | undefined> {
    // CWD tells a folder from a file (SIZE answers for folders on some servers)
    if (await this.isFolder(file)) return { size: 0, mtimeMs: 0, type: 'dir' };
    let size: number;
    try {
      size = await this.client.size(file);
    } catch (err) {
      if (isFtpError(err) && err.code >= 500) return undefined;
      // "213 File status": the file exists but the reply has no number (ftp-srv, for an empty file)
      if (!/Can't parse response/.test(errorMessage(err))) throw err;
      const listed = await this.listedSize(file);
      if (listed === undefined) return undefined;
      size = listed;
    }
    return { size, mtimeMs: await this.mdtmOf(file), type: 'file' };
  }

  /** A file's size from its folder's listing. */
  private async listedSize(file: string): Promise<number | undefined> {
    const name = file.slice(file.lastIndexOf('/') + 1);
    const dir = file.slice(0, file.lastIndexOf('/')) || '/';
    const entry = (await this.list(dir)).find((f) => f.name === name);
    return entry?.size;
  }

  private async isFolder(p: string): Promise<boolean> {
    try {
      await this.client.cd(p);
      return true;
    } catch (err) {
      if (isFtpError(err) && err.code >= 500) return false;
      throw err;
    }
  }

  private async mdtmOf(file: string): Promise<number> {
    if (!this.mdtm) return 0;
    try {
      return (await this.client.lastMod(file)).getTime();
    } catch (err) {
      if (isFtpError(err) && (err.code === 500 || err.code === 502 || err.code === 504)) this.mdtm = false;
      else if (!isFtpError(err)) throw err;
      return 0;
    }
  }

  async preciseMtime(file: string, listed: RemoteEntry): Promise<number> {
    // MLSD times are exact; LIST times are minutes (or days): ask MDTM, which gives seconds
    if (/^\d{4}-\d\d-\d\dT/.test(listed.rawTime)) return listed.mtimeMs;
    return (await this.mdtmOf(file)) || listed.mtimeMs;
  }

  async download(file: string, into: Writable): Promise<void> {
    await this.client.downloadTo(into, file);
  }

  /**
   * Downloads into a body that reuses its memory. Plain FTP reads off the data socket straight into the
   * body's blocks; FTPS (the TLS layer hands out its own chunks) copies them in.
   */
  async downloadToBody(file: string, body: DownloadBody): Promise<void> {
    const ftp = this.client.ftp;
    if ((ftp.socket as Partial<TLSSocket>).encrypted) {
      await this.client.downloadTo(writableInto(body), file);
    } else {
      const newSocket = ftp._newSocket;
      ftp._newSocket = () => {
        ftp._newSocket = newSocket; // only this transfer's data connection
        return socketReadingInto(body);
      };
      try {
        // the data socket hands its bytes to the body above, so this target only sees the end
        await this.client.downloadTo(new Writable({ write: (_chunk, _enc, done) => done() }), file);
      } finally {
        ftp._newSocket = newSocket;
      }
    }
    body.finish();
  }

  async upload(from: Readable, file: string): Promise<void> {
    await this.client.uploadFrom(from, file);
  }

  async rename(from: string, to: string): Promise<void> {
    await this.client.rename(from, to);
  }

  async remove(file: string): Promise<void> {
    await this.client.remove(file);
  }

  async mkdirp(dir: string): Promise<void> {
    await this.client.ensureDir(dir);
  }

  async close(): Promise<void> {
    this.client.close();
  }
}

export class FtpFs implements RemoteFs {
  readonly label: string;
  private readonly cfg: FtpConnectionConfig;
  private readonly port: number;
  private readonly pin?: string;

  constructor(cfg: FtpConnectionConfig) {
    this.cfg = cfg;
    this.port = cfg.port ?? (cfg.tls === 'implicit' ? 990 : 21);
    this.pin = cfg.tlsFingerprint ? normaliseFingerprint(cfg.tlsFingerprint) : undefined;
    const scheme = cfg.tls === 'none' ? 'ftp' : 'ftps';
    this.label = `${scheme}://${cfg.username}@${cfg.host}:${this.port}`;
  }

  private where(): string {
    return `${this.cfg.host}:${this.port}`;
  }

  load(): Promise<unknown> {
    return loadBasicFtp();
  }

  async connect(): Promise<RemoteSession> {
    const lib = await loadBasicFtp();
    const client = new lib[0].Client(this.cfg.timeoutMs);
    client.ftp.encoding = this.cfg.encoding;
    client.prepareTransfer = passiveStrategy(lib);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      client.close();
    }, this.cfg.connectTimeoutMs);
    try {
      const tlsOptions: ConnectionOptions = { host: this.cfg.host, servername: isIp(this.cfg.host) ? undefined : this.cfg.host };
      // a pinned certificate is checked by its fingerprint before anything (credentials) is sent
      if (this.pin) tlsOptions.rejectUnauthorized = false;
      if (this.cfg.tls === 'implicit') await client.connectImplicitTLS(this.cfg.host, this.port, tlsOptions);
      else await client.connect(this.cfg.host, this.port);
      if (this.cfg.tls === 'explicit') await client.useTLS(tlsOptions);
      if (this.pin) this.verifyPin(client);
      await client.sendIgnoringError('OPTS UTF8 ON');
      await client.login(this.cfg.username, this.cfg.password ?? '');
      await client.useDefaultSettings();
      return new FtpSession(client, lib[1]);
    } catch (err) {
      client.close();
      if (timedOut) throw new RemoteProblem('timeout', `host unreachable: no answer from ${this.where()} within ${this.cfg.connectTimeoutMs} ms`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Accepts the server certificate only when it is the pinned one; data connections then trust exactly it. */
  private verifyPin(client: Client): void {
    const socket = client.ftp.socket as TLSSocket;
    const cert = socket.getPeerCertificate?.();
    const got = cert?.fingerprint256 ? normaliseFingerprint(cert.fingerprint256) : undefined;
    if (got !== this.pin) {
      throw new RemoteProblem('tls', `TLS certificate not trusted: ${this.where()} presented ${got ? formatFingerprint(got) : 'no certificate'}, tlsFingerprint pins ${formatFingerprint(this.pin!)}`);
    }
    // Data connections resume the control connection's TLS session (vsftpd requires it), and a resumed session
    // carries the control connection's verification result: "self-signed", as that one was checked by its pin.
    // So data connections are checked here instead, each one before any byte is read or written.
    client.ftp.tlsOptions = { ...client.ftp.tlsOptions, rejectUnauthorized: false };
    pinDataConnections(client.ftp, this.pin!, this.where());
  }

  classify(err: unknown, what?: string): RemoteFailure {
    const where = this.where();
    const net = networkFailure(err, where);
    if (net) return net;
    const msg = errorMessage(err);
    const code = (err as NodeJS.ErrnoException)?.code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
      return { kind: 'tls', broken: true, reason: `TLS certificate not trusted (${code}) for ${where}; a self-signed server needs tlsFingerprint` };
    }
    if (/wrong version number|unknown protocol|packet length too long/i.test(msg)) {
      return { kind: 'tls', broken: true, reason: `TLS handshake with ${where} failed (${msg}); check tls: none | explicit | implicit and the port` };
    }
    if (isFtpError(err)) {
      const reply = `${err.code} ${msg.replace(/^\d{3}[ -]?/, '').trim()}`;
      if (err.code === 530) return { kind: 'auth', broken: true, reason: `authentication failed: ${where} refused user ${this.cfg.username} (${reply})` };
      if (err.code === 421) return { kind: 'dropped', broken: true, reason: `${where} closed the connection (${reply})` };
      if (err.code === 534 || err.code === 431) return { kind: 'tls', broken: true, reason: `${where} refused TLS (${reply})` };
      if (err.code >= 450) {
        const on = what ? ` on ${what}` : '';
        if (/permission|denied|not allowed|access/i.test(msg)) return { kind: 'permission', broken: false, reason: `permission denied${on} (${reply})` };
        if (/no such|not found|not exist|cannot find|ENOENT|unavailable/i.test(msg)) return { kind: 'missing', broken: false, reason: `folder or file missing${on} (${reply})` };
      }
      return { kind: 'other', broken: false, reason: `${where} answered ${reply}` };
    }
    if (/Timeout/.test(msg)) return { kind: 'timeout', broken: true, reason: `timed out talking to ${where} (${msg})` };
    if (/closed|FIN packet|Socket/i.test(msg)) return { kind: 'dropped', broken: true, reason: `connection to ${where} dropped (${msg})` };
    return { kind: 'other', broken: false, reason: msg };
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
