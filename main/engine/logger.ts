// Logging: pino, human-readable on stderr and JSON in a size-rotated file in the data dir.
// Known secret-bearing keys are redacted wherever they appear.
import path from 'node:path';
import fs from 'node:fs';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { LogFile } from './log-file.ts';
import { scrubTokens } from './oauth/scrub.ts';

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
  /** Filter applied to every message and string field (removes secret values; see secrets.ts). */
  scrub?: (text: string) => string;
}

/** Applies a text filter to every string in a log record (plain objects and arrays, not class instances). */
function scrubDeep(value: unknown, scrub: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return scrub(value);
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrubDeep(v, scrub, depth + 1));
  if (value instanceof Error) return scrub(value.stack ?? value.message);
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, scrub, depth + 1)]));
}

export function createLogger(opts: LoggerOptions): Logger {
  const streams: pino.StreamEntry[] = [];
  // Streams pass everything: the logger's own level decides, so it can change at run time (admin settings).
  if (opts.stderr !== false) {
    streams.push({
      level: 'trace',
      stream: pretty({ destination: 2, sync: true, colorize: false, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }),
    });
  }
  if (opts.logDir) {
    fs.mkdirSync(opts.logDir, { recursive: true, mode: 0o700 }); // inside the data dir, which it may create first
    streams.push({
      level: 'trace',
      stream: new LogFile(opts.logDir),
    });
  }
  // OAuth tokens are scrubbed whatever else is: no caller has to remember them
  const scrub = (text: string) => scrubTokens(opts.scrub ? opts.scrub(text) : text);
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACT, censor: '[redacted]' },
      base: undefined,
      ...(scrub
        ? {
            formatters: { log: (obj: Record<string, unknown>) => scrubDeep(obj, scrub) as Record<string, unknown> },
            hooks: {
              logMethod(this: Logger, args: Parameters<pino.LogFn>, method: pino.LogFn) {
                method.apply(this, args.map((a) => (typeof a === 'string' ? scrub(a) : a)) as Parameters<pino.LogFn>);
              },
            },
          }
        : {}),
    },
    streams.length ? pino.multistream(streams) : pino.destination({ dest: path.join('/dev', 'null') }),
  );
}

/** A logger that drops everything (tests, library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
