// The log file in the data dir, kept from taking Ferry down with it. rotating-file-stream reports a failed write
// (a full disk, the folder gone) as an 'error' event; unhandled, that ends the process, which is the last thing a
// full disk should do to an engine that is holding files back until there is room. A failed file is dropped,
// said on stderr, and opened again a little later: log lines meanwhile go to stderr only. A disk that stays full
// fails every reopen: that is said again at most every WARN_EVERY_MS, not every few seconds.
import { createStream, type RotatingFileStream } from 'rotating-file-stream';

/** How long after a failure the file is opened again. */
export const REOPEN_AFTER_MS = 5000;
/** The shortest time between two messages about failures. */
export const WARN_EVERY_MS = 10 * 60_000;

export class LogFile {
  private stream?: RotatingFileStream;
  private reopenAt = 0;
  /** Failures so far. */
  failures = 0;
  private lastWarnAt = -Infinity;
  private readonly dir: string;
  private readonly reopenAfterMs: number;
  private readonly warn: (line: string) => void;

  constructor(dir: string, opts: { reopenAfterMs?: number; warn?: (line: string) => void } = {}) {
    this.dir = dir;
    this.reopenAfterMs = opts.reopenAfterMs ?? REOPEN_AFTER_MS;
    this.warn = opts.warn ?? ((line) => process.stderr.write(`${line}\n`));
    this.open();
  }

  /** pino's stream interface: one serialized line. */
  write(line: string): boolean {
    if (!this.stream && Date.now() >= this.reopenAt) this.open();
    this.stream?.write(line);
    return true;
  }

  private open(): void {
    const stream = createStream('ferry.log', { path: this.dir, size: '10M', maxFiles: 5 });
    stream.on('error', (err: Error) => {
      if (this.stream !== stream) return; // already dropped: one failure, one message
      this.stream = undefined;
      this.failures++;
      this.reopenAt = Date.now() + this.reopenAfterMs;
      if (Date.now() - this.lastWarnAt >= WARN_EVERY_MS) {
        this.lastWarnAt = Date.now();
        this.warn(`ferry: cannot write the log file in ${this.dir} (${err.message}); log lines go to stderr only until it can be written again`);
      }
      stream.destroy();
    });
    this.stream = stream;
  }

  end(): void {
    this.stream?.end();
    this.stream = undefined;
  }
}
