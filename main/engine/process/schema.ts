// Config of a flow's `process:` list (parse → filter → map → batch/split → format) and `onRecordError`.
// JSONata expressions are compiled here so a typo is a config error naming its key path.
import { iconvLib, jsonataLib } from '../optional-modules.ts';
import { z } from 'zod';

export const jsonataExpr = (what: string) =>
  z.string().min(1).superRefine((src, ctx) => {
    try {
      jsonataLib()(src);
    } catch (err) {
      const e = err as { message?: string; position?: number };
      ctx.addIssue({ code: 'custom', message: `expected a JSONata ${what}, got ${JSON.stringify(src)} (${e.message ?? String(err)}${e.position !== undefined ? ` at character ${e.position}` : ''})` });
    }
  });

const encoding = z
  .string()
  .refine((e) => e === 'auto' || iconvLib().encodingExists(e), { error: (iss) => `expected a character encoding like utf-8, windows-1252, iso-8859-1, utf-16le or auto, got ${JSON.stringify(iss.input)}` })
  .default('auto')
  .meta({ description: 'Character encoding; "auto" reads a UTF-8/UTF-16 byte-order mark and falls back to UTF-8.' });

const MiB = 1024 * 1024;

// Limits that bound memory whatever a file holds; the defaults never bother normal data. A record over a
// limit goes dead under onRecordError (or fails its file) with a reason naming the limit.
const maxRecordBytes = z
  .int()
  .min(1024)
  .max(256 * MiB)
  .default(16 * MiB)
  .meta({ description: 'Largest record, in UTF-8 bytes: a CSV row, a fixed-width or ndjson line, a JSON record (the whole document when recordPath is not a plain path), an XML record or text node. A larger one goes dead naming this limit.' });

const maxDepth = z
  .int()
  .min(1)
  .max(2000)
  .default(1000)
  .meta({ description: 'Deepest nesting of arrays/objects (JSON) or elements (XML). Deeper input goes dead naming this limit instead of exhausting the stack.' });

const fieldTypes = z
  .record(z.string(), z.enum(['string', 'number', 'integer', 'boolean', 'date']))
  .optional()
  .meta({ description: 'Converts named fields; a value that does not convert makes the record bad (naming the field).' });

const csvParse = z.strictObject({
  format: z.enum(['csv', 'tsv']),
  delimiter: z.string().min(1).max(4).optional().meta({ description: 'Field separator; default "," (csv) or tab (tsv).' }),
  quote: z.string().length(1).default('"'),
  header: z.boolean().default(true).meta({ description: 'First row holds the column names; otherwise use columns.' }),
  columns: z.array(z.string().min(1)).optional().meta({ description: 'Column names when there is no header row (or to rename them).' }),
  skipLines: z.int().min(0).default(0).meta({ description: 'Lines to skip before the header (report titles).' }),
  encoding,
  decimalComma: z.boolean().default(false).meta({ description: 'Numbers are written "1.234,56" (number fields in `types` convert accordingly).' }),
  types: fieldTypes,
  trim: z.boolean().default(true),
  skipEmptyLines: z.boolean().default(true),
  maxRecordBytes,
  maxColumns: z.int().min(1).max(1_000_000).default(16_384).meta({ description: 'Most fields in one row (the header included); a wider row goes dead naming this limit. 16,384 is what spreadsheets can hold.' }),
});

const fixedColumn = z.strictObject({
  name: z.string().min(1),
  start: z.int().min(1).meta({ description: '1-based column where the field starts.' }),
  length: z.int().min(1),
});

const fixedParse = z.strictObject({
  format: z.literal('fixed-width'),
  columns: z.array(fixedColumn).min(1).meta({ description: 'Layout: each field by 1-based start column and length.' }),
  skipLines: z.int().min(0).default(0),
  encoding,
  decimalComma: z.boolean().default(false),
  types: fieldTypes,
  trim: z.boolean().default(true),
  strictLength: z.boolean().default(false).meta({ description: 'A line shorter than the layout makes the record bad.' }),
  maxRecordBytes,
});

const xmlParse = z.strictObject({
  format: z.literal('xml'),
  record: z.string().min(1).meta({ description: 'Element that holds one record: "Order", or "p:Order" with namespaces.p, or "{uri}Order".' }),
  namespaces: z.record(z.string(), z.string()).default({}).meta({ description: 'Prefixes used in `record`, mapped to namespace URIs.' }),
  encoding,
  decimalComma: z.boolean().default(false),
  types: fieldTypes,
  maxRecordBytes,
  maxDepth,
});

const jsonParse = z.strictObject({
  format: z.enum(['json', 'ndjson']),
  recordPath: jsonataExpr('expression').optional().meta({ description: 'json: JSONata selecting the records in the document (default: the array itself, or the one object). A plain path (data.items) streams the records; any other expression reads the document whole (up to maxRecordBytes).' }),
  encoding,
  decimalComma: z.boolean().default(false),
  types: fieldTypes,
  maxRecordBytes,
  maxDepth,
});

export const parseStepConfig = z.discriminatedUnion('format', [csvParse, fixedParse, xmlParse, jsonParse], {
  error: (iss) => `expected parse format csv | tsv | json | ndjson | xml | fixed-width, got ${JSON.stringify((iss.input as any)?.format ?? iss.input)}`,
});

