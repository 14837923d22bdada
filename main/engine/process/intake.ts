// Record processing at intake: when a flow has `process:`, each item a source emits (a file, an API page)
// is parsed and transformed as a stream, and every batch/record it yields is queued as its own item with a
// key of the parent's key + its part ("b3", "r17", "k:<id>"). A re-run of the same file (a crash, a retry)
// makes the same keys, which the queue drops as duplicates. Bad records go dead on their own, or the whole
// file does (onRecordError: fail-file).
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { errorMessage, type EmitResult, type ItemAttributes, type NewItem } from '../../../connectors/contract.ts';
import { sha256OfFile, type ContentStore, type StoredBody } from '../store/content.ts';
import { runProcess, transformedRecords, type CompiledProcess, type RecordFailure } from './pipeline.ts';
import type { OnRecordError } from './schema.ts';
import { intakeFailureIsPermanent, TransientError } from '../failures.ts';

/** Derived items are committed in chunks of this many items or bytes (one transaction each). */
const COMMIT_ITEMS = 16;
const COMMIT_BYTES = 4 * 1024 * 1024;
/** Dead records are written in chunks of this many. */
const DEAD_CHUNK = 200;

export interface DeadItem {
  item: NewItem;
  reason: string;
}

export interface ProcessIntakeDeps {
  flow: string;
  proc: CompiledProcess;
  onRecordError: OnRecordError;
  content: ContentStore;
  signal: AbortSignal;
  /** Stores bodies and commits items (+ checkpoint) in one transaction; derived items skip after-delivery. */
  commit(items: NewItem[], checkpoint?: { key: string; value: unknown }): Promise<EmitResult>;
  /** Stores bodies and commits items straight into the dead state. */
  commitDead(items: DeadItem[]): Promise<void>;
  /** Resolves once the flow may queue more (back pressure); rejects when the flow stops. */
  waitForCapacity(): Promise<void>;
  /**
   * The parent's processing started (active) or ended. Only a parent `completed` (every part queued or dead)
   * may have its after-delivery run, once its parts are settled; one cut short is taken again.
   */
  parentProcessing(parent: NewItem, active: boolean, completed?: boolean): void;
  /** Reports a file-level problem (bad records counted, a failed file). */
  problem(message: string): void;
  /** Reports what happened to a file that is not a problem (nothing in it to queue). */
  note?(message: string): void;
}

class FailFile extends Error {
  readonly failure: RecordFailure;
  constructor(f: RecordFailure) {
    super(f.reason);
    this.failure = f;
  }
}

/** "orders.csv record 17 (line 18), field Amount: …" */
export function describeFailure(fileName: string, f: RecordFailure): string {
  const where = `${fileName} record ${f.n}${f.line !== undefined ? ` (line ${f.line})` : ''}`;
  const reason = f.field && !f.reason.includes(`field ${f.field}`) ? `field ${f.field}: ${f.reason}` : f.reason;
  return `${where}: ${reason}`;
}

/** A body that can be read more than once (fail-file reads twice; stream bodies are stored first). */
interface Reopenable {
  open(): AsyncIterable<Buffer>;
  body: NewItem['body'];
  cleanup(): Promise<void>;
}

export class ProcessIntake {
  private readonly d: ProcessIntakeDeps;

  constructor(deps: ProcessIntakeDeps) {
    this.d = deps;
  }

  private async reopenable(item: NewItem): Promise<Reopenable> {
    const b = item.body;
    if ('bytes' in b) return { open: () => Readable.from([b.bytes]), body: b, cleanup: async () => undefined };
    if ('file' in b) {
      await fs.promises.access(b.file, fs.constants.R_OK);
      return { open: () => fs.createReadStream(b.file, { highWaterMark: 64 * 1024 }), body: b, cleanup: async () => undefined };
    }
    const stored: StoredBody = await this.d.content.put(b);
    if (stored.inline) {
      const bytes = stored.inline;
      return { open: () => Readable.from([bytes]), body: { bytes }, cleanup: async () => undefined };
    }
    const file = this.d.content.pathOf(stored.file!);
    return { open: () => fs.createReadStream(file, { highWaterMark: 64 * 1024 }), body: { file }, cleanup: () => this.d.content.remove(stored.file!) };
  }

