// The contract between the engine and every connector (Source / Destination), plus the few helpers all
// connectors share. Connectors import only this file and libraries; the engine reaches connectors only
// through main/engine/registry.ts.
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import type { Network } from './net/network.ts';

/** Result of a connection test. `check()` never throws: failures come back as `{ ok: false, message }`. */
export type CheckResult = { ok: true; message?: string } | { ok: false; message: string };

/** Minimal structured logger handed to connectors (pino-compatible). */
export interface ConnectorLogger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** Attributes travel with an item, like a NiFi FlowFile's. Values must be JSON-serialisable. */
export type ItemAttributes = Record<string, string | number | boolean | null>;

/** What a source hands to the engine. The engine stores the body durably before the item counts as queued. */
export interface NewItem {
  /**
   * Stable identity of the thing taken (e.g. a relative path plus mtime). Together with the flow name and
   * the body's hash it makes the idempotency key, so re-taking the same thing after a crash is recognised.
   */
  sourceKey: string;
  /** File name (or a name for the record); destinations build target names from it after sanitising. */
  name: string;
  attributes?: ItemAttributes;
  /**
   * Either bytes in memory, a file to copy into the content store, or a stream to drain into it. A stream's
   * `recycle` gets each chunk back once it is stored, so the producer can read into that memory again.
   */
  body: { bytes: Buffer } | { file: string; version?: FileVersion } | { stream: Readable; size?: number; recycle?: (chunk: Buffer) => void };
  /** Optional ordering group (FIFO per group). */
  group?: string;
  /** Source state written in the same transaction as this item, only when it is stored (or a duplicate). */
  checkpoint?: { key: string; value: unknown };
  /**
   * The SHA-256 of the version the source queued last under this name. A body that hashes the same is not
   * queued (the file was touched, not changed): the item comes back in `unchanged`, its checkpoint written.
   * Lets a source skip hashing a large file before it is stored (the store hashes while it copies).
   */
  unchangedFrom?: string;
}

/**
 * The size and modification time a source saw a file settle with. The store takes the file only while it still
 * has them and keeps them while it is copied; otherwise the item fails with a message starting FILE_CHANGED
 * (the source lets the file settle again).
 */
export interface FileVersion {
  size: number;
  mtimeMs: number;
}
export const FILE_CHANGED = 'file changed';

/** A local file a source will hand over as a body to copy into the store (see SourceContext.storeAhead). */
export interface FileBody {
  file: string;
  version: FileVersion;
}
/**
 * Files at least this large are worth storing ahead, during their settle: below it the copy takes less than a
 * sweep's wait, and a guess that missed costs little either way.
 */
export const STORE_AHEAD_MIN_BYTES = 16 * 1024 * 1024;

/** A queued item as a destination sees it. */
export interface OutgoingItem {
  id: number;
  flow: string;
  name: string;
  idempotencyKey: string;
  attributes: ItemAttributes;
  size: number;
  sha256: string;
  attempt: number;
  /** Opens a fresh stream of the body (call again on every attempt). */
  openBody(): Readable;
  /** The body as a Buffer (only for destinations that need it whole; prefer openBody). */
  readBody(): Promise<Buffer>;
  /**
   * A large body (one with a bodyFile) as blocks read into a few reused buffers: far less CPU than openBody's
   * stream. A block is the caller's only until it asks for the next one, so the caller must have written it
   * out by then (a socket writer that waits for each write's drain before it pulls again).
   */
  bodyBlocks?(): AsyncIterable<Buffer>;
  /**
   * The file holding the body when the engine stores it as one (large bodies; absent for small ones), already
   * fsynced. Read-only: a destination may read, hard-link or copy it, never write, rename or delete it.
   */
  readonly bodyFile?: string;
}

/** A destination's answer kept for a synchronous caller (the `sync` endpoint): status, type and body. */
export interface CallReply {
  status: number;
  contentType?: string;
  body: Buffer;
}

/** What a destination reports for one attempt. Thrown errors count as retryable failures. */
export type DeliveryOutcome =
  | { kind: 'delivered'; detail?: string; reply?: CallReply }
  | { kind: 'retry'; reason: string; retryAfterMs?: number; status?: number; response?: string }
  | { kind: 'dead'; reason: string; status?: number; response?: string };

