// Which failures are retried and which are final, on errors made by the real things that fail: the file
// system, SQLite, a socket, a stop; and data too deep to encode, or that does not parse.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { intakeFailureIsPermanent, isTransient, outcomeOfThrown, TransientError } from '../../main/engine/failures.ts';
import { DocumentError } from '../../main/engine/process/limits.ts';
import { tempDir } from '../helpers/tmp.ts';

async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

function deep(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

describe('failure classification', () => {
  it('I/O, storage, the network and a stop are transient: retried', async () => {
    const dir = tempDir();
    const missing = await caught(() => fs.promises.readFile(path.join(dir, 'gone.csv')));
    const isDir = await caught(() => fs.promises.readFile(dir));
    const refused = await caught(() => new Promise((_, reject) => net.connect(1, '127.0.0.1').once('error', reject)));
    const db = new Database(path.join(dir, 'q.db'));
    db.exec('CREATE TABLE t (x)');
    const other = new Database(path.join(dir, 'q.db'), { timeout: 1 });
    db.exec('BEGIN EXCLUSIVE');
    const busy = await caught(() => other.exec('INSERT INTO t VALUES (1)'));
    db.exec('ROLLBACK');
    const aborted = await caught(() => fs.promises.readFile(path.join(dir, 'q.db'), { signal: AbortSignal.abort() }));
    const wrapped = new Error('download failed', { cause: missing });
    for (const err of [missing, isDir, refused, busy, aborted, wrapped, new TransientError('interrupted: Ferry is stopping')]) {
      expect(isTransient(err), String(err)).toBe(true);
      expect(intakeFailureIsPermanent(err), String(err)).toBe(false);
      expect(outcomeOfThrown(err).kind, String(err)).toBe('retry');
    }
    expect((busy as { code: string }).code).toBe('SQLITE_BUSY');
    other.close();
    db.close();
  });

  it('what comes from the data is permanent at intake: dead at once, with the reason', async () => {
    const tooDeep = await caught(() => JSON.stringify(deep(200_000)));
    const notJson = await caught(() => JSON.parse('{"a":'));
    const typeError = await caught(() => (null as unknown as { x: number }).x);
    for (const err of [tooDeep, notJson, typeError, new DocumentError('invalid JSON at byte 3'), new Error('no code at all')]) {
      expect(isTransient(err), String(err)).toBe(false);
      expect(intakeFailureIsPermanent(err), String(err)).toBe(true);
    }
    expect(tooDeep).toBeInstanceOf(RangeError);
  });

  it('a destination throwing: the item is dead at once only when the item itself cannot be encoded or parsed', async () => {
    const tooDeep = await caught(() => JSON.stringify(deep(200_000)));
    expect(outcomeOfThrown(tooDeep)).toEqual({ kind: 'dead', reason: 'Maximum call stack size exceeded (the item fails the same way on every attempt)' });
    expect(outcomeOfThrown(await caught(() => JSON.parse('nope')))).toMatchObject({ kind: 'dead' });
    // anything else a destination throws may be its own transient trouble: retried, within retry.maxAttempts
    expect(outcomeOfThrown(new Error('socket hang up'))).toEqual({ kind: 'retry', reason: 'socket hang up' });
    expect(outcomeOfThrown(await caught(() => (undefined as unknown as { a: number }).a))).toMatchObject({ kind: 'retry' });
  });
});