  /** Processes each item in turn; the optional checkpoint is committed with the last item's outputs. */
  async emit(items: NewItem[], checkpoint?: { key: string; value: unknown }): Promise<EmitResult> {
    const result: EmitResult = { queued: 0, duplicates: [], failed: [] };
    for (const item of items) {
      if (this.d.signal.aborted) {
        result.failed.push({ item, error: 'interrupted: Ferry is stopping (the item is processed again at the next start)' });
        continue;
      }
      if (item.unchangedFrom !== undefined && 'file' in item.body) {
        // the source left recognising an unchanged content to the store: here records are made, so hash first
        let sha256: string;
        try {
          ({ sha256 } = await sha256OfFile(item.body.file));
        } catch (err) {
          result.failed.push({ item, error: errorMessage(err) });
          continue;
        }
        (result.sha256 ??= new Map()).set(item, sha256);
        if (sha256 === item.unchangedFrom) {
          (result.unchanged ??= []).push(item);
          if (item.checkpoint) await this.commitAll([], item.checkpoint);
          continue;
        }
      }
      this.d.parentProcessing(item, true);
      let completed = false;
      try {
        const r = await this.one(item);
        completed = true;
        result.queued += r.queued;
        if (r.queued === 0 && r.duplicates > 0 && r.dead === 0) result.duplicates.push(item);
      } catch (err) {
        result.failed.push({ item, error: errorMessage(err) });
      } finally {
        this.d.parentProcessing(item, false, completed);
      }
    }
    if (checkpoint) await this.commitAll([], checkpoint);
    return result;
  }

  /** Commits items, waiting out back pressure for any the queue deferred (the checkpoint goes with the last). */
  private async commitAll(items: NewItem[], checkpoint?: NewItem['checkpoint']): Promise<{ queued: number; duplicates: number }> {
    let queued = 0;
    let duplicates = 0;
    let rest = items;
    for (;;) {
      await this.d.waitForCapacity().catch((err) => Promise.reject(new TransientError(errorMessage(err), { cause: err })));
      const r = await this.d.commit(rest, checkpoint);
      if (r.failed.length > 0) throw new TransientError(r.failed[0].error);
      queued += r.queued;
      duplicates += r.duplicates.length;
      if (!r.refused) return { queued, duplicates };
      rest = r.deferred ?? [];
      if (rest.length === 0 && !checkpoint) return { queued, duplicates };
    }
  }

  /**
   * A part's attributes: the parent's, its name as relativePath (destinations name files from it), and the
   * parent's own attributes kept whole so the parent's after-delivery step sees them unchanged.
   */
  private attributesFor(parent: NewItem, name: string, extra: ItemAttributes): ItemAttributes {
    const attrs = parent.attributes ?? {};
    const rel = typeof attrs.relativePath === 'string' ? attrs.relativePath : undefined;
    const dir = rel && rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/') + 1) : '';
    return {
      ...attrs,
      ...(rel !== undefined ? { relativePath: `${dir}${name}` } : {}),
      fileName: parent.name,
      parentKey: parent.sourceKey,
      parentAttributes: JSON.stringify(attrs),
      ...extra,
    };
  }

  /**
   * A bad record as a dead item holding its raw text; a problem that ends the document (wholeFile) holds the
   * whole file, since nothing after it was read.
   */
  private deadRecord(parent: NewItem, body: Reopenable, f: RecordFailure): DeadItem {
    const reason = describeFailure(parent.name, f);
    return {
      reason,
      item: {
        sourceKey: `${parent.sourceKey}#e${f.n}`,
        name: `${parent.name}#record-${f.n}`,
        attributes: this.attributesFor(parent, `${parent.name}#record-${f.n}`, { recordNumber: f.n, line: f.line ?? null, field: f.field ?? null, step: f.step, reason: f.reason, ...(f.wholeFile ? { wholeFile: true } : {}) }),
        body: f.wholeFile ? body.body : { bytes: Buffer.isBuffer(f.raw) ? f.raw : Buffer.from(f.raw ?? '', 'utf8') },
        group: parent.group,
      },
    };
  }

  /** The whole file goes dead (its parts already queued stay queued); the source's checkpoint moves on. */
  private async deadFile(parent: NewItem, body: Reopenable, reason: string, attrs: ItemAttributes): Promise<void> {
    await this.d.commitDead([{
      reason,
      item: { ...parent, sourceKey: `${parent.sourceKey}#file`, attributes: this.attributesFor(parent, parent.name, attrs), body: body.body, checkpoint: undefined },
    }]);
    if (parent.checkpoint) await this.commitAll([], parent.checkpoint);
    this.d.problem(reason);
  }

