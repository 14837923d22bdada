// Pulls the central configuration: a conditional GET of configSource.url (ETag / Last-Modified) every
// pollSec through the engine's network setting, then url + ".sig"; a version that verifies against
// publicKey and validates in full (with the local file, its ${env:…} and ${secret:…} resolved here) is kept
// in the data dir and applied as the dashboard's edits are. Anything else is refused: the running flows stay
// as they are and the reason shows in status. While the server is down the pauses grow (backoff).
import fs from 'node:fs';
import { request } from 'undici';
import type { Engine } from '../engine.ts';
import { parseConfigText } from '../config/load.ts';
import { errorMessage } from '../../../connectors/contract.ts';
import { NetError } from '../../../connectors/net/index.ts';
import type { ConfigSourceConfig } from './schema.ts';
import { verifyProblem, versionOf } from './signing.ts';
import { readSourceState, saveLastGood, writeSourceState, type ConfigSourceStatus } from './store.ts';

/** What one check did. */
export type CheckOutcome =
  | { result: 'applied'; version: string }
  | { result: 'unchanged'; version: string | null }
  | { result: 'refused'; version: string | null; reason: string };

/** A fetch that failed before any version could be judged (server down, 404, too slow): the pause grows. */
class FetchProblem extends Error {}

const MAX_BACKOFF_SEC = 900;

export class ConfigSourcePoller {
  private readonly engine: Engine;
  private state: ConfigSourceStatus;
  private timer?: NodeJS.Timeout;
  private running?: Promise<CheckOutcome>;
  private failures = 0;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(engine: Engine) {
    this.engine = engine;
    const url = this.cfg.url;
    const saved = readSourceState(engine.dataDir);
    const version = engine.loaded.managed?.version ?? null;
    // what runs is what the loaded config says; the saved state adds when it was applied and its validators
    const same = saved && saved.url === url && saved.version === version;
    this.state = {
      url,
      version,
      appliedAt: same ? saved.appliedAt : null,
      checkedAt: same ? saved.checkedAt : null,
      refused: same ? saved.refused : null,
      etag: same ? (saved.etag ?? null) : null,
      lastModified: same ? (saved.lastModified ?? null) : null,
    };
  }

  private get cfg(): ConfigSourceConfig {
    return this.engine.config.configSource!;
  }

  /** The applied version, when, and the last refusal (status, dashboard, metrics and heartbeats read this). */
  status(): ConfigSourceStatus {
    const { etag: _e, lastModified: _l, ...shown } = this.state;
    return shown;
  }