export const delivered = (detail?: string, reply?: CallReply): DeliveryOutcome => (reply ? { kind: 'delivered', detail, reply } : { kind: 'delivered', detail });
export const retryLater = (
  reason: string,
  extra: { retryAfterMs?: number; status?: number; response?: string } = {},
): DeliveryOutcome => ({ kind: 'retry', reason, ...extra });
export const deadLetter = (
  reason: string,
  extra: { status?: number; response?: string } = {},
): DeliveryOutcome => ({ kind: 'dead', reason, ...extra });

/** A durable key/value store scoped to one flow's source (checkpoints, "already taken" memory). */
export interface SourceState {
  get<T = unknown>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  delete(key: string): void;
  /** Entries whose key starts with the prefix. */
  entries<T = unknown>(prefix: string): Array<[string, T]>;
  /** The values of those of `keys` that exist: a page of look-ups in one query (a large memory is never read whole). */
  getMany<T = unknown>(keys: string[]): Map<string, T>;
  /** Up to `limit` keys with from ≤ key < to, in order of their code points: a large memory walked a page at a time. */
  keys(from: string, to: string, limit: number): string[];
  /** Up to `limit` entries with from ≤ key < to, in order of their keys' code points: a range read in one query. */
  range<T = unknown>(from: string, to: string, limit: number): Array<[string, T]>;
  /**
   * The same entries with each value as its stored JSON text, unparsed: a reader that mostly finds values as it
   * expects them compares the text and parses only the others. Optional: range() serves where it is missing.
   */
  rangeText?(from: string, to: string, limit: number): Array<[string, string]>;
  /** Sets many entries in one transaction. */
  setMany(entries: Array<[string, unknown]>): void;
}

/**
 * What emit() did: how many items it queued, which were duplicates of items already queued or delivered,
 * which could not be stored (unreadable body: the error says why), and, when back pressure stopped intake,
 * why, with the items that were not taken (`deferred`: leave them where they are and offer them again later).
 */
export type EmitResult = {
  queued: number;
  duplicates: NewItem[];
  failed: Array<{ item: NewItem; error: string }>;
  refused?: string;
  /**
   * Set with `refused`: the items not taken (all of them, or the tail beyond the flow's remaining room).
   * The batch checkpoint is not written when any item is deferred or failed.
   */
  deferred?: NewItem[];
  /** Items not queued because their body hashed the same as their `unchangedFrom`. */
  unchanged?: NewItem[];
  /** The SHA-256 of stored bodies of items that asked (`unchangedFrom` set, even to ""). */
  sha256?: Map<NewItem, string>;
};

/**
 * The outcome of one synchronous call (the `sync` endpoint). `ticket` names the queued item; `pending` means
 * the wait ended before the destination settled it (the call goes on in the queue; fetch it later by ticket).
 */
export type CallOutcome =
  | { ticket: string; state: 'delivered'; reply?: CallReply; detail?: string }
  | { ticket: string; state: 'dead'; reason: string; status?: number; response?: string }
  | { ticket: string; state: 'pending'; reason?: string }
  | { ticket: string; state: 'discarded' };

export interface SourceContext {
  flow: string;
  log: ConnectorLogger;
  signal: AbortSignal;
  state: SourceState;
  /**
   * Queues items durably. Resolves after the items (and the optional checkpoint, written in the same
   * transaction unless an item failed or was deferred) are committed. `duplicates` are items whose
   * idempotency key was already queued or delivered; `refused` is set when back pressure stopped intake:
   * `deferred` lists the items not taken (a leading part of the batch may have been queued when it filled
   * the flow's limit; offering those again later is harmless: they come back as duplicates).
   */
  emit(items: NewItem[], checkpoint?: { key: string; value: unknown }): Promise<EmitResult>;
  /** True while the flow may take more work (its queue cap and the disk floor allow it). */
  hasCapacity(): boolean;
  /** About how many of the flow's items wait for delivery (a source paces a backlog by it). */
  waiting?(): number;
  /** Reports a problem that is not tied to one item (a locked file, an unreadable folder). */
  problem(message: string, detail?: Record<string, unknown>): void;
  /**
   * A hint: this large local file looks complete (no write for a while) and will likely be emitted as this
   * body once it settles. The engine may copy it into its store now, while the settle runs; emit() then uses
   * that copy only if the file has not changed since it began, and copies afresh otherwise. Never required.
   */
  storeAhead?(body: FileBody): void;
  /**
   * A watching source's own health (a mail server it cannot reach): a reason makes the source "failing" in
   * the status until it reports undefined again. Scheduled scans are judged by the problems they report.
   */
  failing?(reason: string | undefined): void;
  /**
   * The same problem as the source's last run reported, still there (a server still down): the source stays
   * "failing" without the log line and event being repeated on every scheduled run.
   */
  stillFailing?(message: string): void;
  /**
   * Synchronous pattern: queues one item durably, sends it to the destination at once and waits up to
   * timeoutMs for its outcome. `refused` when back pressure stopped intake. A duplicate (same idempotency
   * key) waits for the existing item's outcome instead of queueing again.
   */
  call?(item: NewItem, opts: { timeoutMs: number }): Promise<CallOutcome | { refused: string }>;
  /** The outcome of an earlier call by ticket, waiting up to waitMs while it is still pending; undefined for an unknown ticket. */
  outcome?(ticket: string, opts?: { waitMs?: number }): Promise<CallOutcome | undefined>;
}

