// A flow's `process:` list compiled once and run over one body stream: parse → filter/map (JSONata) →
// batch | split | whole file → format. Outputs are produced one at a time, so memory holds one batch.
import path from 'node:path';
import type { Readable } from 'node:stream';
import type jsonata from 'jsonata';
import { jsonataLib } from '../optional-modules.ts';
import { renderTemplate } from '../../../connectors/contract.ts';
import { createFormatter, type Formatter } from './format.ts';
import { compileFast, SLOW } from './fastexpr.ts';
import { parseRecordChunks, type ParsedRecord, type Rec, type RecordError } from './parse.ts';
import type { FormatConfig, ParseConfig, ProcessStep } from './schema.ts';

interface Stage {
  kind: 'filter' | 'map';
  /** "filter (step 2)" — how errors and preview name the step. */
  label: string;
  source: string;
  expr: jsonata.Expression;
  /** Synchronous evaluator of the common subset (see fastexpr.ts); undefined: always use JSONata. */
  fast?: (input: Rec) => unknown;
}

function stage(kind: 'filter' | 'map', label: string, source: string): Stage {
  const expr = jsonataLib()(source);
  return { kind, label, source, expr, fast: compileFast(expr) };
}

/** A whole-file output is formatted in groups of 500 records or this many bytes of parsed text. */
const GROUP_BYTES = 4 * 1024 * 1024;

export interface CompiledProcess {
  parse: ParseConfig;
  stages: Stage[];
  grouping: { kind: 'batch'; size: number } | { kind: 'split'; key?: jsonata.Expression } | { kind: 'whole' };
  format?: FormatConfig;
  formatter: Formatter;
}

export function compileProcess(steps: ProcessStep[]): CompiledProcess {
  let parse: ParseConfig | undefined;
  const stages: Stage[] = [];
  let grouping: CompiledProcess['grouping'] = { kind: 'whole' };
  let format: FormatConfig | undefined;
  steps.forEach((step, i) => {
    if (step.parse) parse = step.parse;
    else if (step.filter !== undefined) stages.push(stage('filter', `filter (step ${i + 1})`, step.filter));
    else if (step.map !== undefined) stages.push(stage('map', `map (step ${i + 1})`, step.map));
    else if (step.batch) grouping = { kind: 'batch', size: step.batch.size };
    else if (step.split !== undefined) grouping = { kind: 'split', key: step.split === true ? undefined : jsonataLib()(step.split.key) };
    else if (step.format) format = step.format;
  });
  if (!parse) throw new Error('process: the first step must be parse');
  return { parse, stages, grouping, format, formatter: createFormatter(format) };
}

/** A record's problem, as handed to onError. */
export interface RecordFailure extends RecordError {
  n: number;
  line?: number;
  raw?: string | Buffer;
}

export interface OutputItem {
  /** 0-based output index (batch number, or record number − 1 for split). */
  index: number;
  name: string;
  /** Identity inside the file: "b3" (batch), "r17" (record) or "k:<key>" (split key field), "" (whole). */
  part: string;
  body: Buffer | Readable;
  contentType: string;
  /** Records in it, and the first/last record numbers (when known before streaming). */
  records?: number;
  firstRecord?: number;
  lastRecord?: number;
}

export interface RunHooks {
  /** The file's name (item name), used in output names and errors. */
  fileName: string;
  /** Called for each bad record, in order; throwing stops the run (fail-file). */
  onError(f: RecordFailure): void;
  /** Preview: sees every record after each step. */
  tap?(step: string, n: number, value: Rec): void;
  now?: Date;
}

/** Guesses the field a JSONata error is about: the input field holding the offending value. */
function fieldOf(err: { value?: unknown; token?: string }, rec: Rec): string | undefined {
  if (err.value !== undefined) {
    for (const [k, v] of Object.entries(rec)) if (v === err.value) return k;
  }
  if (err.token && Object.prototype.hasOwnProperty.call(rec, err.token)) return err.token;
  return undefined;
}

