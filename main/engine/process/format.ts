// Output formats: json, ndjson, csv, xml (text, built per chunk of records) and a pdf table report.
// A formatter turns one batch into bytes, or streams a whole file's records into a Readable.
import { Readable } from 'node:stream';
import { iconvLib } from '../optional-modules.ts';
import { renderTemplate } from '../../../connectors/contract.ts';
import type { Rec } from './parse.ts';
import type { FormatConfig } from './schema.ts';

export interface Formatter {
  ext: string;
  contentType: string;
  /** One batch as bytes; `single` (split): one record on its own (json: the object, not an array). */
  batch(records: Rec[], now: Date, single?: boolean): Promise<Buffer>;
  /** A whole file's records as a byte stream (records are pulled as the stream is read). */
  stream(records: AsyncIterable<Rec[]>, now: Date): Readable;
}

interface TextFormat {
  begin(first: Rec | undefined): string;
  items(records: Rec[], first: boolean): string;
  end(): string;
  encode(s: string): Buffer;
  /** json for one record (split) is the object itself, not an array */
  single?(record: Rec): string;
}

/** `prepare` loads what `make` needs, once, before the first batch or stream. */
function textFormatter(ext: string, contentType: string, make: () => TextFormat, prepare?: () => Promise<unknown>): Formatter {
  return {
    ext,
    contentType,
    async batch(records, _now, single) {
      if (prepare) await prepare();
      const f = make();
      if (single && records.length === 1 && f.single) return f.encode(f.single(records[0]));
      return f.encode(f.begin(records[0]) + f.items(records, true) + f.end());
    },
    stream(groups) {
      return Readable.from(
        (async function* () {
          if (prepare) await prepare();
          const f = make();
          let started = false;
          for await (const recs of groups) {
            if (recs.length === 0) continue;
            let s = '';
            if (!started) s += f.begin(recs[0]);
            s += f.items(recs, !started);
            started = true;
            yield f.encode(s);
          }
          yield f.encode(started ? f.end() : f.begin(undefined) + f.end());
        })(),
        { objectMode: false },
      );
    },
  };
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

// csv-stringify and pdfkit (the heavy one) load when a flow first formats csv or pdf, not at start-up.
type CsvStringify = (typeof import('csv-stringify/sync'))['stringify'];
let csvStringify: CsvStringify | undefined;
async function loadCsvStringify(): Promise<CsvStringify> {
  csvStringify ??= (await import('csv-stringify/sync')).stringify;
  return csvStringify;
}
type PdfDocumentClass = typeof import('pdfkit');

function cell(v: unknown, decimalComma: boolean): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return decimalComma ? String(v).replace('.', ',') : String(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const XML_NAME = /^[A-Za-z_][\w.-]*$/;
function xmlName(k: string): string {
  const n = k.replace(/[^\w.-]/g, '_');
  return XML_NAME.test(n) ? n : `_${n}`;
}
function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    // characters XML 1.0 cannot carry at all
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}
function xmlElement(name: string, v: unknown, indent: string): string {
  const tag = xmlName(name);
  if (Array.isArray(v)) return v.map((x) => xmlElement(name, x, indent)).join('');
  if (v === null || v === undefined) return `${indent}<${tag}/>\n`;
  if (typeof v === 'object') {
    const o = v as Rec;
    const attrs = Object.entries(o)
      .filter(([k]) => k.startsWith('@'))
      .map(([k, x]) => ` ${xmlName(k.slice(1))}="${xmlEscape(cell(x, false))}"`)
      .join('');
    const text = o['#text'];
    const children = Object.entries(o).filter(([k]) => !k.startsWith('@') && k !== '#text');
    if (children.length === 0) return `${indent}<${tag}${attrs}>${text === undefined ? '' : xmlEscape(cell(text, false))}</${tag}>\n`;
    return `${indent}<${tag}${attrs}>\n${children.map(([k, x]) => xmlElement(k, x, `${indent}  `)).join('')}${indent}</${tag}>\n`;
  }
  return `${indent}<${tag}>${xmlEscape(cell(v, false))}</${tag}>\n`;
}

export function createFormatter(cfg: FormatConfig | undefined): Formatter {
  const c = cfg ?? ({ format: 'json', pretty: false } as const);
  switch (c.format) {
    case 'json':
      return textFormatter('json', 'application/json', () => ({
        begin: () => '[',
        items: (recs, first) => (first ? '' : ',') + (c.pretty ? recs.map((r) => JSON.stringify(r, null, 2)).join(',') : JSON.stringify(recs).slice(1, -1)),
        end: () => ']',
        encode: utf8,
        single: (r) => JSON.stringify(r, null, c.pretty ? 2 : undefined),
      }));
    case 'ndjson':
      return textFormatter('ndjson', 'application/x-ndjson', () => ({
        begin: () => '',
        items: (recs) => recs.map((r) => `${JSON.stringify(r)}\n`).join(''),
        end: () => '',
        encode: utf8,
      }));
    case 'csv':
      return textFormatter('csv', 'text/csv', () => {
        let columns: string[] | undefined = c.columns;
        return {
          begin: (first) => {
            columns ??= first ? Object.keys(first) : undefined;
            const head = c.header && columns ? csvStringify!([columns], { delimiter: c.delimiter, record_delimiter: 'windows' }) : '';
            return (c.bom ? '\ufeff' : '') + head;
          },
          items: (recs) =>
            csvStringify!(
              recs.map((r) => columns!.map((k) => cell(r[k], c.decimalComma))),
              { delimiter: c.delimiter, record_delimiter: 'windows' },
            ),
          end: () => '',
          encode: (s) => (c.encoding.toLowerCase().replace('-', '') === 'utf8' ? Buffer.from(s, 'utf8') : iconvLib().encode(s, c.encoding)),
        };
      }, loadCsvStringify);
    case 'xml':
      return textFormatter('xml', 'application/xml', () => ({
        begin: () => `<?xml version="1.0" encoding="UTF-8"?>\n<${xmlName(c.root)}>\n`,
        items: (recs) => recs.map((r) => xmlElement(c.record, r, '  ')).join(''),
        end: () => `</${xmlName(c.root)}>\n`,
        encode: utf8,
      }));
    case 'pdf':
      return pdfFormatter(c);
  }
}

type PdfConfig = Extract<FormatConfig, { format: 'pdf' }>;

/** A table report: title, generated-at time, column headers repeated on every page, page numbers. */
function pdfFormatter(cfg: PdfConfig): Formatter {
  const render = (groups: AsyncIterable<Rec[]>, now: Date): Readable =>
    Readable.from(
      (async function* () {
        const { default: PDFDocument } = await import('pdfkit');
        yield* draw(PDFDocument, groups, now);
      })(),
      { objectMode: false },
    );
  const draw = (PDFDocument: PdfDocumentClass, groups: AsyncIterable<Rec[]>, now: Date): AsyncGenerator<Buffer> => {
    const title = renderTemplate(cfg.title, {}, {}, now);
    const doc = new PDFDocument({ size: cfg.pageSize, layout: cfg.landscape ? 'landscape' : 'portrait', margin: 40, compress: true, bufferPages: false, info: { Title: title, Producer: 'Ferry', CreationDate: now } });
    const chunks: Buffer[] = [];
    let ended = false;
    let wake: (() => void) | undefined;
    doc.on('data', (c: Buffer) => {
      chunks.push(c);
      wake?.();
    });
    doc.on('end', () => {
      ended = true;
      wake?.();
    });
    const left = doc.page.margins.left;
    const usable = doc.page.width - doc.page.margins.left - doc.page.margins.right;
    const bottom = () => doc.page.height - doc.page.margins.bottom - 20;
    let columns: Array<{ field: string; header: string; x: number; w: number; align: 'left' | 'right' | 'center' }> | undefined;
    let page = 1;
    const footer = () => {
      doc.fontSize(8).fillColor('#666').text(`Page ${page}`, left, doc.page.height - doc.page.margins.bottom - 10, { width: usable, align: 'right', lineBreak: false });
      doc.fillColor('black');
    };
    const headerRow = () => {
      const y = doc.y;
      doc.font('Helvetica-Bold').fontSize(9);
      let h = 0;
      for (const col of columns!) h = Math.max(h, doc.heightOfString(col.header, { width: col.w - 4 }));
      for (const col of columns!) doc.text(col.header, col.x + 2, y, { width: col.w - 4, align: col.align });
      doc.moveTo(left, y + h + 2).lineTo(left + usable, y + h + 2).stroke();
      doc.y = y + h + 5;
      doc.font('Helvetica').fontSize(9);
    };
    const setColumns = (first: Rec | undefined) => {
      const defs = cfg.columns ?? Object.keys(first ?? {}).map((field) => ({ field, header: undefined, width: undefined, align: 'left' as const }));
      const total = defs.reduce((s, d) => s + (d.width ?? 1), 0);
      let x = left;
      columns = defs.map((d) => {
        const w = (usable * (d.width ?? 1)) / total;
        const col = { field: d.field, header: d.header ?? d.field, x, w, align: d.align };
        x += w;
        return col;
      });
    };
    const row = (r: Rec) => {
      const texts = columns!.map((col) => cell(r[col.field], false));
      const h = Math.max(12, ...texts.map((t, i) => doc.heightOfString(t, { width: columns![i].w - 4 })));
      if (doc.y + h > bottom()) {
        footer();
        doc.addPage();
        page++;
        doc.y = doc.page.margins.top;
        headerRow();
      }
      const y = doc.y;
      texts.forEach((t, i) => doc.text(t, columns![i].x + 2, y, { width: columns![i].w - 4, align: columns![i].align }));
      doc.y = y + h + 2;
    };
    const out = async function* () {
      doc.font('Helvetica-Bold').fontSize(16).text(title, left, doc.page.margins.top, { width: usable });
      doc.font('Helvetica').fontSize(9).fillColor('#444').text(`Generated at ${now.toISOString().replace('T', ' ').slice(0, 19)} UTC`, { width: usable });
      doc.fillColor('black').moveDown(0.8);
      let count = 0;
      for await (const recs of groups) {
        for (const r of recs) {
          if (!columns) {
            setColumns(r);
            headerRow();
          }
          row(r);
          count++;
        }
        if (chunks.length > 0) yield Buffer.concat(chunks.splice(0));
      }
      if (!columns) {
        setColumns(undefined);
        if (columns!.length > 0) headerRow();
      }
      if (count === 0) doc.text('No records.', left, doc.y, { width: usable });
      doc.fontSize(8).fillColor('#444').text(`${count} record${count === 1 ? '' : 's'}`, left, doc.y + 4, { width: usable });
      footer();
      doc.end();
      while (!ended || chunks.length > 0) {
        if (chunks.length > 0) yield Buffer.concat(chunks.splice(0));
        else await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    };
    return out();
  };
  return {
    ext: 'pdf',
    contentType: 'application/pdf',
    async batch(records, now) {
      const parts: Buffer[] = [];
      for await (const c of render((async function* () { yield records; })(), now)) parts.push(c as Buffer);
      return Buffer.concat(parts);
    },
    stream: (groups, now) => render(groups, now),
  };
}
