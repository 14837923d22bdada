// Logging: pino, human-readable on stderr and JSON in a size-rotated file in the data dir.
// Known secret-bearing keys are redacted wherever they appear.
import path from 'node:path';
import fs from 'node:fs';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { createStream } from 'rotating-file-stream';

export type { Logger };
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';

const REDACT = [
  'password', 'token', 'secret', 'authorization', 'apiKey', 'passphrase', 'privateKey',
  '*.password', '*.token', '*.secret', '*.authorization', '*.Authorization', '*.apiKey', '*.passphrase', '*.privateKey',
  'headers.*', '*.headers.*',
];

export interface LoggerOptions {
  level: LogLevel;
  /** Also write JSON lines to <logDir>/ferry.log, rotated at 10 MB, 5 files kept. */
  logDir?: string;
  /** Human-readable lines on stderr (default true). */
  stderr?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const streams: pino.StreamEntry[] = [];
  if (opts.stderr !== false) {
    streams.push({
      level: opts.level === 'silent' ? 'fatal' : opts.level,
      stream: pretty({ destination: 2, sync: true, colorize: false, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }),
    });
  }
  if (opts.logDir) {
    fs.mkdirSync(opts.logDir, { recursive: true });
    streams.push({
      level: opts.level === 'silent' ? 'fatal' : opts.level,
      stream: createStream('ferry.log', { path: opts.logDir, size: '10M', maxFiles: 5 }),
    });
  }
  return pino(
    { level: opts.level, redact: { paths: REDACT, censor: '[redacted]' }, base: undefined },
    streams.length ? pino.multistream(streams) : pino.destination({ dest: path.join('/dev', 'null') }),
  );
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
