// A source context that records what a source queues, for tests that drive a source directly (no engine).
import fs from 'node:fs';
import type { EmitResult, NewItem, SourceContext, SourceState } from '../../connectors/contract.ts';

/** Code-point order, as SQLite compares keys (UTF-16 code units differ above U+FFFF). */
const byCodePoint = (a: string, b: string) => {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i].codePointAt(0)! - y[i].codePointAt(0)!;
  return x.length - y.length;
};

/**
 * A state kept in memory (a source's durable memory, without a database). `reads` counts the keys handed out by
 * each kind of read, so a test can tell how a source reads its memory.
 */
export function memoryState(): SourceState & { reads: { get: number; getMany: number; keys: number; entries: number; range: number } } {
  const mem = new Map<string, unknown>();
  const reads = { get: 0, getMany: 0, keys: 0, entries: 0, range: 0 };
  const sorted = (from: string, to: string) => [...mem.keys()].filter((k) => byCodePoint(k, from) >= 0 && byCodePoint(k, to) < 0).sort(byCodePoint);
  return {
    reads,
    get: <T>(k: string) => (reads.get++, mem.get(k) as T | undefined),
    set: (k, v) => void mem.set(k, structuredClone(v)),
    setMany: (entries) => {
      for (const [k, v] of entries) mem.set(k, structuredClone(v));
    },
    delete: (k) => void mem.delete(k),
    entries: <T>(prefix: string) => {
      const out = [...mem.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => byCodePoint(a, b)) as Array<[string, T]>;
      reads.entries += out.length;
      return out;
    },
    getMany: <T>(keys: string[]) => {
      const out = new Map<string, T>();
      for (const k of keys) if (mem.has(k)) out.set(k, mem.get(k) as T);
      reads.getMany += out.size;
      return out;
    },
    keys: (from, to, limit) => {
      const out = sorted(from, to).slice(0, limit);
      reads.keys += out.length;
      return out;
    },
    range: <T>(from: string, to: string, limit: number) => {
      const out = sorted(from, to)
        .slice(0, limit)
        .map((k) => [k, structuredClone(mem.get(k))] as [string, T]);
      reads.range += out.length;
      return out;
    },
  };
}

/** Drains a body as the engine's content store would (a stream must be read to its end, or its transfer waits). */
export async function bodyBytes(body: NewItem['body']): Promise<Buffer> {
  if ('bytes' in body) return body.bytes;
  if ('file' in body) return fs.readFileSync(body.file);
  const chunks: Buffer[] = [];
  for await (const c of body.stream) {
    chunks.push(Buffer.from(c as Buffer));
    body.recycle?.(c as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  if (body.size !== undefined && bytes.length !== body.size) throw new Error(`stream ended at ${bytes.length} of ${body.size} bytes`);
  return bytes;
}

export interface RecordingOptions {
  state?: SourceState;
  /** Back pressure: a reason while intake is refused. */
  refuse?: () => string | undefined;
  /** The store fails this item (the engine's own read of it, a full disk…) with this error. */
  failStore?: (item: NewItem) => string | undefined;
}

/** A context whose emit stores bodies in memory and writes items' checkpoints, as the engine does. */
export function recordingContext(opts: RecordingOptions = {}) {
  const emitted: Array<{ item: NewItem; bytes: Buffer }> = [];
  const problems: string[] = [];
  const stillFailing: string[] = [];
  const infos: string[] = [];
  const state = opts.state ?? memoryState();
  const quiet = () => undefined;
  const ctx: SourceContext = {
    flow: 'f',
    log: { debug: quiet, warn: quiet, error: quiet, info: (o: object | string, msg?: string) => void infos.push(typeof o === 'string' ? o : (msg ?? '')) },
    signal: new AbortController().signal,
    state,
    hasCapacity: () => !opts.refuse?.(),
    problem: (m) => void problems.push(m),
    stillFailing: (m) => void stillFailing.push(m),
    emit: async (items): Promise<EmitResult> => {
      const refused = opts.refuse?.();
      if (refused) return { queued: 0, duplicates: [], failed: [], refused, deferred: items };
      const failed: EmitResult['failed'] = [];
      for (const item of items) {
        const why = opts.failStore?.(item);
        if (why) {
          if ('stream' in item.body) item.body.stream.destroy();
          failed.push({ item, error: why });
          continue;
        }
        emitted.push({ item, bytes: await bodyBytes(item.body) });
        // the engine writes an item's checkpoint in the same transaction as the item
        if (item.checkpoint) state.set(item.checkpoint.key, item.checkpoint.value);
      }
      return { queued: items.length - failed.length, duplicates: [], failed };
    },
  };
  const names = () => emitted.map((e) => String(e.item.attributes!.relativePath)).sort();
  return { ctx, emitted, problems, stillFailing, infos, names, state };
}