  private async one(parent: NewItem): Promise<{ queued: number; duplicates: number; dead: number }> {
    let body: Reopenable;
    try {
      body = await this.reopenable(parent);
    } catch (err) {
      throw new TransientError(errorMessage(err), { cause: err }); // reading or storing the file: tried again
    }
    try {
      if (this.d.onRecordError === 'fail-file') {
        // First pass: find the first bad record before anything of this file is queued.
        try {
          const hooks = { fileName: parent.name, onError: (f: RecordFailure) => { throw new FailFile(f); } };
          for await (const _ of transformedRecords(body.open(), this.d.proc, hooks)) if (this.d.signal.aborted) throw new TransientError('interrupted: Ferry is stopping');
        } catch (err) {
          if (!(err instanceof FailFile)) throw err;
          const f = err.failure;
          await this.deadFile(parent, body, `file failed: ${describeFailure(parent.name, f)}`, { recordNumber: f.n, line: f.line ?? null, field: f.field ?? null, reason: f.reason });
          return { queued: 0, duplicates: 0, dead: 1 };
        }
      }
      return await this.emitOutputs(parent, body);
    } catch (err) {
      if (!intakeFailureIsPermanent(err)) throw err;
      // Not I/O: the same file fails the same way every time. It goes dead now, whole, with the reason,
      // instead of being retried forever.
      const reason = `file failed: ${parent.name} cannot be processed: ${errorMessage(err)}`;
      await this.deadFile(parent, body, reason, { reason: errorMessage(err) });
      return { queued: 0, duplicates: 0, dead: 1 };
    } finally {
      await body.cleanup();
    }
  }

  private async emitOutputs(parent: NewItem, body: Reopenable): Promise<{ queued: number; duplicates: number; dead: number }> {
    const errors: RecordFailure[] = [];
    let firstError: RecordFailure | undefined;
    let deadCount = 0;
    const hooks = {
      fileName: parent.name,
      onError: (f: RecordFailure) => {
        if (this.d.onRecordError === 'fail-file') throw new FailFile(f); // the file changed between passes
        firstError ??= f;
        errors.push(f);
      },
    };
    let pending: NewItem[] = [];
    let pendingBytes = 0;
    let queued = 0;
    let duplicates = 0;
    const flushDead = async () => {
      while (errors.length > 0) {
        const chunk = errors.splice(0, DEAD_CHUNK);
        deadCount += chunk.length;
        await this.d.commitDead(chunk.map((f) => this.deadRecord(parent, body, f))).catch((err) => Promise.reject(new TransientError(errorMessage(err), { cause: err })));
      }
    };
    // A whole-file output is a stream drained by its commit: a failure inside it (the data's) reaches the
    // commit only as text, so the error itself is kept to tell it from the store's.
    let streamError: unknown;
    let outputs = 0;
    const flush = async (checkpoint?: NewItem['checkpoint']) => {
      if (pending.length === 0 && !checkpoint) return;
      const items = pending;
      pending = [];
      pendingBytes = 0;
      try {
        const r = await this.commitAll(items, checkpoint);
        queued += r.queued;
        duplicates += r.duplicates;
      } catch (err) {
        throw streamError ?? err;
      }
    };
    for await (const out of runProcess(body.open(), this.d.proc, hooks)) {
      if (this.d.signal.aborted) throw new TransientError('interrupted: Ferry is stopping (the file is processed again at the next start)');
      outputs++;
      if (!Buffer.isBuffer(out.body)) out.body.once('error', (err) => (streamError = err));
      const item: NewItem = {
        sourceKey: `${parent.sourceKey}#${out.part}`,
        name: out.name,
        attributes: this.attributesFor(parent, out.name, {
          part: out.part,
          contentType: out.contentType,
          ...(out.records !== undefined ? { records: out.records, firstRecord: out.firstRecord ?? null, lastRecord: out.lastRecord ?? null } : {}),
        }),
        body: Buffer.isBuffer(out.body) ? { bytes: out.body } : { stream: out.body },
        group: parent.group,
      };
      pending.push(item);
      pendingBytes += Buffer.isBuffer(out.body) ? out.body.length : COMMIT_BYTES;
      // a streamed whole-file output is drained by its commit, which is where its bad records surface
      if (pending.length >= COMMIT_ITEMS || pendingBytes >= COMMIT_BYTES) await flush();
      await flushDead();
    }
    await flush(parent.checkpoint);
    await flushDead();
    if (outputs === 0 && deadCount === 0) this.d.note?.(`${parent.name} holds no records: nothing queued`);
    if (deadCount > 0) this.d.problem(`${parent.name}: ${deadCount} bad record${deadCount === 1 ? '' : 's'} went dead (first: ${describeFailure(parent.name, firstError!)})`);
    return { queued, duplicates, dead: deadCount };
  }
}
