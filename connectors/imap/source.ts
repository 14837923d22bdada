// IMAP source: takes attachments (or whole messages) from a mailbox. New mail is noticed by IMAP IDLE when
// the server offers it (else polled), or looked for on the flow's schedule; both look at everything new at
// start-up. A UIDVALIDITY/UID checkpoint commits with the items it covers, and the Message-ID is part of
// every item's identity, so a message is never taken twice, even when the server renumbers the mailbox.
// The message is moved, deleted or flagged only once every item taken from it was delivered.
import crypto from 'node:crypto';
import type { ImapFlow, FetchMessageObject, MessageEnvelopeObject, SearchObject } from 'imapflow';
import {
  errorMessage,
  type CheckResult,
  type ConnectorEnv,
  type ConnectorLogger,
  type DryRunOptions,
  type DryRunResult,
  type EmitResult,
  type ItemAttributes,
  type NewItem,
  type SettledItem,
  type Source,
  type SourceContext,
  type SourceState,
} from '../contract.ts';
import { accessTokensFor, classify, defaultPort, ImapProblem, loadImapFlow, openImap, serverLabel, type AccessTokens } from './client.ts';
import { LazyDownload, readAll } from './lazy-download.ts';
import { attachmentsOf, nameMatcher, textMatcher, type Attachment } from './parts.ts';
import type { ImapSourceConfig } from './schema.ts';

/** Parts up to this size (as sent) are fetched into memory together; larger ones stream into the content store. */
const SMALL_PART = 256 * 1024;
/** Messages whose metadata is fetched at once. */
const FETCH_CHUNK = 200;
/** An emit() batch holds at most this many bytes in memory (streamed parts do not count). */
const BATCH_BYTES = 8 * 1024 * 1024;
const BATCH_ITEMS = 256;
/** Large parts are fetched in pieces of this size (one round trip each). */
const DOWNLOAD_CHUNK = 1024 * 1024;
/** With IDLE, the mailbox is still looked at this often (a missed notification is caught). */
const IDLE_RECONCILE_MS = 10 * 60_000;
/** After a refused login, the next attempt waits this long (an account is not locked by Ferry's retries). */
const AUTH_RETRY_MS = 5 * 60_000;
/** A scheduled flow's connection is closed after this long unused. */
const SESSION_IDLE_MS = 2 * 60_000;

/** Where the source stands in the mailbox: every message up to this UID (of this UIDVALIDITY) was looked at. */
interface Checkpoint {
  uidValidity: string;
  uid: number;
}

/** One message's share of an emit() batch. */
interface MessagePlan {
  uid: number;
  items: NewItem[];
  subject: string;
}

type TakeOutcome = 'done' | 'blocked';

/**
 * A mailbox name of the config in the form imapflow joins with the server's own hierarchy separator:
 * "INBOX/Processed" is INBOX.Processed on a server that separates levels with "." (Dovecot, Courier).
 */
function mailboxPath(name: string): string | string[] {
  return name.includes('/') ? name.split('/').filter(Boolean) : name;
}

/** The server cannot decode a part's transfer encoding itself (FETCH BINARY: UNKNOWN-CTE): the client does. */
function unknownEncoding(err: unknown): boolean {
  return /UNKNOWN-CTE/i.test(`${(err as { serverResponseCode?: string }).serverResponseCode ?? ''} ${(err as { responseText?: string }).responseText ?? ''}`);
}

/** The server's words for a failed command (imapflow keeps them on the error). */
function serverSaid(err: unknown): string {
  const e = err as { responseText?: string; serverResponseCode?: string };
  const text = (e.responseText ?? errorMessage(err)).replace(/\s*\[[^\]]*\d{2}:\d{2}:\d{2}\]\s*$/, '');
  return e.serverResponseCode ? `${e.serverResponseCode}: ${text}` : text;
}