function describeJsonataError(err: unknown): string {
  const e = err as { code?: string; message?: string; value?: unknown; position?: number };
  const msg = e.message ?? String(err);
  const v = e.value !== undefined && !msg.includes(JSON.stringify(e.value)) ? ` (value ${JSON.stringify(e.value)})` : '';
  return `${e.code ? `${e.code}: ` : ''}${msg}${v}`;
}

type StageResult = { value?: Rec; error?: RecordError };
const NEEDS_ASYNC = Symbol('needs async');

function stageError(st: Stage, err: unknown, value: unknown): StageResult {
  const e = err as { value?: unknown; token?: string };
  const field = value && typeof value === 'object' ? fieldOf(e, value as Rec) : undefined;
  return { error: { step: st.label, field, reason: `${st.label}${field ? `, field ${field}` : ''}: ${describeJsonataError(err)}` } };
}

/** A map's result: the new record, or a result that ends the record here (dropped or an error). */
function mapResult(st: Stage, result: unknown): StageResult {
  if (result === undefined) return {}; // a map that yields nothing drops the record
  if (!result || typeof result !== 'object' || Array.isArray(result)) {
    return { error: { step: st.label, reason: `${st.label}: expected an object, got ${Array.isArray(result) ? 'an array' : JSON.stringify(result)}` } };
  }
  return { value: result as Rec };
}

/** The stages on their synchronous fast paths; NEEDS_ASYNC (nothing tapped) when one needs JSONata itself. */
function applyStagesSync(stages: Stage[], rec: ParsedRecord, hooks: RunHooks): StageResult | typeof NEEDS_ASYNC {
  let value: unknown = rec.value;
  // preview's taps are held back until the fast path is sure to finish (else JSONata runs it all again)
  const taps: Array<[string, Rec]> | undefined = hooks.tap ? [] : undefined;
  let out: StageResult | undefined;
  for (const st of stages) {
    if (!st.fast) return NEEDS_ASYNC;
    let result: unknown;
    try {
      result = st.fast(value as Rec);
    } catch (err) {
      if (err === SLOW) return NEEDS_ASYNC;
      out = stageError(st, err, value);
      break;
    }
    if (st.kind === 'filter') {
      if (result !== true) {
        out = {};
        break;
      }
    } else {
      const m = mapResult(st, result);
      if (!m.value) {
        out = m;
        break;
      }
      value = m.value;
    }
    taps?.push([st.label, value as Rec]);
  }
  if (taps) for (const [label, v] of taps) hooks.tap!(label, rec.n, v);
  return out ?? { value: value as Rec };
}

/** Runs the filter/map stages over one record with JSONata: its output, nothing when filtered out, or an error. */
async function applyStages(stages: Stage[], rec: ParsedRecord, hooks: RunHooks): Promise<StageResult> {
  let value: unknown = rec.value;
  for (const st of stages) {
    let result: unknown;
    try {
      result = await st.expr.evaluate(value);
    } catch (err) {
      return stageError(st, err, value);
    }
    if (st.kind === 'filter') {
      if (result !== true) return {};
    } else {
      const m = mapResult(st, result);
      if (!m.value) return m;
      value = m.value;
    }
    hooks.tap?.(st.label, rec.n, value as Rec);
  }
  return { value: value as Rec };
}

export interface TransformedRecord {
  n: number;
  value: Rec;
  /** Size of the parsed record's text, where the parser knew it. */
  bytes?: number;
}

/**
 * Parsed and transformed records of one body, in order, a parsed chunk at a time (records on the fast path
 * never wait on a promise); errors go to hooks.onError.
 */
export async function* transformedRecords(input: AsyncIterable<Buffer>, proc: CompiledProcess, hooks: RunHooks): AsyncGenerator<TransformedRecord[]> {
  for await (const recs of parseRecordChunks(input, proc.parse)) {
    const outs: TransformedRecord[] = [];
    for (const rec of recs) {
      if (rec.error || !rec.value) {
        hooks.onError({ ...rec.error!, n: rec.n, line: rec.line, raw: rec.raw });
        continue;
      }
      hooks.tap?.('parse', rec.n, rec.value);
      let out = applyStagesSync(proc.stages, rec, hooks);
      if (out === NEEDS_ASYNC) out = await applyStages(proc.stages, rec, hooks);
      if (out.error) {
        hooks.onError({ ...out.error, n: rec.n, line: rec.line, raw: rec.raw ?? JSON.stringify(rec.value) });
        continue;
      }
      if (out.value) outs.push({ n: rec.n, value: out.value, bytes: rec.bytes });
    }
    if (outs.length > 0) yield outs;
  }
}

