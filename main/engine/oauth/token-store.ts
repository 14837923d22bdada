// OAuth tokens at rest: one AES-256-GCM envelope per connection in the database (table oauth_tokens), with the
// key the secret store uses (FERRY_MASTER_KEY, the desktop app's OS-protected key, or the key file), bound to its
// connection's name. A write is its own committed transaction (WAL, synchronous=FULL: one fsync) before it
// returns: a token answer is stored before the new token is used, so a crash right after cannot lose a rotated
// refresh token. A lock per connection (<dataDir>/tokens/<name>.lock, an exclusive SQLite lock the OS drops when
// its process dies, as the data dir's own) lets one process at a time refresh it (the engine, and `ferry check`
// or `ferry connect` beside it).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { SecretFile, SecretStore } from '../secrets.ts';
import type { Db } from '../store/db.ts';
import { rememberToken } from './scrub.ts';

export const TOKEN_DIR = 'tokens';
const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** How long to wait for another process's refresh (it gives up after 30 s). */
const LOCK_WAIT_MS = 60_000;

export interface StoredTokens {
  /** The client (token URL + client id) the tokens were issued to. */
  client: string;
  refreshToken?: string;
  refreshExpiresAt?: number;
  accessToken?: string;
  tokenType?: string;
  /** When Ferry stops using the access token. */
  expiresAt?: number;
  scope?: string;
  /** When the consent was given (or the first token fetched). */
  connectedAt: number;
  refreshedAt?: number;
  /** Plain facts from the provider an admin needs (instance_url, realmId): never tokens. */
  details: Record<string, string>;
}

/** The encrypted form of one connection's tokens: as the secret store's file, with the name as associated data. */
type Envelope = SecretFile;

export class TokenStoreError extends Error {}

export class TokenStore {
  /** The folder of the lock files; undefined when tokens are kept in memory only. */
  readonly dir?: string;
  private readonly db?: Db;
  private readonly keys?: SecretStore;
  private readonly memory = new Map<string, StoredTokens>();
  private readonly derived = new Map<string, Buffer>();
  private readonly salt = crypto.randomBytes(16);
  private readonly chains = new Map<string, Promise<unknown>>();

  /**
   * `db`: the data dir's database; `keys`: its secret store, whose key protects the tokens too; 'memory' keeps
   * tokens in this process only (the desktop app when the OS offers no protected key: refused rather than
   * stored weakly).
   */
  constructor(dataDir: string, db: Db, keys: SecretStore | 'memory') {
    if (keys !== 'memory') {
      this.dir = path.join(dataDir, TOKEN_DIR);
      this.db = db;
      this.keys = keys;
    }
  }

  /** In words, where tokens are kept (status and docs). */
  describe(): string {
    if (!this.dir) return 'in memory only (no protected key on this machine: connect again after a restart)';
    return `in the database, one AES-256-GCM envelope per connection; ${this.keys!.describeStorage().replace(/^[^,]*, AES-256-GCM, /, '')}`;
  }

  private checked(key: string): string {
    if (!KEY.test(key)) throw new TokenStoreError(`unusable connection name ${JSON.stringify(key)}`);
    return key;
  }

  /** The key of a file with this salt and key source (derived once: scrypt costs ~100 ms). */
  private keyFor(salt: Buffer, source: 'env' | 'keyfile'): Buffer {
    const id = `${source}:${salt.toString('base64')}`;
    let k = this.derived.get(id);
    if (!k) {
      k = this.keys!.fileKey(salt, source).key;
      this.derived.set(id, k);
    }
    return k;
  }

  /** The key new writes use: this process's salt, and the source the secret store chooses for a new file. */
  private writeKey?: { source: 'env' | 'keyfile'; key: Buffer };

