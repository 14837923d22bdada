// Reads a PDF back for assertions without a PDF library: checks the structure (header, xref, trailer),
// inflates the FlateDecode content streams with node:zlib and extracts the text shown by Tj/TJ operators
// (pdfkit writes standard-font text as hex strings in WinAnsi encoding). Enough for Ferry's own reports.
import zlib from 'node:zlib';

export interface PdfText {
  pages: number;
  /** Text of each content stream (one per page), runs joined with spaces. */
  pageTexts: string[];
  info: string;
}

function decodeHexWinAnsi(hex: string): string {
  const bytes = Buffer.from(hex.replace(/\s+/g, ''), 'hex');
  return new TextDecoder('windows-1252').decode(bytes);
}

function decodeLiteral(s: string): string {
  return s.replace(/\\([nrtbf()\\]|[0-7]{1,3})/g, (_m, e: string) => {
    const map: Record<string, string> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', '(': '(', ')': ')', '\\': '\\' };
    return map[e] ?? String.fromCharCode(parseInt(e, 8));
  });
}

export function readPdf(buf: Buffer): PdfText {
  const text = buf.toString('latin1');
  if (!text.startsWith('%PDF-1.')) throw new Error('not a PDF: missing %PDF-1.x header');
  if (!/startxref\s+\d+\s+%%EOF\s*$/.test(text)) throw new Error('not a complete PDF: missing startxref/%%EOF');
  const xrefAt = Number(/startxref\s+(\d+)/.exec(text.slice(-64))![1]);
  if (!text.startsWith('xref', xrefAt)) throw new Error(`startxref points at ${xrefAt}, where there is no xref table`);
  const pages = (text.match(/\/Type \/Page\b/g) ?? []).length;
  const pageTexts: string[] = [];
  const re = /<<([^]*?)>>\s*stream\r?\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const dict = m[1];
    const len = Number(/\/Length (\d+)/.exec(dict)?.[1]);
    const start = m.index + m[0].length;
    let data = buf.subarray(start, start + len);
    if (/\/Filter \/FlateDecode/.test(dict)) {
      try {
        data = zlib.inflateSync(data);
      } catch {
        continue; // not a content stream we can read (fonts, images)
      }
    }
    const content = data.toString('latin1');
    if (!/\bBT\b/.test(content)) continue;
    const runs: string[] = [];
    for (const t of content.matchAll(/\[([^\]]*)\]\s*TJ|<([0-9a-fA-F\s]*)>\s*Tj|\(((?:\\.|[^\\)])*)\)\s*Tj/g)) {
      if (t[1] !== undefined) {
        let s = '';
        for (const part of t[1].matchAll(/<([0-9a-fA-F\s]*)>|\(((?:\\.|[^\\)])*)\)/g)) s += part[1] !== undefined ? decodeHexWinAnsi(part[1]) : decodeLiteral(part[2]);
        runs.push(s);
      } else if (t[2] !== undefined) runs.push(decodeHexWinAnsi(t[2]));
      else runs.push(decodeLiteral(t[3]));
    }
    pageTexts.push(runs.join(' '));
  }
  return { pages, pageTexts, info: text.slice(text.lastIndexOf('trailer')) };
}