/** A delivered (or discarded) item handed back to its source for after-delivery work. */
export interface SettledItem {
  id: number;
  sourceKey: string;
  name: string;
  attributes: ItemAttributes;
  outcome: 'delivered' | 'discarded';
}

/** One file (or object) a dry run found: `complete` would be taken now, `writing` is still changing. */
export interface DryRunFile {
  relativePath: string;
  size: number;
  mtime: string;
  state: 'complete' | 'writing';
}

/** What a source would take right now, without taking anything. Like check(), never throws. */
export type DryRunResult = { ok: true; files: DryRunFile[]; truncated: boolean } | { ok: false; message: string };

export interface DryRunOptions {
  /** Stop listing after this many files (default 1000). */
  maxFiles?: number;
  /** Longest wait to see whether recently changed files are still being written (default 3000 ms). */
  maxWaitMs?: number;
  signal?: AbortSignal;
}

export interface Source {
  /** Connection/readiness test: never throws. */
  check(): Promise<CheckResult>;
  /** Lists what a scan would find now (complete vs still being written) without queueing or moving anything. */
  dryRun?(opts?: DryRunOptions): Promise<DryRunResult>;
  /** One pass over the source (scheduled trigger, start-up, reconcile): queues what is complete. */
  scan(ctx: SourceContext): Promise<void>;
  /**
   * Under a schedule, scan once at start-up as well as at each tick (reconcile what arrived while Ferry was
   * off at once, not at the next tick). Change-driven sources do that in watch().
   */
  readonly scanOnStart?: boolean;
  /** Event-driven intake; returns its own teardown. Sources without events omit it. */
  watch?(ctx: SourceContext): Promise<() => Promise<void>>;
  /** Runs after the destination confirmed (move/delete the original). Throwing makes the engine retry it. */
  afterDelivery?(item: SettledItem): Promise<void>;
  /** True when the engine should keep each delivery's reply (status and body) for the caller (sync sources). */
  readonly keepsReplies?: boolean;
  /**
   * File sources: how many passes over the source ended (a scan, a settled file's second look, a sweep, a
   * reconcile listing). The status shows it, so a client can wait until the source looked again and decided.
   */
  readonly activity?: { readonly passes: number };
  /**
   * Loads what the connector needs (its library) when its flow starts, rather than at module load: processes
   * without such a flow never pay for it, and the engine's start-up collection sizes the heap with it loaded.
   */
  prepare?(): Promise<void>;
  close?(): Promise<void>;
}

export interface DestinationContext {
  flow: string;
  log: ConnectorLogger;
  signal: AbortSignal;
  /** True when the flow keeps the destination's reply for a synchronous caller: return it as `delivered(…, reply)`. */
  wantsReply?: boolean;
}

export interface Destination {
  check(): Promise<CheckResult>;
  send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome>;
  /** How many items this destination may have in flight at once (default 1). */
  readonly concurrency?: number;
  /** As Source.prepare(). */
  prepare?(): Promise<void>;
  close?(): Promise<void>;
}

/** An OAuth 2.0 access token as a connector sends it: `Authorization: <type> <value>`. */
export interface AccessToken {
  value: string;
  type: string;
  /** Epoch ms from which it is no longer used (a little before the server's stated expiry). */
  expiresAt: number;
}

/**
 * The `auth: { type: oauth2, … }` block of a connector: a named connection of the config's `connections:`, or
 * inline client settings (client credentials, or a refresh token pasted into the config).
 */