  read(key: string): StoredTokens | undefined {
    if (!this.db) return this.memory.get(key);
    const row = this.db.prepare<[string], { envelope: string }>('SELECT envelope FROM oauth_tokens WHERE key = ?').get(this.checked(key));
    if (!row) return undefined;
    let env: Envelope;
    try {
      env = JSON.parse(row.envelope) as Envelope;
      if (env.version !== 1) throw new Error(`unknown version ${String(env.version)}`);
    } catch (err) {
      throw new TokenStoreError(`the stored tokens of connection ${key} are damaged (${(err as Error).message}): connect ${key} again`);
    }
    const k = this.keyFor(Buffer.from(env.salt, 'base64'), env.keySource);
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', k, Buffer.from(env.iv, 'base64'));
      decipher.setAAD(Buffer.from(key));
      decipher.setAuthTag(Buffer.from(env.tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(env.data, 'base64')), decipher.final()]).toString('utf8');
      const tokens = JSON.parse(plain) as StoredTokens;
      rememberToken(tokens.accessToken);
      rememberToken(tokens.refreshToken);
      return tokens;
    } catch {
      throw new TokenStoreError(
        `cannot decrypt the tokens of connection ${key}: ${env.keySource === 'env' ? 'FERRY_MASTER_KEY (or the desktop app\'s key) differs from the one they were stored with' : 'the key file does not belong to them'}; connect ${key} again`,
      );
    }
  }

  /** Stores a connection's tokens durably (its own committed transaction) before returning. */
  write(key: string, tokens: StoredTokens): void {
    rememberToken(tokens.accessToken);
    rememberToken(tokens.refreshToken);
    if (!this.db) {
      this.memory.set(key, tokens);
      return;
    }
    this.checked(key);
    if (!this.writeKey) {
      this.writeKey = this.keys!.fileKey(this.salt);
      this.derived.set(`${this.writeKey.source}:${this.salt.toString('base64')}`, this.writeKey.key);
    }
    const { source, key: k } = this.writeKey;
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', k, iv);
    cipher.setAAD(Buffer.from(key));
    const data = Buffer.concat([cipher.update(JSON.stringify(tokens), 'utf8'), cipher.final()]);
    const env: Envelope = { version: 1, keySource: source, salt: this.salt.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
    this.db
      .prepare('INSERT INTO oauth_tokens (key, envelope, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET envelope = excluded.envelope, updated_at = excluded.updated_at')
      .run(key, JSON.stringify(env), Date.now());
  }

  remove(key: string): void {
    if (!this.db) {
      this.memory.delete(key);
      return;
    }
    this.db.prepare('DELETE FROM oauth_tokens WHERE key = ?').run(this.checked(key));
  }

  /** Connection keys with stored tokens. */
  list(): string[] {
    if (!this.db) return [...this.memory.keys()];
    return this.db.prepare<[], { key: string }>('SELECT key FROM oauth_tokens ORDER BY key').all().map((r) => r.key);
  }

  /**
   * Runs fn while holding the connection's lock: one at a time in this process, and one process at a time
   * (an exclusive SQLite lock on a file of its own: the OS releases it when its holder dies, even on kill -9).
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.chains.get(key) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(async () => {
      const release = await this.lockFile(key);
      try {
        return await fn();
      } finally {
        release();
      }
    });
    this.chains.set(key, run);
    void run.finally(() => {
      if (this.chains.get(key) === run) this.chains.delete(key);
    }).catch(() => undefined);
    return run;
  }

  private async lockFile(key: string): Promise<() => void> {
    if (!this.dir) return () => undefined;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${this.checked(key)}.lock`);
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      const lock = new Database(file);
      try {
        // never a blocking wait (it would stop the event loop): poll instead
        lock.pragma('busy_timeout = 0');
        // an exclusive transaction that writes nothing: the file lock without a commit or an fsync, held until close
        lock.exec('BEGIN EXCLUSIVE');
        return () => lock.close();
      } catch (err) {
        lock.close();
        if (!(err as { code?: string }).code?.startsWith('SQLITE_BUSY')) throw new TokenStoreError(`cannot lock the tokens of connection ${key}: ${(err as Error).message}`);
      }
      if (Date.now() > deadline) throw new TokenStoreError(`the tokens of connection ${key} stay locked by another Ferry process (refreshing them)`);
      await delay(25);
    }
  }
}
