// Secrets for ${secret:NAME} in configs: one AES-256-GCM encrypted file in the data dir (secrets.enc).
// The key comes from FERRY_MASTER_KEY (any string, stretched with scrypt and a per-file salt) or, without it,
// from a random key file (<dataDir>/secrets.key, mode 0600) created on first use. No OS keyring library is
// installed, so the key file is the fallback: it keeps values out of configs, the database, logs, backups of
// the config and API replies, but whoever can read the data dir as this user can read the key too.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const SECRET_FILE = 'secrets.enc';
export const KEY_FILE = 'secrets.key';
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export class SecretError extends Error {}

/** The encrypted file's form (also used for OAuth tokens, oauth/token-store.ts). */
export interface SecretFile {
  version: 1;
  /** How the key was made: "env" (FERRY_MASTER_KEY + scrypt with salt) or "keyfile". */
  keySource: 'env' | 'keyfile';
  salt: string;
  iv: string;
  tag: string;
  data: string;
}

interface Entry {
  value: string;
  updatedAt: number;
}

export function assertSecretName(name: string): void {
  if (!NAME.test(name)) throw new SecretError(`secret name ${JSON.stringify(name)}: expected letters, digits, "_", "." or "-", starting with a letter or "_"`);
}

/** Writes a file atomically (temp file, fsync, rename), readable only by this user. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export class SecretStore {
  readonly dir: string;
  private readonly masterKey: string | undefined;
  private cache?: Map<string, Entry>;
  private cacheMtime = -1;
  private checkedAt = 0;

  constructor(dataDir: string, opts: { masterKey?: string } = {}) {
    this.dir = dataDir;
    this.masterKey = opts.masterKey ?? (process.env.FERRY_MASTER_KEY || undefined);
  }

  get file(): string {
    return path.join(this.dir, SECRET_FILE);
  }

  /** In words, where the key comes from (shown by `ferry secret list` and the API). */
  describeStorage(): string {
    const onDisk = this.readFile();
    const source = onDisk?.keySource ?? (this.masterKey ? 'env' : 'keyfile');
    return source === 'env'
      ? `${this.file}, AES-256-GCM, key from FERRY_MASTER_KEY`
      : `${this.file}, AES-256-GCM, key in ${path.join(this.dir, KEY_FILE)} (mode 0600; set FERRY_MASTER_KEY to keep the key off the disk)`;
  }

  private readFile(): SecretFile | undefined {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as SecretFile;
      if (parsed.version !== 1) throw new Error(`unknown version ${String(parsed.version)}`);
      return parsed;
    } catch (err) {
      throw new SecretError(`${this.file} is damaged (${(err as Error).message}); restore it from a backup or delete it and set the secrets again`);
    }
  }

  private key(source: 'env' | 'keyfile', salt: Buffer, create: boolean): Buffer {
    if (source === 'env') {
      if (!this.masterKey) throw new SecretError(`${this.file} was encrypted with FERRY_MASTER_KEY, which is not set in this environment`);
      // scrypt costs ~100 ms of blocked event loop by design: the key of the salt last written or read is kept,
      // so a save followed by the reload that sees it stretches the key once, not twice
      const saltText = salt.toString('base64');
      if (this.stretched?.salt === saltText) return this.stretched.key;
      const key = crypto.scryptSync(this.masterKey, salt, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
      this.stretched = { salt: saltText, key };
      return key;
    }
    const keyFile = path.join(this.dir, KEY_FILE);
    try {
      const k = Buffer.from(fs.readFileSync(keyFile, 'utf8').trim(), 'base64');
      if (k.length !== 32) throw new SecretError(`${keyFile} is damaged (expected a 32-byte base64 key)`);
      return k;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
        if (err instanceof SecretError) throw err;
        throw new SecretError(`cannot read the secrets key ${keyFile}: ${(err as Error).message}`);
      }
      fs.mkdirSync(this.dir, { recursive: true });
      const k = crypto.randomBytes(32);
      writeFileAtomic(keyFile, `${k.toString('base64')}\n`, 0o600);
      return k;
    }
  }

  private load(): Map<string, Entry> {
    // Another process (`ferry secret set`) may change the file: look at its mtime at most every 500 ms.
    const now = Date.now();
    if (this.cache && now - this.checkedAt < 500) return this.cache;
    const mtime = fs.statSync(this.file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    this.checkedAt = now;
    if (this.cache && mtime === this.cacheMtime) return this.cache;
    const file = this.readFile();
    const map = new Map<string, Entry>();
    if (file) {
      const key = this.key(file.keySource, Buffer.from(file.salt, 'base64'), false);
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(file.iv, 'base64'));
      decipher.setAuthTag(Buffer.from(file.tag, 'base64'));
      let plain: string;
      try {
        plain = Buffer.concat([decipher.update(Buffer.from(file.data, 'base64')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretError(`cannot decrypt ${this.file}: wrong key (${file.keySource === 'env' ? 'FERRY_MASTER_KEY differs from the one used to store the secrets' : `${KEY_FILE} does not belong to this file`})`);
      }
      for (const [name, entry] of Object.entries(JSON.parse(plain) as Record<string, Entry>)) map.set(name, entry);
    }
    this.cache = map;
    this.cacheMtime = mtime;
    return map;
  }

  private save(map: Map<string, Entry>): void {
    const previous = this.readFile();
    // Keep the key source the file already has; a new file uses FERRY_MASTER_KEY when it is set.
    const source: 'env' | 'keyfile' = previous?.keySource ?? (this.masterKey ? 'env' : 'keyfile');
    const salt = crypto.randomBytes(16);
    const key = this.key(source, salt, true);
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
    const data = Buffer.concat([cipher.update(JSON.stringify(Object.fromEntries(map)), 'utf8'), cipher.final()]);
    const file: SecretFile = { version: 1, keySource: source, salt: salt.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
    fs.mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(this.file, JSON.stringify(file), 0o600);
    this.cache = undefined;
  }

  get(name: string): string | undefined {
    return this.load().get(name)?.value;
  }

  /** Names and times only: values never leave this class except through get(). */
  list(): Array<{ name: string; updatedAt: number }> {
    return [...this.load().entries()].map(([name, e]) => ({ name, updatedAt: e.updatedAt })).sort((a, b) => a.name.localeCompare(b.name));
  }

  set(name: string, value: string): void {
    assertSecretName(name);
    if (value === '') throw new SecretError(`secret ${name}: the value is empty`);
    const map = new Map(this.load());
    map.set(name, { value, updatedAt: Date.now() });
    this.save(map);
  }

  /** Returns false when there was no such secret. */
  delete(name: string): boolean {
    const map = new Map(this.load());
    if (!map.delete(name)) return false;
    this.save(map);
    return true;
  }

  /**
   * Name → value of every stored secret, for the Scrubber (scrub.ts). The same map object is returned while the
   * file is unchanged, so callers can tell a change by identity.
   */
  named(): ReadonlyMap<string, string> {
    const map = this.load();
    if (this.namedFor !== map) {
      this.namedFor = map;
      this.namedCache = new Map([...map].map(([name, e]) => [name, e.value]));
    }
    return this.namedCache!;
  }

  private namedFor?: Map<string, Entry>;
  /** The last key stretched from FERRY_MASTER_KEY, with its salt. */
  private stretched?: { salt: string; key: Buffer };
  private namedCache?: Map<string, string>;

  /**
   * The key of another encrypted file in this data dir (OAuth tokens), protected as the secrets are: derived
   * from FERRY_MASTER_KEY (or the desktop app's OS-protected key) with the file's salt, or the key file.
   * `source` is the file's own; a new file takes FERRY_MASTER_KEY when it is set.
   */
  fileKey(salt: Buffer, source?: 'env' | 'keyfile'): { source: 'env' | 'keyfile'; key: Buffer } {
    const s = source ?? (this.masterKey ? 'env' : 'keyfile');
    return { source: s, key: this.key(s, salt, true) };
  }

  /** A SecretLookup for config/load.ts; a store that cannot be read reports every secret as missing. */
  lookup(): (name: string) => string | undefined {
    return (name) => this.get(name);
  }
}