export type OAuthClientConfig =
  | { connection: string }
  | {
      grant: 'client_credentials' | 'refresh_token';
      tokenUrl: string;
      clientId: string;
      clientSecret?: string;
      refreshToken?: string;
      scope?: string;
      audience?: string;
      clientAuth: 'basic' | 'body';
    };

/**
 * The OAuth tokens of one account. The engine keeps them (encrypted at rest, written before a new one is
 * used) and refreshes once at a time for every flow that uses the account. A connector asks for a token
 * for each request and reports the one an API refused with 401.
 */
export interface TokenProvider {
  /**
   * A valid access token, refreshed first when it has expired. A refresh goes through `dispatcher` when given
   * (the connector's network settings), else the engine's. Throws TokenError when no token can be had.
   */
  token(opts?: { signal?: AbortSignal; dispatcher?: Dispatcher }): Promise<AccessToken>;
  /** The API answered 401 to this token: the next token() fetches a new one, unless another request already did. */
  rejected(token: AccessToken): void;
}

/**
 * No token could be had. `consentNeeded`: only an admin's new consent cures it (the refresh token was revoked
 * or never given); the engine then holds the deliveries of the flows using the connection, and they stay queued.
 */
export class TokenError extends Error {
  readonly consentNeeded: boolean;
  constructor(message: string, consentNeeded = false) {
    super(message);
    this.name = 'TokenError';
    this.consentNeeded = consentNeeded;
  }
}

/** Values the engine passes when it builds a connector. */
export interface ConnectorEnv {
  /** Folder of the config file: relative paths in connector configs are already resolved against it. */
  configDir: string;
  log: ConnectorLogger;
  /**
   * The engine's token provider for an `auth: { type: oauth2 }` block. Absent outside the engine (a
   * connector built on its own): inline client settings then keep their tokens in memory, and named
   * connections cannot be used.
   */
  tokens?(auth: OAuthClientConfig): TokenProvider;
  /**
   * The network setting (proxy, trusted CAs, client certificate): every outbound HTTP(S) client takes its
   * dispatcher from `net.dispatcher({ proxy, tls, … })`, passing the connector's own overrides. The engine
   * always sets it; a connector built without it (tests) uses Network.default() (proxy env, system store).
   */
  net?: Network;
}

/** One connector = one folder exporting one of these. */
export interface ConnectorDefinition {
  type: string;
  /** zod schema of the `source:` block (without `type`), when the connector can be a source. */
  sourceSchema?: z.ZodObject;
  /** zod schema of the `destination:` block (without `type`). */
  destinationSchema?: z.ZodObject;
  /** True when the source implements watch(), so `trigger: { on: change }` is allowed. */
  changeEvents?: boolean;
  /** True when the source only works event-driven (a listener, a subscription): a schedule trigger is refused. */
  eventsOnly?: boolean;
  /** Keys of the config that hold local paths, resolved against the config file's folder. */
  pathKeys?: { source?: string[]; destination?: string[] };
  createSource?(config: any, env: ConnectorEnv): Source;
  createDestination?(config: any, env: ConnectorEnv): Destination;
  /**
   * Risks in a valid block the admin chose to accept (e.g. a listener open to the network with
   * `allowInsecure: true`): key paths relative to the block, shown as warnings by `ferry validate`, the
   * dashboard and the run log.
   */
  warnings?(role: 'source' | 'destination', config: any): Array<{ path: string[]; message: string }>;
}

/**
 * Turns an untrusted relative name (from a remote listing, an item name, an attribute) into a safe relative
 * path: no drive letters, no absolute paths, no `..`, no NUL or control characters. Returns '' when nothing
 * usable is left. Always use it before joining a name onto a target folder.
 */