  /** Checks at once, then every pollSec (longer while the server fails). */
  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.abort.abort();
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    // a local edit that removed configSource (applied without a restart) ends the polling
    if (this.stopped || !this.engine.config.configSource) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule(this.nextDelayMs()));
    }, delayMs);
    this.timer.unref();
  }

  /**
   * pollSec; after failed fetches it doubles up to 10 × pollSec (at most 15 min). Up to 10% shorter at random,
   * so agents started together spread out while a new version is still seen within pollSec.
   */
  private nextDelayMs(): number {
    const poll = this.cfg.pollSec;
    const sec = this.failures === 0 ? poll : Math.min(poll * 2 ** this.failures, Math.max(poll, Math.min(poll * 10, MAX_BACKOFF_SEC)));
    return Math.round(sec * 1000 * (1 - Math.random() * 0.1));
  }

  /** One check (also `POST /api/config/source/check`); concurrent callers share it. */
  check(): Promise<CheckOutcome> {
    this.running ??= this.checkOnce().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkOnce(): Promise<CheckOutcome> {
    const cfg = this.cfg;
    if (!cfg) return { result: 'unchanged', version: this.state.version };
    let outcome: CheckOutcome;
    try {
      outcome = await this.fetchAndApply(cfg);
      this.failures = 0;
    } catch (err) {
      if (this.stopped) return { result: 'unchanged', version: this.state.version };
      const reason = this.engine.scrubber.text(err instanceof FetchProblem ? err.message : `unexpected error: ${errorMessage(err)}`);
      if (err instanceof FetchProblem) this.failures++;
      outcome = { result: 'refused', version: (err as { version?: string }).version ?? null, reason };
    }
    if (outcome.result === 'refused') this.refuse(outcome.version, outcome.reason);
    else this.save();
    return outcome;
  }

  private refuse(version: string | null, reason: string): void {
    const first = this.state.refused?.reason !== reason || this.state.refused?.version !== version;
    this.state.refused = { version, reason, at: new Date().toISOString() };
    this.save();
    this.engine.alerts.configRefused([`central configuration ${version ?? ''} refused: ${reason}`.replace('  ', ' ')]);
    if (first) {
      this.engine.log.warn({ url: this.cfg.url, version, reason }, `central configuration refused; version ${this.state.version ?? '(none)'} keeps running`);
      this.engine.queue.addEvent('config', null, null, { refused: version, reason });
    }
  }

  private save(): void {
    try {
      writeSourceState(this.engine.dataDir, this.state);
    } catch (err) {
      this.engine.log.warn({ err: errorMessage(err) }, 'cannot write the config source state');
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { 'user-agent': 'ferry-config-source', ...this.cfg.headers, ...extra };
  }

  /** GETs a URL within the size cap and time limit; a FetchProblem names what went wrong. */
  private async get(url: string, conditional: boolean): Promise<{ status: number; bytes: Buffer; etag: string | null; lastModified: string | null }> {
    const cfg = this.cfg;
    const extra: Record<string, string> = {};
    if (conditional && this.state.version) {
      if (this.state.etag) extra['if-none-match'] = this.state.etag;
      if (this.state.lastModified) extra['if-modified-since'] = this.state.lastModified;
    }
    const timeout = AbortSignal.timeout(cfg.timeoutMs);
    const signal = AbortSignal.any([timeout, this.abort.signal]);
    const dispatcher = this.engine.dispatcherFor(url);
    try {
      const res = await request(url, { method: 'GET', headers: this.headers(extra), dispatcher, signal, headersTimeout: cfg.timeoutMs, bodyTimeout: cfg.timeoutMs });
      const etag = headerOf(res.headers.etag);
      const lastModified = headerOf(res.headers['last-modified']);
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        return { status: res.statusCode, bytes: Buffer.alloc(0), etag, lastModified };
      }
      const declared = Number(headerOf(res.headers['content-length']) ?? NaN);
      if (declared > cfg.maxBytes) {
        res.body.destroy();
        throw new FetchProblem(`too large: ${url} is ${declared} bytes (configSource.maxBytes ${cfg.maxBytes})`);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > cfg.maxBytes) {
          res.body.destroy();
          throw new FetchProblem(`too large: ${url} sent more than ${cfg.maxBytes} bytes (configSource.maxBytes)`);
        }
        chunks.push(chunk as Buffer);
      }
      return { status: 200, bytes: Buffer.concat(chunks), etag, lastModified };
    } catch (err) {
      if (err instanceof FetchProblem) throw err;
      if (timeout.aborted) throw new FetchProblem(`too slow: no complete answer from ${url} within ${cfg.timeoutMs} ms (configSource.timeoutMs)`);
      const code = (err as { code?: string }).code;
      if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_SOCKET' || code === 'ECONNRESET') {
        throw new FetchProblem(`truncated: the transfer of ${url} broke off (${errorMessage(err)})`);
      }
      const why = err instanceof NetError || code ? dispatcher.explain(err, url) : errorMessage(err);
      throw new FetchProblem(`cannot fetch ${url}: ${why}`);
    }
  }

  private async fetchAndApply(cfg: ConfigSourceConfig): Promise<CheckOutcome> {
    const file = await this.get(cfg.url, true);
    if (file.status === 304) return this.confirmed(file);
    if (file.status !== 200) throw new FetchProblem(`${cfg.url} answered HTTP ${file.status}${file.status === 404 ? ' (not found)' : ''}`);
    const version = versionOf(file.bytes);
    if (version === this.state.version) return this.confirmed(file);
    const refuse = (reason: string): CheckOutcome => ({ result: 'refused', version, reason });

    const sigUrl = `${cfg.url}.sig`;
    let sig;
    try {
      sig = await this.get(sigUrl, false);
    } catch (err) {
      return refuse(`no signature: ${errorMessage(err)}`);
    }
    if (sig.status !== 200) return refuse(`no signature: ${sigUrl} answered HTTP ${sig.status}`);
    const bad = verifyProblem(file.bytes, sig.bytes.toString('utf8'), cfg.publicKey);
    if (bad) return refuse(bad);

    // validated in full, as a whole config with this machine's local file (read now: it may have changed)
    let localText: string;
    try {
      localText = fs.readFileSync(this.engine.loaded.file, 'utf8');
    } catch (err) {
      return refuse(`cannot read the local file ${this.engine.loaded.file}: ${errorMessage(err)}`);
    }
    const parsed = parseConfigText(localText, this.engine.loaded.file, { secrets: this.engine.secrets?.lookup(), central: { text: file.bytes.toString('utf8'), version } });
    if (!parsed.ok) return refuse(`invalid: ${parsed.problems.join('; ')}`);
    if (this.stopped) return { result: 'unchanged', version: this.state.version };

    saveLastGood(this.engine.dataDir, file.bytes, sig.bytes.toString('utf8'));
    const report = await this.engine.applyConfig(parsed.value);
    const now = new Date().toISOString();
    this.state = { ...this.state, version, appliedAt: now, checkedAt: now, refused: null, etag: file.etag, lastModified: file.lastModified };
    this.engine.alerts.configAccepted();
    this.engine.queue.addEvent('config', null, null, { applied: version, url: cfg.url });
    this.engine.log.info({ version, url: cfg.url, ...report }, 'central configuration applied');
    return { result: 'applied', version };
  }

  /** The server has the running version: nothing to do, and an earlier refusal is over. */
  private confirmed(file: { etag: string | null; lastModified: string | null }): CheckOutcome {
    this.state.checkedAt = new Date().toISOString();
    if (this.state.refused) this.engine.alerts.configAccepted();
    this.state.refused = null;
    if (file.etag) this.state.etag = file.etag;
    if (file.lastModified) this.state.lastModified = file.lastModified;
    return { result: 'unchanged', version: this.state.version };
  }
}

function headerOf(v: string | string[] | undefined): string | null {
  return Array.isArray(v) ? (v[0] ?? null) : (v ?? null);
}
