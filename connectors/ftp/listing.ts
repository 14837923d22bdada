// A folder's listing (LIST or MLSD) read as it arrives, a batch of lines at a time, into compact entries.
// basic-ftp's own list() keeps the whole reply's bytes, then its text, its lines and a FileInfo object of a dozen
// fields per line, all at once: for a folder of 100,000 files that is about 80 MB at its peak, where the entries
// Ferry keeps are about a tenth of it.
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

/** The reply of one listing command, parsed a batch at a time by the client's parser (and digested). */
export class ListingParser extends ListingDigest {
  readonly entries: RemoteEntry[] = [];
  private readonly decoder: StringDecoder;
  private rest = '';
  private lines: string[] = [];
  private readonly parse: (text: string) => FileInfo[];
  private readonly toEntry: (f: FileInfo) => RemoteEntry;

  constructor(command: string, encoding: BufferEncoding, parse: (text: string) => FileInfo[], toEntry: (f: FileInfo) => RemoteEntry) {
    super(command);
    this.decoder = new StringDecoder(encoding);
    this.parse = parse;
    this.toEntry = toEntry;
  }

  protected override take(chunk: Buffer): void {
    this.add(this.decoder.write(chunk));
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
 * entries parsed while the reply arrives, with the digest of the reply.
 */
export async function listEntries(client: Client, transfer: BasicFtpTransfer, dir: string, toEntry: (f: FileInfo) => RemoteEntry): Promise<{ entries: RemoteEntry[]; digest: string }> {
  const parser = await runListing(client, transfer, dir, (command) => new ListingParser(command, client.ftp.encoding ?? 'utf8', (text) => client.parseList(text), toEntry));
  return { entries: parser.entries, digest: parser.digest() };
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
