// The hostile-input corpus, run through a spawned `ferry run`: files dropped one at a time into watched
// folders (folder → parse → map → batch → JSON → HTTP sink on 127.0.0.1), polls of a misbehaving API, and
// webhook bodies at their cap. Large inputs are generated at run time, streamed to disk. For each input it
// records the verdict (delivered, dead with its reasons, skipped and reported, refused), the time from the
// drop to that verdict and the CPU Ferry spent on it; and Ferry's peak RSS (VmHWM) over the whole corpus.
// Shared by the end-to-end test (which asserts the verdicts) and `npm run bench hostile` (which reports them).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import { cpuMsOf } from '../bench/harness.ts';
import { ferryBin, writeConfig } from './cli.ts';
import { hostileApi, type HostileApi } from './hostile-api.ts';
import { freePort } from './net.ts';
import { startSink, type Sink } from './sink.ts';

const MiB = 1024 * 1024;
export const SECRET = 'TOP-SECRET-0f3a9c';

type Writer = (file: string, dir: string) => Promise<void> | void;

export interface FileInput {
  kind: 'file';
  /** Folder (flow) and file name, e.g. csv/big-field.csv. */
  flow: 'csv' | 'json' | 'ndjson' | 'xml';
  name: string;
  what: string;
  write: Writer;
}

export interface PollInput {
  kind: 'poll';
  flow: string;
  name: string;
  what: string;
}

export interface HookInput {
  kind: 'webhook';
  name: string;
  what: string;
  bytes: number;
}

export type CorpusInput = FileInput | PollInput | HookInput;

export interface Verdict {
  input: string;
  what: string;
  verdict: 'delivered' | 'dead' | 'skipped' | 'refused' | 'reported' | 'stuck';
  /** Items delivered / dead for a file; for a poll the problem reported; for a webhook the HTTP answer. */
  delivered: number;
  dead: string[];
  /** Most attempts any item of the input took (1 = never retried). */
  attempts: number;
  detail?: string;
  ms: number;
  cpuMs: number;
}

/** Streams `head`, `size` bytes of `fill`, then `tail` into a file without holding them. */
async function streamed(file: string, head: string | Buffer, fill: string, size: number, tail: string): Promise<void> {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, Buffer.isBuffer(head) ? head : Buffer.from(head));
    const block = Buffer.from(fill.repeat(Math.ceil(MiB / fill.length)));
    for (let left = size; left > 0; left -= block.length) fs.writeSync(fd, left >= block.length ? block : block.subarray(0, left));
    fs.writeSync(fd, Buffer.from(tail));
  } finally {
    fs.closeSync(fd);
  }
}

const csvHeader = 'id,name,amount\n';

