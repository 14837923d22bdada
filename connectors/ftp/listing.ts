// A folder's listing (LIST or MLSD) read as it arrives, a batch of lines at a time, into compact entries.
// basic-ftp's own list() keeps the whole reply's bytes, then its text, its lines and a FileInfo object of a dozen
// fields per line, all at once: for a folder of 100,000 files that is about 80 MB at its peak, where the entries
// Ferry keeps are about a tenth of it.
import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import type { Client, FileInfo } from 'basic-ftp';
import type { RemoteEntry } from '../remote/protocol.ts';

type BasicFtpTransfer = typeof import('basic-ftp/dist/transfer.js');

/** Lines parsed at once. */
const BATCH = 1000;
/** A listing larger than this is refused (a server that never ends its reply), as basic-ftp refuses 40 MB. */
const MAX_LISTING_BYTES = 1024 * 1024 * 1024;

/** The reply of one listing command, parsed a batch at a time by the client's parser. */
export class ListingParser extends Writable {
  readonly entries: RemoteEntry[] = [];
  private readonly decoder: StringDecoder;
  private rest = '';
  private lines: string[] = [];
  private bytes = 0;
  private readonly parse: (text: string) => FileInfo[];
  private readonly toEntry: (f: FileInfo) => RemoteEntry;

  constructor(encoding: BufferEncoding, parse: (text: string) => FileInfo[], toEntry: (f: FileInfo) => RemoteEntry) {
    super();
    this.decoder = new StringDecoder(encoding);
    this.parse = parse;
    this.toEntry = toEntry;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > MAX_LISTING_BYTES) return done(new Error(`folder listing larger than ${MAX_LISTING_BYTES} bytes`));
    try {
      this.add(this.decoder.write(chunk));
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _final(done: (err?: Error | null) => void): void {
    try {
      this.add(this.decoder.end(), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private add(text: string, last = false): void {
    const parts = (this.rest + text).split(/\r?\n/);
    this.rest = last ? '' : parts.pop()!;
    for (const line of parts) {
      if (line.trim() === '') continue;
      this.lines.push(line);
      if (this.lines.length >= BATCH) this.flush();
    }
    if (last) this.flush();
  }

  private flush(): void {
    if (this.lines.length === 0) return;
    for (const f of this.parse(this.lines.join('\n'))) this.entries.push(this.toEntry(f));
    this.lines = [];
  }
}

/**
 * What client.list(dir) gives (the same commands, tried in the same order, and the same parser), as compact
 * entries parsed while the reply arrives.
 */
export async function listEntries(client: Client, transfer: BasicFtpTransfer, dir: string, toEntry: (f: FileInfo) => RemoteEntry): Promise<RemoteEntry[]> {
  const validPath = await client.protectWhitespace(dir);
  let lastError: unknown;
  for (const candidate of client.availableListCommands) {
    const command = validPath === '' ? candidate : `${candidate} ${validPath}`;
    await client.prepareTransfer(client.ftp);
    const parser = new ListingParser(client.ftp.encoding ?? 'utf8', (text) => client.parseList(text), toEntry);
    try {
      const tracker = (client as unknown as { _progressTracker: Parameters<BasicFtpTransfer['downloadTo']>[1]['tracker'] })._progressTracker;
      await transfer.downloadTo(parser, { ftp: client.ftp, tracker, command, remotePath: '', type: 'list' });
      client.availableListCommands = [candidate];
      return parser.entries;
    } catch (err) {
      // a server refusing one command (MLSD, LIST -a) gets the next, as basic-ftp does
      if (!(err instanceof Error && err.name === 'FTPError')) throw err;
      lastError = err;
    }
  }
  throw lastError;
}