function outputName(proc: CompiledProcess, fileName: string, index: number, part: string, now: Date): string {
  const ext = proc.formatter.ext;
  const stem = fileName.slice(0, fileName.length - path.extname(fileName).length) || 'records';
  const tpl = proc.format?.fileName;
  const indexText = proc.grouping.kind === 'split' ? String(index + 1).padStart(6, '0') : String(index + 1).padStart(5, '0');
  if (tpl) {
    const name = renderTemplate(tpl, { name: fileName, index: indexText, part }, {}, now);
    if (proc.grouping.kind === 'whole' || tpl.includes('{index}')) return name;
    const e = path.extname(name);
    return `${name.slice(0, name.length - e.length)}-${indexText}${e}`;
  }
  if (proc.grouping.kind === 'whole') return `${stem}.${ext}`;
  return `${stem}-${indexText}.${ext}`;
}

/**
 * Runs the process over one body. Batch/split outputs carry their bytes; a whole-file output carries a
 * stream that pulls the records as it is read (its bad records reach onError while it is drained).
 */
export async function* runProcess(input: AsyncIterable<Buffer>, proc: CompiledProcess, hooks: RunHooks): AsyncGenerator<OutputItem> {
  const now = hooks.now ?? new Date();
  const records = transformedRecords(input, proc, hooks);
  const g = proc.grouping;
  if (g.kind === 'whole') {
    // Records reach the formatter 500 at a time, or sooner when they are large (at most a few MiB held).
    const groups = async function* () {
      let chunk: Rec[] = [];
      let bytes = 0;
      for await (const recs of records) {
        for (const r of recs) {
          chunk.push(r.value);
          bytes += r.bytes ?? 0;
        }
        if (chunk.length >= 500 || bytes >= GROUP_BYTES) {
          yield chunk;
          chunk = [];
          bytes = 0;
        }
      }
      if (chunk.length > 0) yield chunk;
    };
    yield { index: 0, name: outputName(proc, hooks.fileName, 0, '', now), part: '', body: proc.formatter.stream(groups(), now), contentType: proc.formatter.contentType };
    return;
  }
  if (g.kind === 'split') {
    for await (const recs of records) {
      for (const r of recs) {
        let part = `r${r.n}`;
        if (g.key) {
          let key: unknown;
          try {
            key = await g.key.evaluate(r.value);
          } catch (err) {
            hooks.onError({ step: 'split', reason: `split key: ${describeJsonataError(err)}`, n: r.n, raw: JSON.stringify(r.value) });
            continue;
          }
          if (key === undefined || key === null || key === '') {
            hooks.onError({ step: 'split', reason: 'split key: the record has no key value', n: r.n, raw: JSON.stringify(r.value) });
            continue;
          }
          part = `k:${typeof key === 'object' ? JSON.stringify(key) : String(key)}`;
        }
        const body = await proc.formatter.batch([r.value], now, true);
        yield { index: r.n - 1, name: outputName(proc, hooks.fileName, r.n - 1, part, now), part, body, contentType: proc.formatter.contentType, records: 1, firstRecord: r.n, lastRecord: r.n };
      }
    }
    return;
  }
  let batch: Rec[] = [];
  let first = 0;
  let last = 0;
  let index = 0;
  const emit = async (): Promise<OutputItem> => {
    const body = await proc.formatter.batch(batch, now);
    const out: OutputItem = { index, name: outputName(proc, hooks.fileName, index, `b${index}`, now), part: `b${index}`, body, contentType: proc.formatter.contentType, records: batch.length, firstRecord: first, lastRecord: last };
    index++;
    batch = [];
    return out;
  };
  for await (const recs of records) {
    for (const r of recs) {
      if (batch.length === 0) first = r.n;
      last = r.n;
      batch.push(r.value);
      if (batch.length >= g.size) yield await emit();
    }
  }
  if (batch.length > 0) yield await emit();
}