/** The files of the corpus; `bigField` is the size of the one quoted CSV field (300 MB as in the issue). */
export function corpusFiles(bigField = 300 * 1000 * 1000): FileInput[] {
  const lol = ['<!ENTITY lol "lol">', ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`)].join('');
  const f = (flow: FileInput['flow'], name: string, what: string, write: Writer): FileInput => ({ kind: 'file', flow, name, what, write });
  return [
    f('csv', 'normal.csv', 'a well-formed CSV, 1,000 rows (the baseline)', (file) => fs.writeFileSync(file, csvHeader + Array.from({ length: 1000 }, (_, i) => `${i + 1},customer ${i + 1},${i}.50`).join('\n') + '\n')),
    f('csv', 'big-field.csv', `one quoted field of ${Math.round(bigField / 1e6)} MB between two good rows`, (file) => streamed(file, `${csvHeader}1,before,1\n2,"`, 'x', bigField, '",2\n3,after,3\n')),
    f('csv', 'wide-header.csv', 'a header of 100,000 columns', (file) => fs.writeFileSync(file, `${Array.from({ length: 100_000 }, (_, i) => `c${i}`).join(',')}\n1,2\n`)),
    f('csv', 'wide-row.csv', 'a row of 100,000 columns between good rows', (file) => fs.writeFileSync(file, `${csvHeader}1,a,1\n${','.repeat(99_999)}\n3,c,3\n`)),
    f('csv', 'invalid-utf8.csv', 'a row with bytes that are not UTF-8', (file) => fs.writeFileSync(file, Buffer.concat([Buffer.from(`${csvHeader}1,Zoë,1\n2,M`), Buffer.from([0xfc, 0x6c, 0x6c, 0x65, 0x72]), Buffer.from(',2\n3,Åsa,3\n')]))),
    f('csv', 'nul-bytes.csv', 'NUL bytes inside fields', (file) => fs.writeFileSync(file, `${csvHeader}1,a\u0000b,1\n2,"\u0000\u0000",2\n`)),
    f('csv', 'bom.csv', 'a UTF-8 byte-order mark', (file) => fs.writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${csvHeader}1,Zoë,1\n`)]))),
    f('csv', 'utf16-bom.csv', 'UTF-16 LE with a byte-order mark', (file) => fs.writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${csvHeader}1,İzmir,1\n`, 'utf16le')]))),
    f('csv', 'mixed-eol.csv', 'mixed line endings (\\r\\n, \\n, \\r) and a quoted line break', (file) => fs.writeFileSync(file, `${csvHeader.trim()}\r\n1,eol-a,1\n2,"eol-b\r\neol-b",2\r3,eol-c,3\r\n4,eol-d,4`)),
    f('csv', 'quote-then-text.csv', 'text after a closing quote, then good rows', (file) => fs.writeFileSync(file, `${csvHeader}1,"Anna" Berg,1\n2,Bernd,2\n3,Carla,3\n`)),
    f('csv', 'rejected.csv', 'rows the API refuses (HTTP 422)', (file) => fs.writeFileSync(file, `${csvHeader}1,REJECT-ME,1\n`)),
    f('csv', 'empty.csv', 'a zero-byte file', (file) => fs.writeFileSync(file, '')),
    f('json', 'deep.json', 'a JSON document nested 200,000 levels deep', (file) => streamed(file, '', '{"a":', 5 * 200_000, `1${'}'.repeat(200_000)}`)),
    f('json', 'deep-element.json', 'an array with one element nested 200,000 deep', (file) => fs.writeFileSync(file, `[{"id":1},${'['.repeat(200_000)}${']'.repeat(200_000)},{"id":3}]`)),
    f('json', 'huge-record.json', 'a 40 MB record between two small ones', (file) => streamed(file, '[{"id":1},{"id":2,"blob":"', 'y', 40 * MiB, '"},{"id":3}]')),
    f('json', 'empty.json', 'a zero-byte file', (file) => fs.writeFileSync(file, '')),
    f('ndjson', 'huge-line.ndjson', 'a 40 MB line between two small ones', (file) => streamed(file, '{"id":1}\n{"id":2,"blob":"', 'z', 40 * MiB, '"}\n{"id":3}\n')),
    f('xml', 'entity-bomb.xml', 'a billion-laughs entity bomb', (file) => fs.writeFileSync(file, `<?xml version="1.0"?><!DOCTYPE r [${lol}]><r><rec><id>1</id><v>&lol9;</v></rec></r>`)),
    f('xml', 'xxe.xml', 'external entities naming a secret file (XXE)', (file, dir) => {
      const secret = path.join(dir, 'secret.txt');
      fs.writeFileSync(secret, `${SECRET}\nroot:x:0:0:root:/root:/bin/bash\n`);
      fs.writeFileSync(file, `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://${secret}"><!ENTITY y SYSTEM "file:///etc/passwd">]><r><rec><id>1</id><v>&x;&y;</v></rec></r>`);
    }),
    f('xml', 'external-dtd.xml', 'a DOCTYPE naming the secret file as its DTD', (file, dir) => fs.writeFileSync(file, `<?xml version="1.0"?><!DOCTYPE r SYSTEM "file://${path.join(dir, 'secret.txt')}"><r><rec><id>1</id><v>plain</v></rec></r>`)),
    f('xml', 'deep.xml', 'elements nested 200,000 deep after a good record', (file) => streamed(file, '<r><rec><id>1</id></rec>', '<a>', 3 * 200_000, `${'</a>'.repeat(200_000)}</r>`)),
    f('xml', 'huge-text.xml', 'a 40 MB text node', (file) => streamed(file, '<r><rec><id>1</id></rec><rec><id>2</id><v>', 't', 40 * MiB, '</v></rec></r>')),
    f('xml', 'empty.xml', 'a zero-byte file', (file) => fs.writeFileSync(file, '')),
  ];
}