export class ImapSource implements Source {
  readonly scanOnStart = true;
  private readonly cfg: ImapSourceConfig;
  private readonly log: ConnectorLogger;
  private readonly tokens?: AccessTokens;
  private readonly label: string;
  private readonly wantsFrom: (text: string) => boolean;
  private readonly wantsSubject: (text: string) => boolean;
  private readonly wantsName: (name: string) => boolean;
  private client?: ImapFlow;
  private connecting?: Promise<ImapFlow>;
  private sessionTimer?: NodeJS.Timeout;
  private state?: SourceState;
  /** Called when the server reports new mail or the connection closes (watch mode). */
  private nudge?: (why: 'mail' | 'closed') => void;
  private watching = false;
  private targetReady = false;
  /** UIDs found gone while their parts were downloaded (expunged meanwhile): skipped, not retried. */
  private readonly gone = new Set<number>();

  constructor(cfg: ImapSourceConfig, env: ConnectorEnv) {
    this.cfg = cfg;
    this.log = env.log;
    this.tokens = accessTokensFor(cfg, env);
    this.label = `${serverLabel(cfg)}/${cfg.mailbox}`;
    this.wantsFrom = textMatcher(cfg.from);
    this.wantsSubject = textMatcher(cfg.subject);
    this.wantsName = nameMatcher(cfg.include, cfg.exclude);
  }

  private get where(): string {
    return `${this.cfg.host}:${defaultPort(this.cfg)}`;
  }

  private get checkpointKey(): string {
    return `uid:${this.cfg.mailbox}`;
  }

  async prepare(): Promise<void> {
    await loadImapFlow();
  }

  // ---------------------------------------------------------------- connection

