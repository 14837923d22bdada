// A folder's listing (LIST or MLSD) kept as its bytes and parsed a batch of lines at a time into compact entries.
// basic-ftp's own list() keeps the whole reply's bytes, then its text, its lines and a FileInfo object of a dozen
// fields per line, all at once: for a folder of 100,000 files that is about 80 MB at its peak, where the bytes
// are 7 MB.
// Each listing's bytes are also digested as they arrive; listingDigest() fetches only that digest, parsing
// nothing, so a scan can tell an unchanged folder for the cost of the transfer (see intake/clean-listings.ts).
import crypto from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { Writable } from 'node:stream';
import type { Client, FileInfo } from 'basic-ftp';
import type { RemoteEntry } from '../remote/protocol.ts';

type BasicFtpTransfer = typeof import('basic-ftp/dist/transfer.js');

/** Lines parsed at once. */
const BATCH = 1000;
/** A listing larger than this is refused (a server that never ends its reply), as basic-ftp refuses 40 MB. */
const MAX_LISTING_BYTES = 1024 * 1024 * 1024;

/** The raw reply of one listing command, digested as it arrives (the command is part of the digest). */
export class ListingDigest extends Writable {
  private readonly hash = crypto.createHash('sha256');
  private bytes = 0;

  constructor(command: string) {
    super();
    this.hash.update(`${command}\n`);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > MAX_LISTING_BYTES) return done(new Error(`folder listing larger than ${MAX_LISTING_BYTES} bytes`));
    try {
      this.hash.update(chunk);
      this.take(chunk);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** What a subclass does with the bytes besides digesting them. */
  protected take(_chunk: Buffer): void {}

  /** The digest, once the reply has ended. */
  digest(): string {
    return this.hash.digest('base64');
  }
}

/**
 * The reply of one listing command (digested as it arrives), kept as its bytes, off the JS heap, and parsed a
 * batch of lines at a time by the client's parser as its pages are read: a folder of 100,000 files holds its
 * 7 MB of bytes while the intake works through it, not 100,000 entries.
 */
export class ListingParser extends ListingDigest {
  private chunks: Array<Buffer | undefined> = [];
  private readonly encoding: BufferEncoding;
  private readonly parse: (text: string) => FileInfo[];
  private readonly toEntry: (f: FileInfo) => RemoteEntry;

  constructor(command: string, encoding: BufferEncoding, parse: (text: string) => FileInfo[], toEntry: (f: FileInfo) => RemoteEntry) {
    super(command);
    this.encoding = encoding;
    this.parse = parse;
    this.toEntry = toEntry;
  }

  protected override take(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /** The entries, a batch of lines at a time; read once (each part of the bytes is let go once parsed). */
  *pages(): Generator<RemoteEntry[]> {
    const chunks = this.chunks;
    this.chunks = [];
    const decoder = new StringDecoder(this.encoding);
    let rest = '';
    let lines: string[] = [];
    const batch = () => {
      const page = this.parse(lines.join('\n')).map(this.toEntry);
      lines = [];
      return page;
    };
    for (let i = 0; i <= chunks.length; i++) {
      const last = i === chunks.length;
      const parts = (rest + (last ? decoder.end() : decoder.write(chunks[i]!))).split(/\r?\n/);
      if (!last) chunks[i] = undefined;
      rest = last ? '' : parts.pop()!;
      for (const line of parts) {
        if (line.trim() === '') continue;
        lines.push(line);
        if (lines.length >= BATCH) yield batch();
      }
    }
    if (lines.length > 0) yield batch();
  }

  /** Every entry at once (small folders; a check). */
  get entries(): RemoteEntry[] {
    const all: RemoteEntry[] = [];
    for (const page of this.pages()) for (const e of page) all.push(e);
    return all;
  }
}

/**
 * What client.list(dir) gives (the same commands, tried in the same order, and the same parser), as compact
 * entries parsed while the reply arrives, with the digest of the reply.
 */
export async function listEntries(client: Client, transfer: BasicFtpTransfer, dir: string, toEntry: (f: FileInfo) => RemoteEntry): Promise<{ pages: Iterable<RemoteEntry[]>; digest: string }> {
  const parser = await runListing(client, transfer, dir, (command) => new ListingParser(command, client.ftp.encoding ?? 'utf8', (text) => client.parseList(text), toEntry));
  return { pages: parser.pages(), digest: parser.digest() };
}

/** The digest listEntries() gives for the same reply, fetched without parsing it. */
export async function listingDigest(client: Client, transfer: BasicFtpTransfer, dir: string): Promise<string> {
  return (await runListing(client, transfer, dir, (command) => new ListingDigest(command))).digest();
}

/** Runs the first listing command the server accepts (as basic-ftp's list() tries them) into a fresh sink. */
async function runListing<T extends Writable>(client: Client, transfer: BasicFtpTransfer, dir: string, sink: (command: string) => T): Promise<T> {
  const validPath = await client.protectWhitespace(dir);
  let lastError: unknown;
  for (const candidate of client.availableListCommands) {
    const command = validPath === '' ? candidate : `${candidate} ${validPath}`;
    await client.prepareTransfer(client.ftp);
    const into = sink(candidate);
    try {
      const tracker = (client as unknown as { _progressTracker: Parameters<BasicFtpTransfer['downloadTo']>[1]['tracker'] })._progressTracker;
      await transfer.downloadTo(into, { ftp: client.ftp, tracker, command, remotePath: '', type: 'list' });
      client.availableListCommands = [candidate];
      return into;
    } catch (err) {
      // a server refusing one command (MLSD, LIST -a) gets the next, as basic-ftp does
      if (!(err instanceof Error && err.name === 'FTPError')) throw err;
      lastError = err;
    }
  }
  throw lastError;
}