export const corpusPolls: PollInput[] = [
  { kind: 'poll', flow: 'poll-bomb', name: 'http-poll: gzip bomb', what: 'a 500 KB gzip reply expanding to 512 MiB' },
  { kind: 'poll', flow: 'poll-endless', name: 'http-poll: never-ending reply', what: 'a reply that never ends, as fast as it is read' },
  { kind: 'poll', flow: 'poll-trickle', name: 'http-poll: trickling reply', what: 'a reply that never ends, a byte every 50 ms' },
];

export const HOOK_CAP = 64 * 1024;
export const corpusHooks: HookInput[] = [
  { kind: 'webhook', name: 'webhook: body at the cap', what: `a ${HOOK_CAP}-byte body (maxBodyBytes ${HOOK_CAP})`, bytes: HOOK_CAP },
  { kind: 'webhook', name: 'webhook: one byte over', what: `a ${HOOK_CAP + 1}-byte body`, bytes: HOOK_CAP + 1 },
];

export interface CorpusRun {
  verdicts: Verdict[];
  peakRssMb: number;
  /** RSS of the idle process after start-up, before the first input. */
  idleRssMb: number;
  output: string;
  dataDir: string;
  sink: Sink;
  /** Where the secret the XXE files name appears outside its own file: sink bodies, the data dir. */
  secretFoundIn: string[];
}

function procStatus(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(m?.[1] ?? 0) / 102.4) / 10;
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, child?: ChildProcess, output?: () => string): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`ferry exited (${child.exitCode ?? child.signalCode}) waiting for ${what}:\n${output?.()}`);
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function listFilesIn(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
}

function post(port: number, urlPath: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method: 'POST', headers: { host: `127.0.0.1:${port}`, 'content-length': String(body.length), ...headers } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Greps a folder's files (and a list of buffers) for the secret; returns where it was found. */
function findSecret(root: string, extra: Array<[string, Buffer]>): string[] {
  const found: string[] = [];
  const needle = Buffer.from(SECRET);
  for (const [where, b] of extra) if (b.includes(needle)) found.push(where);
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && fs.readFileSync(p).includes(needle)) found.push(p);
    }
  };
  walk(root);
  return found;
}

/**
 * Runs the whole corpus through one `ferry run` in `dir`, one input at a time, and stops it. `perInputMs`
 * bounds the wait for one verdict (an input still undecided then is "stuck").
 */