  /** The shared, logged-in connection (opened on demand; a closed one is replaced). */
  private async session(): Promise<ImapFlow> {
    clearTimeout(this.sessionTimer);
    if (this.client?.usable) return this.client;
    this.connecting ??= (async () => {
      const client = await openImap({ cfg: this.cfg, log: this.log, tokens: this.tokens });
      client.on('exists', (info: { count: number; prevCount: number }) => {
        if (info.count > info.prevCount) this.nudge?.('mail');
      });
      // the mailbox went away under the connection (deleted, renamed, made again): look at it afresh
      client.on('mailboxClose', () => this.nudge?.('closed'));
      client.on('close', () => {
        if (this.client === client) this.client = undefined;
        this.nudge?.('closed');
      });
      this.client = client;
      return client;
    })().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** A scheduled flow hangs up after a while unused (a watching one keeps its IDLE connection). */
  private idleLater(): void {
    if (this.watching) return;
    clearTimeout(this.sessionTimer);
    this.sessionTimer = setTimeout(() => void this.hangUp(), SESSION_IDLE_MS);
    this.sessionTimer.unref();
  }

  private async hangUp(): Promise<void> {
    clearTimeout(this.sessionTimer);
    const c = this.client;
    this.client = undefined;
    if (!c) return;
    await Promise.race([c.logout().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    c.close();
  }

  /** Runs fn with the mailbox selected (imapflow queues other users of the connection meanwhile). */
  private async inMailbox<T>(fn: (client: ImapFlow) => Promise<T>): Promise<T> {
    const client = await this.session();
    let lock;
    try {
      lock = await client.getMailboxLock(mailboxPath(this.cfg.mailbox));
    } catch (err) {
      throw this.mailboxProblem(err, this.cfg.mailbox);
    }
    try {
      return await fn(client);
    } finally {
      lock.release();
      this.idleLater();
    }
  }

  private mailboxProblem(err: unknown, mailbox: string): Error {
    if (err instanceof ImapProblem) return err;
    const e = err as { responseText?: string; serverResponseCode?: string };
    if (e.serverResponseCode === 'NONEXISTENT' || /doesn't exist|does not exist|not found|unknown mailbox/i.test(e.responseText ?? errorMessage(err))) {
      return new ImapProblem('mailbox', `mailbox "${mailbox}" does not exist on ${this.where}`);
    }
    const [kind, message] = classify(err, this.cfg, this.where);
    return new ImapProblem(kind, message);
  }

  // ---------------------------------------------------------------- check and dry run

  /** Runs fn on a connection of its own (check and dry run never use the flow's); a failure in check's words. */
  private async onOwnConnection<T>(fn: (client: ImapFlow) => Promise<T>): Promise<T | { ok: false; message: string }> {
    let client: ImapFlow | undefined;
    try {
      client = await openImap({ cfg: this.cfg, log: this.log, tokens: this.tokens });
      return await fn(client);
    } catch (err) {
      return { ok: false, message: this.reason(err) };
    } finally {
      if (client) {
        await client.logout().catch(() => undefined);
        client.close();
      }
    }
  }

  async check(): Promise<CheckResult> {
    return this.onOwnConnection(async (client) => {
      const status = await client.status(mailboxPath(this.cfg.mailbox), { messages: true, unseen: true }).catch((err) => {
        throw this.mailboxProblem(err, this.cfg.mailbox);
      });
      if (!status) throw new ImapProblem('mailbox', `mailbox "${this.cfg.mailbox}" does not exist on ${this.where}`);
      const notes = [`${status.messages ?? 0} messages (${status.unseen ?? 0} unseen)`];
      notes.push(client.capabilities.has('IDLE') ? 'IDLE: new mail is taken as it arrives' : `no IDLE: with trigger on change the mailbox is looked at every ${this.cfg.pollSeconds} s`);
      const after = this.cfg.afterDelivery;
      if (after.action === 'move') {
        const there = await client.status(mailboxPath(after.to), { messages: true }).catch(() => false);
        notes.push(there ? `delivered messages go to "${after.to}"` : `"${after.to}" does not exist yet: Ferry creates it on the first move`);
      }
      return { ok: true as const, message: `${this.label}: ${notes.join('; ')}` };
    });
  }

  async dryRun(opts: DryRunOptions = {}): Promise<DryRunResult> {
    const max = opts.maxFiles ?? 1000;
    return this.onOwnConnection(async (client) => {
      const lock = await client.getMailboxLock(mailboxPath(this.cfg.mailbox), { readOnly: true }).catch((err) => {
        throw this.mailboxProblem(err, this.cfg.mailbox);
      });
      const files: Array<{ relativePath: string; size: number; mtime: string; state: 'complete' }> = [];
      try {
        const uids = ((await client.search(this.searchFrom(1), { uid: true })) || []).sort((a, b) => a - b);
        for (let i = 0; i < uids.length && files.length < max; i += FETCH_CHUNK) {
          const metas = await client.fetchAll(uids.slice(i, i + FETCH_CHUNK).join(','), { uid: true, envelope: true, bodyStructure: true, size: true, internalDate: true }, { uid: true });
          for (const m of metas.sort((a, b) => a.uid - b.uid)) {
            for (const t of this.plannedParts(m)) {
              if (files.length >= max) break;
              files.push({ relativePath: `${m.uid}/${t.name}`, size: t.size, mtime: new Date(m.internalDate ?? Date.now()).toISOString(), state: 'complete' });
            }
          }
        }
        return { ok: true as const, files, truncated: files.length >= max };
      } finally {
        lock.release();
      }
    });
  }

  // ---------------------------------------------------------------- what is taken

  private wantsMessage(env: MessageEnvelopeObject | undefined): boolean {
    const sender = env?.from?.[0] ?? env?.sender?.[0];
    return this.wantsFrom(sender?.address ?? '') && this.wantsSubject(env?.subject ?? '');
  }

  /** Names and approximate sizes of what would be taken from a message (nothing when filters leave it). */
  private plannedParts(m: FetchMessageObject): Array<{ name: string; size: number }> {
    if (!this.wantsMessage(m.envelope) || !m.bodyStructure) return [];
    const out: Array<{ name: string; size: number }> = [];
    if (this.cfg.take !== 'message') {
      for (const a of attachmentsOf(m.bodyStructure)) if (this.wantsName(a.fileName)) out.push({ name: a.fileName, size: Math.round(a.encodedSize * 0.74) });
    }
    if (this.cfg.take !== 'attachments' && (this.cfg.take === 'message' || out.length > 0)) out.push({ name: this.messageName(m.envelope), size: m.size ?? 0 });
    return out;
  }

  private messageName(env: MessageEnvelopeObject | undefined): string {
    const stem = (env?.subject ?? '').replace(/[\u0000-\u001f<>:"/\\|?*]/g, '_').trim().slice(0, 100) || 'message';
    return `${stem}.${this.cfg.messageAs === 'raw' ? 'eml' : 'txt'}`;
  }

  /** SEARCH for messages from a UID on that are not taken yet (not deleted; with flag, not carrying the keyword). */
  private searchFrom(uid: number): SearchObject {
    const q: SearchObject = { uid: `${uid}:*`, deleted: false };
    if (this.cfg.afterDelivery.action === 'flag') q.unKeyword = this.cfg.afterDelivery.keyword;
    return q;
  }

  /** The stable identity of a message: its Message-ID, or (rare) a digest of its envelope. */
  private messageKey(m: FetchMessageObject): string {
    const id = m.envelope?.messageId?.trim();
    if (id) return `mid:${id}`;
    const env = m.envelope;
    const digest = crypto
      .createHash('sha256')
      .update(JSON.stringify([env?.date, env?.from?.map((a) => a.address), env?.subject, m.size]))
      .digest('hex')
      .slice(0, 32);
    return `env:${digest}`;
  }

  /** Builds the items of one message: small parts fetched now in one round trip, large ones as lazy streams. */
  private async itemsOf(client: ImapFlow, m: FetchMessageObject, uidValidity: string): Promise<{ items: NewItem[]; bytes: number }> {
    if (!this.wantsMessage(m.envelope) || !m.bodyStructure) return { items: [], bytes: 0 };
    const attachments = this.cfg.take === 'message' ? [] : attachmentsOf(m.bodyStructure).filter((a) => this.wantsName(a.fileName));
    const withMessage = this.cfg.take === 'message' || (this.cfg.take === 'both' && attachments.length > 0);
    if (attachments.length === 0 && !withMessage) return { items: [], bytes: 0 };
    const env = m.envelope;
    const sender = env?.from?.[0] ?? env?.sender?.[0];
    const key = this.messageKey(m);
    const partCount = attachments.length + (withMessage ? 1 : 0);
    const common: ItemAttributes = {
      from: sender?.address ?? null,
      fromName: sender?.name || null,
      to: (env?.to ?? []).map((a) => a.address).filter(Boolean).join(', ') || null,
      subject: env?.subject ?? null,
      date: env?.date ? new Date(env.date).toISOString() : null,
      messageId: env?.messageId ?? null,
      mailbox: this.cfg.mailbox,
      uid: m.uid,
      uidValidity,
      partCount,
      server: serverLabel(this.cfg),
    };
    const items: NewItem[] = [];
    let bytes = 0;
    const small = attachments.filter((a) => a.encodedSize <= SMALL_PART);
    const fetched = small.length > 0 ? await this.fetchSmall(client, m.uid, small) : new Map<string, Buffer>();
    for (const a of attachments) {
      const inMemory = fetched.get(a.part);
      const attributes: ItemAttributes = { ...common, part: a.part, fileName: a.fileName, contentType: a.contentType };
      const body = inMemory ? { bytes: inMemory } : { stream: this.lazyPart(client, m.uid, a.part) };
      if (inMemory) bytes += inMemory.length;
      items.push({ sourceKey: `imap:${key}|${a.part}`, name: a.fileName, attributes, body });
    }
    if (withMessage) {
      const attributes: ItemAttributes = { ...common, part: 'message', fileName: this.messageName(env), contentType: this.cfg.messageAs === 'raw' ? 'message/rfc822' : 'text/plain; charset=utf-8' };
      let body: NewItem['body'];
      if (this.cfg.messageAs === 'text') {
        body = { bytes: await this.textOf(client, m.uid) };
        bytes += body.bytes.length;
      } else if ((m.size ?? 0) <= SMALL_PART) {
        body = { bytes: await readAll(await this.openDownload(client, m.uid)) };
        bytes += body.bytes.length;
      } else {
        body = { stream: this.lazyPart(client, m.uid) };
      }
      items.push({ sourceKey: `imap:${key}|${this.cfg.messageAs === 'raw' ? 'message' : 'text'}`, name: this.messageName(env), attributes, body });
    }
    return { items, bytes };
  }

  /** Small parts of one message in one FETCH, transfer encoding removed, bytes as sent (no charset conversion). */
  private async fetchSmall(client: ImapFlow, uid: number, parts: Attachment[]): Promise<Map<string, Buffer>> {
    const ids = parts.map((p) => p.part);
    const got = await client.downloadMany(String(uid), ids, { uid: true, binary: true }).catch((err: unknown) => {
      if (!unknownEncoding(err)) throw err;
      return client.downloadMany(String(uid), ids, { uid: true });
    });
    const out = new Map<string, Buffer>();
    for (const p of parts) {
      const content = (got as Record<string, { content?: Buffer | null } | undefined>)[p.part]?.content;
      if (content) out.set(p.part, content);
    }
    if (out.size === 0 && parts.length > 0 && !(await this.exists(client, uid))) this.gone.add(uid);
    return out;
  }

  private async exists(client: ImapFlow, uid: number): Promise<boolean> {
    return (await client.fetchOne(String(uid), { uid: true }, { uid: true }).catch(() => false)) !== false;
  }

  /** Opens the stream of one part (or, without part, of the whole raw message). */
  private async openDownload(client: ImapFlow, uid: number, part?: string) {
    const options = { uid: true, decodeText: false, chunkSize: DOWNLOAD_CHUNK };
    // a part comes decoded by the server (FETCH BINARY, where offered): several times faster than base64 in JavaScript
    const d = part === undefined
      ? await client.download(String(uid), undefined, options)
      : await client.download(String(uid), part, { ...options, binary: true }).catch((err: unknown) => {
        if (!unknownEncoding(err)) throw err;
        return client.download(String(uid), part, options);
      });
    if (!('content' in d) || !d.content) {
      this.gone.add(uid);
      throw new Error(`message ${uid} is gone from ${this.cfg.mailbox} (expunged meanwhile)`);
    }
    return d.content;
  }

  /**
   * A large part's stream, downloaded when the content store reads it, one at a time: interleaved partial
   * fetches of several parts make a server decode each part from its start again for every piece (Dovecot
   * keeps one decoded part; three 50 MB attachments took 100 s interleaved, 3 s one after the other).
   */
  private lazyPart(client: ImapFlow, uid: number, part?: string): LazyDownload {
    return new LazyDownload(async () => {
      const release = await this.downloadTurn();
      try {
        const stream = await this.openDownload(client, uid, part);
        stream.once('close', release);
        return stream;
      } catch (err) {
        release();
        throw err;
      }
    });
  }

  private downloads: Promise<void> = Promise.resolve();

  /** Waits for the downloads before this one; the returned function lets the next one go. */
  private async downloadTurn(): Promise<() => void> {
    let release!: () => void;
    const before = this.downloads;
    this.downloads = new Promise<void>((resolve) => (release = resolve));
    await before;
    return release;
  }

  /** The text body of a message (mailparser turns HTML-only mail into text), read while attachments stream past. */
  private async textOf(client: ImapFlow, uid: number): Promise<Buffer> {
    const { MailParser } = await import('mailparser');
    const parser = new MailParser({ skipImageLinks: true });
    let text = '';
    const done = new Promise<void>((resolve, reject) => {
      parser.on('data', (data: { type: string; text?: string; content?: NodeJS.ReadableStream; release?: () => void }) => {
        if (data.type === 'text') text = data.text ?? '';
        else if (data.type === 'attachment' && data.content) {
          data.content.on('end', () => data.release?.());
          data.content.resume();
        }
      });
      parser.once('end', resolve);
      parser.once('error', reject);
    });
    const source = await this.openDownload(client, uid);
    source.once('error', (err) => parser.destroy(err));
    source.pipe(parser);
    await done;
    return Buffer.from(text, 'utf8');
  }

  // ---------------------------------------------------------------- taking

  /**
   * Takes every new message (in UID order) and commits each batch with the checkpoint it reaches. One run at
   * a time: a request meanwhile ("run now" while IDLE brought mail) runs once more after the current one.
   */
  private takeNew(ctx: SourceContext): Promise<TakeOutcome> {
    const next = this.taking.then(() => this.takeNow(ctx));
    this.taking = next.catch(() => undefined);
    return next;
  }

  private taking: Promise<unknown> = Promise.resolve();

  private async takeNow(ctx: SourceContext): Promise<TakeOutcome> {
    this.state = ctx.state;
    for (;;) {
      const round = await this.inMailbox(async (client) => {
        const box = client.mailbox;
        if (!box) throw new ImapProblem('mailbox', `mailbox "${this.cfg.mailbox}" could not be opened`);
        const uidValidity = String(box.uidValidity);
        const cp = ctx.state.get<Checkpoint>(this.checkpointKey);
        if (cp && cp.uidValidity !== uidValidity) {
          ctx.log.warn({ mailbox: this.cfg.mailbox, was: cp.uidValidity, now: uidValidity }, 'the mailbox was renumbered (UIDVALIDITY changed): every message is looked at again; those already taken are recognised by their Message-ID');
        }
        const after = cp && cp.uidValidity === uidValidity ? cp.uid : 0;
        // `n:*` always includes the highest message, even below n: keep only the new ones
        const uids = ((await client.search(this.searchFrom(after + 1), { uid: true })) || []).filter((u) => u > after).sort((a, b) => a - b);
        if (uids.length === 0) return 'done' as const;
        const chunk = uids.slice(0, FETCH_CHUNK);
        const metas = await client.fetchAll(chunk.join(','), { uid: true, envelope: true, bodyStructure: true, size: true }, { uid: true });
        const byUid = new Map(metas.map((m) => [m.uid, m]));
        return this.takeMessages(ctx, client, uidValidity, chunk, byUid);
      });
      if (round !== 'more') return round;
      if (ctx.signal.aborted) return 'blocked';
    }
  }

  /** Takes one chunk of messages in batches; 'more' when the chunk was taken whole. */
  private async takeMessages(ctx: SourceContext, client: ImapFlow, uidValidity: string, uids: number[], metas: Map<number, FetchMessageObject>): Promise<TakeOutcome | 'more'> {
    let batch: MessagePlan[] = [];
    let bytes = 0;
    let items = 0;
    const flush = async (): Promise<boolean> => {
      const plans = batch;
      batch = [];
      bytes = items = 0;
      return plans.length === 0 ? true : this.emitBatch(ctx, plans, uidValidity);
    };
    for (const uid of uids) {
      if (ctx.signal.aborted) return 'blocked';
      const m = metas.get(uid);
      let plan: MessagePlan;
      if (!m) plan = { uid, items: [], subject: '' }; // expunged since the search
      else {
        let built;
        try {
          built = await this.itemsOf(client, m, uidValidity);
        } catch (err) {
          if (this.gone.delete(uid)) built = { items: [], bytes: 0 };
          else {
            if (!(await flush())) return 'blocked';
            throw err;
          }
        }
        plan = { uid, items: built.items, subject: m.envelope?.subject ?? '' };
        bytes += built.bytes;
        items += built.items.length;
      }
      batch.push(plan);
      if (bytes >= BATCH_BYTES || items >= BATCH_ITEMS) {
        if (!(await flush())) return 'blocked';
      }
    }
    return (await flush()) ? 'more' : 'blocked';
  }

  /**
   * Queues the items of a run of messages with the checkpoint after the last one, in one transaction. When
   * something was not queued (back pressure, a download that failed), the engine does not write that
   * checkpoint; the source then moves it only past the messages before the first one not fully queued.
   */
  private async emitBatch(ctx: SourceContext, plans: MessagePlan[], uidValidity: string): Promise<boolean> {
    const items = plans.flatMap((p) => p.items);
    const last = plans[plans.length - 1].uid;
    const checkpoint = { key: this.checkpointKey, value: { uidValidity, uid: last } satisfies Checkpoint };
    let result: EmitResult;
    try {
      result = await ctx.emit(items, checkpoint);
    } finally {
      for (const item of items) if ('stream' in item.body && !item.body.stream.destroyed) item.body.stream.destroy();
    }
    const failed = new Map(result.failed.map((f) => [f.item, f.error]));
    const deferred = new Set(result.deferred ?? (result.refused ? items : []));
    if (failed.size === 0 && deferred.size === 0) {
      this.gone.clear();
      return true;
    }
    // the first message something of which is neither queued nor gone stops the run
    let reached: number | undefined;
    let stopper: { plan: MessagePlan; error?: string } | undefined;
    for (const plan of plans) {
      const notDone = plan.items.find((i) => deferred.has(i) || (failed.has(i) && !this.gone.has(plan.uid)));
      if (notDone) {
        stopper = { plan, error: failed.get(notDone) };
        break;
      }
      reached = plan.uid;
    }
    this.gone.clear();
    if (reached !== undefined) ctx.state.set(this.checkpointKey, { uidValidity, uid: reached } satisfies Checkpoint);
    if (stopper?.error) {
      ctx.problem(`cannot take message ${stopper.plan.uid} ("${stopper.plan.subject}") from ${this.label}: ${stopper.error}; trying again later`);
    } else if (result.refused) {
      ctx.log.info({ reason: result.refused }, 'new mail waits in the mailbox: intake is paused');
    }
    return stopper === undefined;
  }

  async scan(ctx: SourceContext): Promise<void> {
    try {
      await this.takeNew(ctx);
    } catch (err) {
      ctx.problem(`cannot read ${this.label}: ${this.reason(err)}`);
      await this.hangUp();
    }
  }

  private reason(err: unknown): string {
    return err instanceof ImapProblem ? err.message : classify(err, this.cfg, this.where)[1];
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    this.state = ctx.state;
    this.watching = true;
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let wanted = true; // look at the whole mailbox first: what came while Ferry was off
    let wake: (() => void) | undefined;
    this.nudge = () => {
      wanted = true;
      wake?.();
    };
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(done, ms);
        function done() {
          clearTimeout(t);
          stop.signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        stop.signal.addEventListener('abort', done, { once: true });
      });
    const loop = (async () => {
      let retry = 1000;
      let failing: string | undefined;
      while (!stop.signal.aborted) {
        if (wanted) {
          wanted = false;
          let outcome: TakeOutcome;
          try {
            outcome = await this.takeNew(ctx);
            if (failing) ctx.log.info({ mailbox: this.label }, 'the mailbox can be read again');
            failing = undefined;
            ctx.failing?.(undefined);
          } catch (err) {
            if (stop.signal.aborted) break;
            const reason = `cannot read ${this.label}: ${this.reason(err)}`;
            if (reason !== failing) ctx.problem(reason);
            failing = reason;
            ctx.failing?.(reason);
            await this.hangUp();
            // a refused login is tried again rarely: servers lock accounts after repeated failures
            if (err instanceof ImapProblem && err.kind === 'auth') retry = Math.max(retry, AUTH_RETRY_MS);
            outcome = 'blocked';
          }
          if (outcome === 'blocked') {
            wanted = true;
            await pause(retry);
            retry = Math.min(retry * 2, Math.max(60_000, retry));
            continue;
          }
          retry = 1000;
        }
        // news that came while the take ran (new mail, a closed mailbox) is looked at now, not after the pause
        if (wanted) continue;
        const idle = this.client?.capabilities.has('IDLE') === true;
        const every = idle ? Math.max(this.cfg.pollSeconds * 1000, IDLE_RECONCILE_MS) : this.cfg.pollSeconds * 1000;
        await pause(every);
        wanted = true;
      }
    })();
    return async () => {
      stop.abort();
      ctx.signal.removeEventListener('abort', onAbort);
      wake?.();
      await loop;
      this.nudge = undefined;
      this.watching = false;
      await this.hangUp();
    };
  }

  // ---------------------------------------------------------------- after delivery

  async afterDelivery(item: SettledItem): Promise<void> {
    const action = this.cfg.afterDelivery;
    if (action.action === 'keep') return;
    const a = item.attributes;
    const state = this.state;
    if (!state) throw new Error('the source has not started yet');
    // every item of the message must be delivered first: remember which ones are
    const key = `delivered:${a.uidValidity}:${a.uid}`;
    const done = new Set(state.get<string[]>(key) ?? []);
    done.add(String(a.part));
    if (done.size < Number(a.partCount ?? 1)) {
      state.set(key, [...done]);
      return;
    }
    state.set(key, [...done]);
    await this.inMailbox(async (client) => {
      const uid = await this.locate(client, a);
      if (uid === undefined) return; // done by an earlier run (moved, deleted, flagged) or removed by someone
      const range = String(uid);
      if (action.action === 'flag') {
        if (!(await client.messageFlagsAdd(range, ['\\Seen', action.keyword], { uid: true }))) throw new Error(`flagging message ${uid} in ${this.cfg.mailbox} failed`);
      } else if (action.action === 'delete') {
        if (!(await client.messageDelete(range, { uid: true }))) throw new Error(`deleting message ${uid} from ${this.cfg.mailbox} failed`);
      } else {
        if (!this.targetReady) {
          // created when missing ("already exists" is no error)
          await client.mailboxCreate(mailboxPath(action.to)).catch((err: unknown) => {
            throw new Error(`cannot create mailbox "${action.to}" on ${this.where}: ${serverSaid(err)}`);
          });
          this.targetReady = true;
        }
        const moved = await client.messageMove(range, mailboxPath(action.to), { uid: true });
        if (!moved) {
          this.targetReady = false;
          throw new Error(`moving message ${uid} to "${action.to}" failed (the server refused; see the log)`);
        }
      }
    });
    state.delete(key);
  }

  /**
   * The UID of the delivered message in the mailbox now: its own UID when the mailbox was not renumbered and
   * the Message-ID still matches, else found by Message-ID; undefined when it is not there (any more) or,
   * with flag, already carries the keyword.
   */
  private async locate(client: ImapFlow, a: ItemAttributes): Promise<number | undefined> {
    const action = this.cfg.afterDelivery;
    const isDone = (flags: Set<string> | undefined) => action.action === 'flag' && flags?.has(action.keyword) === true;
    const messageId = typeof a.messageId === 'string' ? a.messageId : undefined;
    if (String(client.mailbox && client.mailbox.uidValidity) === String(a.uidValidity)) {
      const m = await client.fetchOne(String(a.uid), { uid: true, envelope: true, flags: true }, { uid: true });
      if (m && (!messageId || m.envelope?.messageId === messageId)) return isDone(m.flags) ? undefined : m.uid;
    }
    if (!messageId) return undefined;
    const found = (await client.search({ header: { 'message-id': messageId }, deleted: false }, { uid: true })) || [];
    for (const uid of found) {
      const m = await client.fetchOne(String(uid), { uid: true, flags: true }, { uid: true });
      if (m && !isDone(m.flags)) return m.uid;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.hangUp();
  }
}
