// `ferry preview`: runs a flow's process steps over a sample file without queueing anything and reports
// the first records after every step, each bad record, and the items that would be queued.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Rec } from './parse.ts';
import { compileProcess, runProcess, type RecordFailure } from './pipeline.ts';
import { describeFailure } from './intake.ts';
import type { OnRecordError, ProcessStep } from './schema.ts';

export interface PreviewReport {
  steps: Array<{ step: string; count: number; first: Array<{ n: number; value: Rec }> }>;
  errors: Array<RecordFailure & { message: string }>;
  outputs: Array<{ name: string; bytes: number; records?: number; contentType: string; head: string }>;
  failedFile?: string;
}

const TEXT_TYPES = /json|csv|xml|text/;

export async function previewProcess(steps: ProcessStep[], onRecordError: OnRecordError, file: string, limit = 5): Promise<PreviewReport> {
  const proc = compileProcess(steps);
  const fileName = path.basename(file);
  const byStep = new Map<string, PreviewReport['steps'][number]>();
  const stepOf = (name: string) => {
    let s = byStep.get(name);
    if (!s) byStep.set(name, (s = { step: name, count: 0, first: [] }));
    return s;
  };
  // steps in config order, so a step that passes nothing still shows up
  stepOf(`parse (${proc.parse.format})`);
  for (const st of proc.stages) stepOf(st.label);
  const report: PreviewReport = { steps: [], errors: [], outputs: [] };
  const hooks = {
    fileName,
    onError: (f: RecordFailure) => {
      report.errors.push({ ...f, raw: Buffer.isBuffer(f.raw) ? f.raw.toString('utf8') : f.raw, message: describeFailure(fileName, f) });
    },
    tap: (step: string, n: number, value: Rec) => {
      const s = stepOf(step === 'parse' ? `parse (${proc.parse.format})` : step);
      s.count++;
      if (s.first.length < limit) s.first.push({ n, value: structuredClone(value) });
    },
  };
  for await (const out of runProcess(fs.createReadStream(file), proc, hooks)) {
    let bytes: Buffer;
    if (Buffer.isBuffer(out.body)) bytes = out.body;
    else {
      const parts: Buffer[] = [];
      for await (const c of out.body as Readable) parts.push(c as Buffer);
      bytes = Buffer.concat(parts);
    }
    if (report.outputs.length < limit) {
      const head = TEXT_TYPES.test(out.contentType) ? bytes.subarray(0, 600).toString('utf8') : `(${out.contentType}, starts ${JSON.stringify(bytes.subarray(0, 8).toString('latin1'))})`;
      report.outputs.push({ name: out.name, bytes: bytes.length, records: out.records, contentType: out.contentType, head });
    } else report.outputs.push({ name: out.name, bytes: bytes.length, records: out.records, contentType: out.contentType, head: '' });
  }
  if (onRecordError === 'fail-file' && report.errors.length > 0) report.failedFile = `file failed: ${report.errors[0].message} (onRecordError: fail-file: nothing of this file would be queued)`;
  report.steps = [...byStep.values()];
  return report;
}

/** The report as the lines `ferry preview` prints. */
export function previewLines(r: PreviewReport, flow: string, file: string, limit: number): string[] {
  const lines: string[] = [`Preview of flow ${flow} on ${file} (first ${limit} per step; nothing is queued)`];
  for (const s of r.steps) {
    lines.push('', `== after ${s.step}: ${s.count} record${s.count === 1 ? '' : 's'} ==`);
    for (const f of s.first) lines.push(`  #${f.n} ${JSON.stringify(f.value)}`);
    if (s.count > s.first.length) lines.push(`  … ${s.count - s.first.length} more`);
  }
  lines.push('', `== output: ${r.outputs.length} item${r.outputs.length === 1 ? '' : 's'} ==`);
  r.outputs.slice(0, limit).forEach((o, i) => {
    lines.push(`  item ${i + 1}: ${o.name} (${o.bytes} bytes${o.records !== undefined ? `, ${o.records} records` : ''}, ${o.contentType})`);
    if (o.head) for (const l of o.head.split(/\r?\n/).slice(0, 8)) lines.push(`    ${l}`);
  });
  if (r.outputs.length > limit) lines.push(`  … ${r.outputs.length - limit} more items`);
  lines.push('', `== errors: ${r.errors.length} ==`);
  for (const e of r.errors.slice(0, 50)) lines.push(`  ${e.message}`);
  if (r.errors.length > 50) lines.push(`  … ${r.errors.length - 50} more`);
  if (r.failedFile) lines.push('', r.failedFile);
  return lines;
}