export async function runCorpus(dir: string, opts: { bigField?: number; perInputMs?: number; nodeArgs?: string[] } = {}): Promise<CorpusRun> {
  const perInputMs = opts.perInputMs ?? 120_000;
  const files = corpusFiles(opts.bigField);
  const sink = await startSink((_req, body) => (body.includes('REJECT-ME') ? { status: 422, body: 'refused: REJECT-ME is not a customer' } : undefined));
  const api: HostileApi = await hostileApi();
  const hookPort = await freePort();
  const staging = path.join(dir, 'staging');
  fs.mkdirSync(staging, { recursive: true });
  const NEVER = { schedule: '0 0 1 1 *', catchUp: false };
  const fileFlow = (name: FileInput['flow'], parse: Record<string, unknown>) => {
    fs.mkdirSync(path.join(dir, 'in', name), { recursive: true });
    return {
      name,
      source: { type: 'folder', path: `./in/${name}`, settleMs: 100, afterDelivery: { action: 'move', to: `./done/${name}` } },
      destination: { type: 'http', url: `${sink.url}/${name}`, timeoutMs: 10_000 },
      retry: { maxAttempts: 5, initialDelayMs: 200, maxDelayMs: 1000 },
      process: [{ parse }, { map: '$merge([$, { "checked": true }])' }, { batch: { size: 100 } }, { format: { format: 'json' } }],
    };
  };
  const poll = (name: string, route: string, extra: Record<string, unknown> = {}) => ({
    name,
    trigger: NEVER,
    source: { type: 'http-poll', url: `${api.url}${route}`, maxRetries: 0, timeoutMs: 3000, ...extra },
    destination: { type: 'http', url: `${sink.url}/${name}` },
  });
  const cfg = writeConfig(dir, {
    dataDir: './data',
    minFreeDiskMb: 0,
    admin: { port: 0 },
    integrations: [
      { name: 'files', flows: [fileFlow('csv', { format: 'csv' }), fileFlow('json', { format: 'json' }), fileFlow('ndjson', { format: 'ndjson' }), fileFlow('xml', { format: 'xml', record: 'rec' })] },
      { name: 'polls', flows: [poll('poll-bomb', '/bomb'), poll('poll-endless', '/endless'), poll('poll-trickle', '/trickle')] },
      { name: 'hooks', flows: [{ name: 'hook', source: { type: 'webhook', port: hookPort, maxBodyBytes: HOOK_CAP, verify: { scheme: 'bearer', secret: 'corpus-token-0123456789' } }, destination: { type: 'http', url: `${sink.url}/hook` } }] },
    ],
  });
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ferryBin, 'run', '--config', cfg, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const out = () => output;
  const verdicts: Verdict[] = [];
  let db: Database.Database | undefined;
  try {
    if (!(await waitUntil(() => /Ferry is running/.test(output), 60_000, 'ferry to start', child, out))) throw new Error(`ferry did not start:\n${output}`);
    const adminPort = (JSON.parse(fs.readFileSync(path.join(dir, 'data', 'admin.json'), 'utf8')) as { port: number }).port;
    const token = fs.readFileSync(path.join(dir, 'data', 'admin-token'), 'utf8').trim();
    db = new Database(path.join(dir, 'data', 'ferry.db'), { readonly: true, fileMustExist: true });
    const itemsOf = db.prepare<[string, string], { state: string; attempts: number; last_error: string | null }>(
      "SELECT state, attempts, last_error FROM items WHERE flow = ? AND source_key LIKE ? ESCAPE '\\' ORDER BY id",
    );
    const flowError = db.prepare<[string], { last_error: string | null; last_error_at: number | null }>('SELECT last_error, last_error_at FROM flow_state WHERE flow = ?');
    const pid = child.pid!;
    const idleRssMb = procStatus(pid, 'VmRSS');

    for (const input of files) {
      const staged = path.join(staging, input.name);
      await input.write(staged, dir);
      const inbox = path.join(dir, 'in', input.flow);
      const done = path.join(dir, 'done', input.flow);
      const cpu0 = cpuMsOf(pid);
      const t0 = Date.now();
      fs.renameSync(staged, path.join(inbox, input.name));
      const like = `${input.name.replace(/[\\%_]/g, (c) => `\\${c}`)}@%`;
      let rows: Array<{ state: string; attempts: number; last_error: string | null }> = [];
      const settled = await waitUntil(() => {
        if (!listFilesIn(done).includes(input.name) || listFilesIn(inbox).includes(input.name)) return false;
        rows = itemsOf.all(input.flow, like);
        return rows.every((r) => r.state === 'delivered' || r.state === 'dead');
      }, perInputMs, input.name, child, out);
      const ms = Date.now() - t0;
      rows = itemsOf.all(input.flow, like);
      const dead = rows.filter((r) => r.state === 'dead').map((r) => r.last_error ?? '');
      const delivered = rows.filter((r) => r.state === 'delivered').length;
      const reported = new RegExp(`${input.name.replace(/\./g, '\\.')} holds no records`).test(output);
      verdicts.push({
        input: `${input.flow}/${input.name}`,
        what: input.what,
        verdict: !settled ? 'stuck' : dead.length > 0 ? 'dead' : delivered > 0 ? 'delivered' : reported ? 'skipped' : 'stuck',
        delivered,
        dead,
        attempts: Math.max(0, ...rows.map((r) => r.attempts)),
        detail: !settled ? `undecided after ${perInputMs} ms: ${JSON.stringify(rows)}` : reported && rows.length === 0 ? 'reported: holds no records' : undefined,
        ms,
        cpuMs: Math.round(cpuMsOf(pid) - cpu0),
      });
      fs.rmSync(path.join(done, input.name), { force: true }); // the 300 MB file need not stay
    }

    for (const input of corpusPolls) {
      const cpu0 = cpuMsOf(pid);
      const t0 = Date.now();
      const res = await post(adminPort, `/api/flows/${input.flow}/run`, Buffer.alloc(0), { authorization: `Bearer ${token}` });
      if (res.status !== 202) throw new Error(`running ${input.flow}: HTTP ${res.status} ${res.text}`);
      let problem = '';
      const settled = await waitUntil(() => {
        const row = flowError.get(input.flow);
        if (row?.last_error && (row.last_error_at ?? 0) >= t0) problem = row.last_error;
        return problem !== '';
      }, perInputMs, input.name, child, out);
      verdicts.push({ input: input.name, what: input.what, verdict: settled ? 'reported' : 'stuck', delivered: 0, dead: [], attempts: api.hits.get(`/${input.flow.slice(5)}`) ?? 0, detail: problem, ms: Date.now() - t0, cpuMs: Math.round(cpuMsOf(pid) - cpu0) });
    }

    for (const input of corpusHooks) {
      const cpu0 = cpuMsOf(pid);
      const t0 = Date.now();
      const before = sink.received.filter((r) => r.url === '/hook').length;
      const body = Buffer.from(JSON.stringify({ p: 'h'.repeat(input.bytes - 8) })); // {"p":""} is 8 bytes
      const res = await post(hookPort, '/hooks/hook', body, { authorization: 'Bearer corpus-token-0123456789', 'content-type': 'application/json' });
      let delivered = 0;
      if (res.status === 202) {
        await waitUntil(() => sink.received.filter((r) => r.url === '/hook').length > before, perInputMs, input.name, child, out);
        delivered = sink.received.filter((r) => r.url === '/hook').length - before;
      }
      verdicts.push({ input: input.name, what: input.what, verdict: res.status === 202 ? (delivered ? 'delivered' : 'stuck') : 'refused', delivered, dead: [], attempts: 1, detail: `HTTP ${res.status} ${res.text}`, ms: Date.now() - t0, cpuMs: Math.round(cpuMsOf(pid) - cpu0) });
    }

    const peakRssMb = procStatus(pid, 'VmHWM');
    const secretFoundIn = findSecret(path.join(dir, 'data'), [...sink.received.map((r, i) => [`sink request ${i} (${r.url})`, r.body] as [string, Buffer]), ['ferry output', Buffer.from(output)]]);
    return { verdicts, peakRssMb, idleRssMb, output, dataDir: path.join(dir, 'data'), sink, secretFoundIn };
  } finally {
    db?.close();
    child.kill('SIGTERM');
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
    await api.close();
    await sink.close();
  }
}