export function sanitizeRelativePath(name: string): string {
  const parts = name
    .replace(/\\/g, '/')
    .replace(/^[a-zA-Z]:/, '')
    .split('/')
    .map((p) => p.replace(/[\u0000-\u001f<>:"|?*]/g, '_').trim())
    .filter((p) => p !== '' && p !== '.' && p !== '..');
  return parts.join('/');
}

/** Joins a sanitised name under a root folder; the result is guaranteed to stay inside root. */
export function containedPath(root: string, name: string): string {
  const rel = sanitizeRelativePath(name);
  if (!rel) throw new Error(`unusable file name ${JSON.stringify(name)}`);
  const full = path.resolve(root, rel);
  const rootResolved = path.resolve(root);
  if (full !== rootResolved && !full.startsWith(rootResolved + path.sep)) {
    throw new Error(`file name ${JSON.stringify(name)} escapes ${rootResolved}`);
  }
  return full;
}

// statfs f_type magic numbers of network/remote file systems on Linux.
const NETWORK_FS: Record<number, string> = {
  0x6969: 'NFS',
  0x517b: 'SMB',
  0xff534d42: 'CIFS',
  0xfe534d42: 'SMB2',
  0x564c: 'NCP',
  0x65735546: 'FUSE (sshfs and similar)',
};

/**
 * The kind of network file system `dir` lives on ("NFS", "SMB", "a network share"…), or undefined when it is
 * local or cannot be told. On a local disk a stat or a small read takes microseconds, so connectors may do
 * them synchronously; on a share they can stall for seconds and must stay asynchronous.
 */
export function networkFileSystem(dir: string): string | undefined {
  if (process.platform === 'win32') return /^(\\\\|\/\/)/.test(dir) ? 'a network share' : undefined;
  try {
    if (process.platform === 'darwin') {
      // macOS mounts network volumes under /Volumes (smbfs, nfs, afpfs); local disks there carry .fseventsd.
      const real = fs.realpathSync(dir);
      return real.startsWith('/Volumes/') && !fs.existsSync(path.join(real.split('/').slice(0, 3).join('/'), '.fseventsd')) ? 'a network volume' : undefined;
    }
    return NETWORK_FS[fs.statfsSync(dir).type >>> 0];
  } catch {
    return undefined;
  }
}

/** Gives `name.ext` → `name (1).ext`, `name (2).ext`… for collision handling. */
export function suffixedName(fileName: string, n: number): string {
  const ext = path.extname(fileName);
  const base = ext ? fileName.slice(0, -ext.length) : fileName;
  return `${base} (${n})${ext}`;
}

/** 16 MiB, 1.5 MiB, 512 KiB, 900 bytes: a size in a message. */
export function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** Turns any thrown value into a one-line message. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Formats a date with the tokens yyyy, yy, MM, dd, HH, mm, ss (local time unless utc). */
export function formatDate(date: Date, pattern: string, utc = false): string {
  const parts = {
    yyyy: utc ? date.getUTCFullYear() : date.getFullYear(),
    MM: (utc ? date.getUTCMonth() : date.getMonth()) + 1,
    dd: utc ? date.getUTCDate() : date.getDate(),
    HH: utc ? date.getUTCHours() : date.getHours(),
    mm: utc ? date.getUTCMinutes() : date.getMinutes(),
    ss: utc ? date.getUTCSeconds() : date.getSeconds(),
  };
  return pattern.replace(/yyyy|yy|MM|dd|HH|mm|ss/g, (t) =>
    t === 'yyyy' ? String(parts.yyyy) : t === 'yy' ? pad(parts.yyyy % 100) : pad(parts[t as keyof typeof parts]),
  );
}

/**
 * Renders a name/subject template: `{date:yyyy-MM-dd}` (now), `{name}`, `{stem}` (name without extension),
 * `{ext}`, `{flow}`, `{count}`, `{attr.KEY}` (an item attribute), and any key of `values`. Unknown
 * placeholders stay as written so a typo is visible instead of silently empty.
 */
export function renderTemplate(
  template: string,
  values: Record<string, string | number | boolean | null | undefined>,
  attributes: ItemAttributes = {},
  now: Date = new Date(),
): string {
  return template.replace(/\{([A-Za-z_][\w.-]*)(?::([^}]*))?\}/g, (whole, key: string, arg: string | undefined) => {
    if (key === 'date') return formatDate(now, arg ?? 'yyyy-MM-dd');
    if (key === 'utcdate') return formatDate(now, arg ?? 'yyyy-MM-dd', true);
    if (key.startsWith('attr.')) {
      const v = attributes[key.slice(5)];
      return v === undefined || v === null ? '' : String(v);
    }
    if (key === 'stem' || key === 'ext') {
      const n = String(values.name ?? '');
      const ext = path.extname(n);
      return key === 'ext' ? ext.replace(/^\./, '') : ext ? n.slice(0, -ext.length) : n;
    }
    const v = values[key];
    return v === undefined || v === null ? whole : String(v);
  });
}
