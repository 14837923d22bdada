// SFTP over ssh2-sftp-client: password or private key (+ passphrase), host key pinned by its SHA256
// fingerprint and refused when it differs; one SSH connection per session.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import type SftpClient from 'ssh2-sftp-client';
import { errorMessage, type ConnectorLogger } from '../contract.ts';
import { networkFailure, RemoteProblem } from '../remote/errors.ts';
import type { FolderPages, RemoteEntry, RemoteFailure, RemoteFs, RemoteSession } from '../remote/protocol.ts';
import type { SftpConnectionConfig } from './schema.ts';
import { TurnWriter } from './turn-writer.ts';

/** "SHA256:<base64 without padding>" of a raw host key, as `ssh-keygen -lf` prints it. */
export function hostKeyFingerprint(key: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

// ssh2 (under ssh2-sftp-client) allocates a 16 MB heap when imported: load it on the first connection only,
// so a Ferry process without SFTP flows never pays for it.
let sftpLib: Promise<typeof SftpClient> | undefined;
function loadSftpClient(): Promise<typeof SftpClient> {
  sftpLib ??= import('ssh2-sftp-client').then((m) => m.default);
  sftpLib.catch(() => (sftpLib = undefined));
  return sftpLib;
}

// SFTP status codes (draft-ietf-secsh-filexfer): 1 end of file (or of a folder), 2 no such file, 3 permission denied
const EOF = 1;
/** The largest READ every server answers in full unless the file ends (the protocol's minimum packet size). */
const SURE_READ_BYTES = 32 * 1024;
const NO_SUCH_FILE = 2;
const PERMISSION_DENIED = 3;

class SftpSession implements RemoteSession {
  private readonly sftp: SftpClient;
  private ended = false;
  /** Holds what a turn of the event loop sends, to send it together (see writeTogether). */
  private readonly writer?: TurnWriter;
  /**
   * The requests under way, failed at once when the SSH connection goes away (instead of hanging). A set, not
   * a race against one promise of the loss: each race would leave a reaction on that never-settled promise,
   * holding its request's result for as long as the connection lives (about 1 KB per file taken).
   */
  private readonly inFlight = new Set<(err: Error) => void>();
  private lostError?: Error;
  /** Small reads under way (readSmall) and when the server last answered one of them. */
  private readonly smallReads = new Set<(err: Error) => void>();
  private lastAnswerAt = 0;
  private watchdog?: NodeJS.Timeout;
  private readonly timeoutMs: number;

  constructor(sftp: SftpClient, events: NodeJS.EventEmitter, timeoutMs: number) {
    this.sftp = sftp;
    this.timeoutMs = timeoutMs;
    const raw = (sftp as unknown as { sftp?: SFTPWrapper }).sftp;
    if (raw) this.writer = new TurnWriter(raw, () => this.socket());
    events.once('gone', (err?: Error) => {
      this.ended = true;
      this.lostError = Object.assign(new Error(`connection lost${err?.message ? `: ${err.message}` : ''}`), { code: 'ECONNRESET' });
      for (const fail of [...this.inFlight]) fail(this.lostError);
      this.inFlight.clear();
      clearInterval(this.watchdog);
    });
  }

  /** Runs a transfer, failing it when the connection drops. */
  private transfer<T>(p: Promise<T>): Promise<T> {
    if (this.lostError) {
      p.catch(() => undefined);
      return Promise.reject(this.lostError);
    }
    return new Promise<T>((resolve, reject) => {
      this.inFlight.add(reject);
      p.then(resolve, reject).finally(() => this.inFlight.delete(reject));
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  async list(dir: string): Promise<RemoteEntry[]> {
    const folder = await this.openFolder(dir);
    const all: RemoteEntry[] = [];
    for (let page = await folder.next(); page; page = await folder.next()) for (const e of page) all.push(e);
    return all;
  }

  /** The raw SFTP channel (ssh2-sftp-client's own, for requests it does not offer). */
  private raw(): SFTPWrapper {
    const raw = (this.sftp as unknown as { sftp?: SFTPWrapper }).sftp;
    if (!raw) throw Object.assign(new Error('connection lost: no SFTP channel'), { code: 'ECONNRESET' });
    return raw;
  }

  /**
   * OPENDIR, then one READDIR per page (OpenSSH answers up to 100 names each); the entries are mapped as they
   * come, and digested (names, types, sizes and times, in the server's order).
   */
  async openFolder(dir: string): Promise<FolderPages & { digest(): string | undefined }> {
    const raw = this.raw();
    const handle = await this.transfer(new Promise<Buffer>((resolve, reject) => raw.opendir(dir, (err, h) => (err ? reject(err) : resolve(h)))));
    const hash = crypto.createHash('sha256');
    let digest: string | undefined;
    let open = true;
    const close = () => {
      if (!open) return;
      open = false;
      if (!this.ended) raw.close(handle, () => undefined);
    };
    return {
      next: async () => {
        if (!open) return undefined;
        try {
          const names = await this.transfer(
            new Promise<FileEntryWithStats[] | undefined>((resolve, reject) =>
              raw.readdir(handle, (err, list) => (err ? ((err as { code?: unknown }).code === EOF ? resolve(undefined) : reject(err)) : resolve(list as FileEntryWithStats[]))),
            ),
          );
          if (names === undefined) {
            close();
            digest = hash.digest('base64');
            return undefined;
          }
          const page = names.map(entryOf);
          // a name never holds NUL: the fields cannot run into each other
          hash.update(page.map((e) => `${e.name}\0${e.type}\0${e.size}\0${e.mtimeMs}\0`).join(''));
          return page;
        } catch (err) {
          close();
          throw err;
        }
      },
      close,
      digest: () => digest,
    };
  }

  /** The digest openFolder gives after its last page: the folder read through, its entries let go page by page. */
  async listingDigest(dir: string): Promise<string> {
    const folder = await this.openFolder(dir);
    try {
      while (await folder.next()) {
        // only the digest is wanted
      }
      return folder.digest()!;
    } finally {
      folder.close();
    }
  }

  async stat(file: string): Promise<{ size: number; mtimeMs: number; type: RemoteEntry['type'] } | undefined> {
    try {
      const st = await this.sftp.stat(file);
      return { size: st.size, mtimeMs: st.modifyTime, type: st.isDirectory ? 'dir' : st.isFile ? 'file' : 'other' };
    } catch (err) {
      if (isNoSuchFile(err)) return undefined;
      throw err;
    }
  }

  async download(file: string, into: Writable): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      into.once('finish', resolve);
      into.once('error', reject);
    });
    done.catch(() => undefined); // when the read fails first, its error is the one reported
    await this.transfer(this.sftp.get(file, into, { readStreamOptions: { highWaterMark: 256 * 1024 } as never }).then(() => done)); // get() resolves when reading ends; wait until the last bytes are written too
  }

  /**
   * A small file in two round trips: OPEN, then READs of at most 32 KB covering its listed size and one byte
   * more, and the CLOSE, sent at once (with other files' requests of the same moment, in one write). A server
   * answers a READ of up to 32 KB of a disk file in full unless the file ends (SFTP's guarantee; larger ones may
   * come short), and a handle's requests in order, so the CLOSE need not wait and nothing waits for it. The byte
   * beyond must find the end: when it comes back, the file grew since it was listed; a READ short before it
   * means it shrank. One promise per file, driven by ssh2's callbacks (no promise per request), and no timer per
   * file: the session's watchdog fails every small read when the server answers none of them for timeoutMs.
   */
  readSmall(file: string, size: number): Promise<Buffer> {
    if (this.lostError) return Promise.reject(this.lostError);
    let raw: SFTPWrapper;
    try {
      raw = this.raw();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, body?: Buffer) => {
        if (settled) return;
        settled = true;
        this.inFlight.delete(finish);
        this.smallReads.delete(finish);
        if (err) reject(err);
        else resolve(body!);
      };
      this.inFlight.add(finish);
      this.smallReadStarted(finish);
      this.writeTogether();
      // ssh2 throws for a request it cannot send (a channel closing): that fails this file, never the process
      try {
        raw.open(file, 'r', (err, handle) => {
          this.lastAnswerAt = Date.now();
          if (err) return finish(err);
          if (settled) {
            // failed meanwhile (the watchdog): the handle is not left open on a live connection
            if (!this.ended) raw.close(handle, () => undefined);
            return;
          }
          try {
            this.readOpened(raw, handle, size, finish);
          } catch (e) {
            finish(e instanceof Error ? e : new Error(String(e)));
          }
        });
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** The READs of an opened small file (its listed size and one byte more) and its CLOSE, sent at once. */
  private readOpened(raw: SFTPWrapper, handle: Buffer, size: number, finish: (err: Error | undefined, body?: Buffer) => void): void {
    const body = Buffer.allocUnsafe(size + 1);
    const reads = Math.floor(size / SURE_READ_BYTES) + 1;
    let pending = reads;
    let got = 0;
    let short = false;
    let grew = false;
    let failure: Error | undefined;
    this.writeTogether();
    for (let i = 0, at = 0; i < reads; i++, at += SURE_READ_BYTES) {
      const len = Math.min(SURE_READ_BYTES, size + 1 - at);
      const last = i === reads - 1;
      raw.read(handle, body, at, len, at, (err, n) => {
        this.lastAnswerAt = Date.now();
        if (err) failure ??= err;
        else {
          got += n;
          if (last) grew = n === len;
          else if (n !== len) short = true;
        }
        if (--pending > 0) return;
        if (failure) return finish(failure);
        if (grew) return finish(new Error(`file grew beyond the listed ${size} bytes while downloading`));
        if (short || got !== size) return finish(new Error(`downloaded ${got} bytes, the listing said ${size} (the file changed or the transfer was cut)`));
        finish(undefined, body.subarray(0, size));
      });
    }
    raw.close(handle, () => undefined);
  }

  /**
   * Small reads under way, watched by one timer per session (not one per file): when none of them has had an
   * answer for timeoutMs, they all fail and the connection is closed (a stalled server stalls them all).
   */
  private smallReadStarted(fail: (err: Error) => void): void {
    if (this.smallReads.size === 0) this.lastAnswerAt = Date.now();
    this.smallReads.add(fail);
    if (this.watchdog) return;
    this.watchdog = setInterval(() => {
      if (this.smallReads.size === 0) {
        clearInterval(this.watchdog);
        this.watchdog = undefined;
        return;
      }
      if (Date.now() - this.lastAnswerAt <= this.timeoutMs) return;
      const stalled = Object.assign(new Error(`no progress for ${this.timeoutMs} ms: the server answered none of ${this.smallReads.size} reads`), { code: 'ETIMEDOUT', stalled: true });
      for (const f of [...this.smallReads]) f(stalled);
      // a stalled server would not finish a polite goodbye either: the socket goes at once, failing whatever
      // else shares the connection
      this.socket()?.destroy();
      void this.close();
    }, Math.min(1000, Math.max(50, Math.floor(this.timeoutMs / 4))));
    this.watchdog.unref();
  }

  /** The SSH connection's socket (ssh2's own). */
  private socket(): Socket | undefined {
    return (this.sftp as unknown as { client?: { _sock?: Socket } }).client?._sock;
  }

  /**
   * Holds what is sent until this turn of the event loop ends, then sends it in as few SSH packets as fit and
   * one system call: the requests of every file whose previous answer came in the same read from the socket
   * leave together.
   */
  private writeTogether(): void {
    this.writer?.hold();
  }

  /** SSH packets of SFTP requests sent so far (tests count them). */
  get packetsSent(): number {
    return this.writer?.packets ?? 0;
  }

  async upload(from: Readable, file: string): Promise<void> {
    await this.transfer(this.sftp.put(from, file, { writeStreamOptions: { highWaterMark: 256 * 1024, mode: 0o644 } as never }));
  }

  async rename(from: string, to: string): Promise<void> {
    await this.sftp.rename(from, to);
  }

  async remove(file: string): Promise<void> {
    await this.sftp.delete(file);
  }

  async mkdirp(dir: string): Promise<void> {
    if ((await this.sftp.exists(dir)) === 'd') return;
    try {
      await this.sftp.mkdir(dir, true);
    } catch (err) {
      // another connection of the pool may have made it meanwhile
      if ((await this.sftp.exists(dir)) !== 'd') throw err;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    if (this.ended) return;
    this.ended = true;
    await this.sftp.end().catch(() => undefined);
  }
}

/** A READDIR name: its attributes as ssh2 parsed them, and the `ls -l` line the server rendered. */
interface FileEntryWithStats {
  filename: string;
  longname: string;
  attrs: { size?: number; mtime?: number; isDirectory(): boolean; isFile(): boolean; mode?: number };
}

function entryOf(e: FileEntryWithStats): RemoteEntry {
  // the type from the mode; a server that sends no permissions still renders them in its `ls -l` line
  const type = e.attrs.mode !== undefined ? (e.attrs.isDirectory() ? 'dir' : e.attrs.isFile() ? 'file' : 'other') : e.longname[0] === 'd' ? 'dir' : e.longname[0] === '-' ? 'file' : 'other';
  const mtimeMs = (e.attrs.mtime ?? 0) * 1000;
  return { name: e.filename, type, size: e.attrs.size ?? 0, mtimeMs, rawTime: String(mtimeMs) };
}

function isNoSuchFile(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === NO_SUCH_FILE || code === 'ENOENT' || /no such file/i.test(errorMessage(err));
}

export class SftpFs implements RemoteFs {
  readonly label: string;
  /** Requests in flight on one SFTP channel hide the round trips of small files. */
  readonly transfersPerConnection = 8;
  private readonly cfg: SftpConnectionConfig;
  private readonly log: ConnectorLogger;
  /** The fingerprint the last connection attempt saw (for the mismatch message and check's hint). */
  private seenHostKey?: string;
  private hostKeyRefused = false;
  private warnedUnpinned = false;

  constructor(cfg: SftpConnectionConfig, log: ConnectorLogger) {
    this.cfg = cfg;
    this.log = log;
    this.label = `sftp://${cfg.username}@${cfg.host}:${cfg.port}`;
  }

  private where(): string {
    return `${this.cfg.host}:${this.cfg.port}`;
  }

  load(): Promise<unknown> {
    return loadSftpClient();
  }

  async connect(): Promise<RemoteSession> {
    if (this.cfg.password === undefined && this.cfg.privateKey === undefined) {
      throw new RemoteProblem('auth', 'authentication failed: no credentials configured (expected password or privateKey)');
    }
    const privateKey = this.cfg.privateKey ? await this.loadKey(this.cfg.privateKey) : undefined;
    // the library's default listeners print to stdout; the session watches the connection itself
    const events = new EventEmitter();
    const gone = (err?: Error) => events.emit('gone', err);
    const Sftp = await loadSftpClient();
    const sftp = new Sftp('ferry', { end: () => gone(), close: () => gone(), error: (err: Error) => gone(err) } as never);
    const raw = (sftp as unknown as { client: NodeJS.EventEmitter }).client;
    for (const ev of ['close', 'end', 'error']) raw.on(ev, (err?: Error) => gone(err));
    this.hostKeyRefused = false;
    try {
      await sftp.connect({
        host: this.cfg.host,
        port: this.cfg.port,
        username: this.cfg.username,
        password: this.cfg.password,
        privateKey,
        passphrase: this.cfg.passphrase,
        readyTimeout: this.cfg.connectTimeoutMs,
        keepaliveInterval: Math.max(1000, Math.floor(this.cfg.timeoutMs / 3)),
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          const fp = hostKeyFingerprint(key);
          this.seenHostKey = fp;
          if (!this.cfg.hostKey) {
            if (!this.warnedUnpinned) this.log.warn({ host: this.where(), hostKey: fp }, 'SFTP host key is not pinned; set hostKey to refuse any other server');
            this.warnedUnpinned = true;
            return true;
          }
          this.hostKeyRefused = fp !== this.cfg.hostKey.replace(/=+$/, '');
          return !this.hostKeyRefused;
        },
      });
    } catch (err) {
      await sftp.end().catch(() => undefined);
      const msg = errorMessage(err);
      if (privateKey && /Cannot parse privateKey|passphrase/i.test(msg)) {
        const why = /passphrase/i.test(msg) ? (this.cfg.passphrase ? 'wrong passphrase' : 'the key is encrypted: set passphrase') : msg.replace(/^.*Cannot parse privateKey: /, '');
        throw new RemoteProblem('auth', `authentication failed: cannot use privateKey ${this.cfg.privateKey} (${why})`);
      }
      if (this.hostKeyRefused) {
        throw new RemoteProblem('hostkey', `host key mismatch: ${this.where()} presented ${this.seenHostKey}, hostKey pins ${this.cfg.hostKey}; refused`);
      }
      throw err;
    }
    return new SftpSession(sftp, events, this.cfg.timeoutMs);
  }

  /** Reads the key file (ssh2 parses and, with passphrase, decrypts it on each connection). */
  private async loadKey(file: string): Promise<Buffer> {
    try {
      return await fs.promises.readFile(file);
    } catch (err) {
      throw new RemoteProblem('auth', `authentication failed: cannot read privateKey ${file} (${errorMessage(err)})`);
    }
  }

  checkNote(): string | undefined {
    if (this.cfg.hostKey || !this.seenHostKey) return undefined;
    return `host key not pinned: add hostKey: "${this.seenHostKey}" after confirming it with the server's admin`;
  }

  classify(err: unknown, what?: string): RemoteFailure {
    const where = this.where();
    const net = networkFailure(err, where);
    if (net) return net;
    const msg = errorMessage(err);
    const code = (err as { code?: unknown })?.code;
    const on = what ? ` on ${what}` : '';
    if (/Remote host refused connection/i.test(msg)) return { kind: 'unreachable', broken: true, reason: `host unreachable: connection refused by ${where}` };
    if (/Address lookup failed/i.test(msg)) return { kind: 'unreachable', broken: true, reason: `host unreachable: ${this.cfg.host} not found (DNS)` };
    if (/authentication methods failed|Authentication failure/i.test(msg)) return { kind: 'auth', broken: true, reason: `authentication failed: ${where} refused user ${this.cfg.username}` };
    if (/passphrase|Cannot parse privateKey|Unsupported key format|Encrypted private OpenSSH key detected/i.test(msg)) {
      return { kind: 'auth', broken: true, reason: `authentication failed: cannot use privateKey ${this.cfg.privateKey ?? ''} (${msg.replace(/^[a-z]+: /, '')})` };
    }
    if (/Host denied|verification failed/i.test(msg)) return { kind: 'hostkey', broken: true, reason: `host key mismatch: ${where} presented ${this.seenHostKey ?? 'another key'}, hostKey pins ${this.cfg.hostKey}` };
    if (/Timed out while waiting for handshake/i.test(msg)) return { kind: 'unreachable', broken: true, reason: `host unreachable: no SSH handshake from ${where} within ${this.cfg.connectTimeoutMs} ms` };
    if (code === PERMISSION_DENIED || /permission denied/i.test(msg)) return { kind: 'permission', broken: false, reason: `permission denied${on}` };
    if (isNoSuchFile(err)) return { kind: 'missing', broken: false, reason: `folder or file missing${on}` };
    if (/No SFTP connection|not connected|ECONNRESET|connection lost|Channel|closed|keepalive/i.test(msg)) {
      return { kind: 'dropped', broken: true, reason: `connection to ${where} dropped (${msg})` };
    }
    return { kind: 'other', broken: false, reason: msg };
  }
}