const pdfColumn = z.strictObject({
  field: z.string().min(1),
  header: z.string().optional(),
  width: z.number().positive().optional().meta({ description: 'Relative width (default: equal shares).' }),
  align: z.enum(['left', 'right', 'center']).default('left'),
});

const commonFormat = {
  fileName: z.string().min(1).optional().meta({ description: 'Name of the output, e.g. "orders-{date:yyyy-MM-dd}.csv" ({name}, {stem}, {index}, {date:…}).' }),
};

export const formatStepConfig = z.discriminatedUnion('format', [
  z.strictObject({ format: z.literal('json'), pretty: z.boolean().default(false), ...commonFormat }),
  z.strictObject({ format: z.literal('ndjson'), ...commonFormat }),
  z.strictObject({
    format: z.literal('csv'),
    delimiter: z.string().min(1).max(4).default(','),
    header: z.boolean().default(true),
    columns: z.array(z.string().min(1)).optional().meta({ description: 'Columns in order (default: the first record\'s keys).' }),
    encoding: z.string().refine((e) => iconvLib().encodingExists(e), { error: (iss) => `expected a character encoding, got ${JSON.stringify(iss.input)}` }).default('utf-8'),
    bom: z.boolean().default(false),
    decimalComma: z.boolean().default(false).meta({ description: 'Write numbers as "1234,56" (legacy systems with a ";" delimiter).' }),
    ...commonFormat,
  }),
  z.strictObject({
    format: z.literal('xml'),
    root: z.string().min(1).default('records'),
    record: z.string().min(1).default('record'),
    ...commonFormat,
  }),
  z.strictObject({
    format: z.literal('pdf'),
    title: z.string().default('Report').meta({ description: 'Title on the first page ({date:…} allowed).' }),
    columns: z.array(pdfColumn).optional().meta({ description: 'Table columns (default: the first record\'s keys).' }),
    landscape: z.boolean().default(false),
    pageSize: z.enum(['A4', 'LETTER', 'LEGAL', 'A3']).default('A4'),
    ...commonFormat,
  }),
], { error: (iss) => `expected format json | ndjson | csv | xml | pdf, got ${JSON.stringify((iss.input as any)?.format ?? iss.input)}` });

const STEP_KINDS = ['parse', 'filter', 'map', 'batch', 'split', 'format'] as const;

/** One step: an object with exactly one of the step keys (errors then name e.g. process[0].parse.format). */
export const processStepSchema = z
  .strictObject({
    parse: parseStepConfig.optional(),
    filter: jsonataExpr('predicate').optional().meta({ description: 'JSONata predicate; records where it is not true are dropped.' }),
    map: jsonataExpr('expression').optional().meta({ description: 'JSONata expression building the output record from one input record.' }),
    batch: z.strictObject({ size: z.int().min(1).max(1_000_000) }).optional().meta({ description: 'Many records per item.' }),
    split: z
      .union([z.literal(true), z.strictObject({ key: jsonataExpr('expression').meta({ description: 'Field (JSONata) whose value identifies the record (idempotency key).' }) })], {
        error: () => 'expected true or { key: "<jsonata>" }',
      })
      .optional()
      .meta({ description: 'One item per record.' }),
    format: formatStepConfig.optional(),
  })
  .superRefine((step, ctx) => {
    const keys = Object.keys(step);
    if (keys.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `expected exactly one of ${STEP_KINDS.join(' | ')} per step, got ${keys.length === 0 ? 'none' : keys.join(' + ')}` });
    }
  });

/** The kind of a validated step. */
export function stepKind(step: ProcessStep): (typeof STEP_KINDS)[number] {
  return STEP_KINDS.find((k) => step[k] !== undefined)!;
}

export const processSchema = z
  .array(processStepSchema)
  .min(1)
  .superRefine((steps, ctx) => {
    const kinds = steps.map((s) => STEP_KINDS.find((k) => s[k] !== undefined));
    if (kinds[0] !== 'parse') ctx.addIssue({ code: 'custom', path: [0], message: `expected the first step to be parse, got ${kinds[0]}` });
    kinds.forEach((k, i) => {
      if (k === 'parse' && i > 0) ctx.addIssue({ code: 'custom', path: [i], message: 'expected one parse step, first' });
      if (k === 'format' && i !== kinds.length - 1) ctx.addIssue({ code: 'custom', path: [i], message: 'expected format to be the last step' });
      if ((k === 'batch' || k === 'split') && kinds.slice(i + 1).some((x) => x === 'filter' || x === 'map' || x === 'batch' || x === 'split')) {
        ctx.addIssue({ code: 'custom', path: [i], message: `expected ${k} after every filter/map step and only once` });
      }
    });
    const fmt = steps.find((s) => s.format !== undefined);
    if (fmt?.format?.format === 'pdf' && kinds.includes('split')) ctx.addIssue({ code: 'custom', path: [kinds.indexOf('split')], message: 'a pdf report holds many records: use batch or no batching, not split' });
  })
  .meta({ description: 'Record processing between source and destination: parse, filter, map, batch/split, format.' });

export const onRecordErrorSchema = z
  .enum(['dead', 'fail-file'])
  .default('dead')
  .meta({ description: 'A bad record: goes dead alone (file name, record number, reason) while the rest continue, or fails the whole file.' });

export type ProcessStep = z.output<typeof processStepSchema>;
export type ParseConfig = z.output<typeof parseStepConfig>;
export type FormatConfig = z.output<typeof formatStepConfig>;
export type OnRecordError = z.output<typeof onRecordErrorSchema>;
