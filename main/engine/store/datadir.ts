// The data dir: refused on network file systems (SQLite's WAL needs shared memory on a local disk), guarded
// by an OS-level lock so two engines never share one queue, and watched for free space.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { networkFileSystem } from '../../../connectors/contract.ts';

const TMPFS = 0x01021994;

export class DataDirError extends Error {}

/** Creates the data dir if needed and refuses places where the queue would not be durable. */
export function prepareDataDir(dir: string): void {
  // the queue holds item bodies and the APIs' replies: other users of the machine get no access (POSIX)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const network = networkFileSystem(dir);
  if (network) throw new DataDirError(`dataDir ${dir} is on ${network}; the queue needs a local disk (SQLite WAL does not work on network file systems)`);
  // tmpfs is local but loses everything on reboot: refused too (tests may allow it).
  if (process.platform === 'linux' && fs.statfsSync(dir).type >>> 0 === TMPFS && process.env.FERRY_ALLOW_TMPFS !== '1') {
    throw new DataDirError(`dataDir ${dir} is on tmpfs; the queue needs a local disk that survives a reboot`);
  }
}

/** Why other users of this machine can reach the data dir (POSIX), or undefined: Ferry warns at start. */
export function dataDirExposure(dir: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined; // ACLs: the per-user app-data folder is private by default
  const mode = fs.statSync(dir).mode;
  if ((mode & 0o077) === 0) return undefined;
  return `dataDir ${dir} is open to other users of this machine (mode ${(mode & 0o777).toString(8)}): they can read queued items and replies; chmod 700 it unless a group needs it`;
}

export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Holds an exclusive SQLite lock on <dir>/ferry.lock for the life of the process. The OS drops it when the
 * process dies (even on kill -9), so a restart never waits for a stale lock.
 */
export function lockDataDir(dir: string): () => void {
  const lock = new Database(path.join(dir, 'ferry.lock'));
  lock.pragma('busy_timeout = 0');
  try {
    lock.pragma('locking_mode = EXCLUSIVE');
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER, since INTEGER)');
    lock.exec('BEGIN EXCLUSIVE');
    lock.prepare('DELETE FROM holder').run();
    lock.prepare('INSERT INTO holder VALUES (?, ?)').run(process.pid, Date.now());
    lock.exec('COMMIT');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new DataDirError(`another Ferry is already running with data dir ${dir}; stop it first (or give this one another dataDir)`);
    }
    throw err;
  }
  return () => lock.close();
}

/** True while an engine holds the data dir's lock (used by `ferry status` to say whether Ferry runs). */
export function isDataDirLocked(dir: string): boolean {
  const file = path.join(dir, 'ferry.lock');
  if (!fs.existsSync(file)) return false;
  const probe = new Database(file, { readonly: true, fileMustExist: true });
  try {
    probe.pragma('busy_timeout = 0');
    probe.prepare('SELECT COUNT(*) FROM holder').get();
    return false;
  } catch (err) {
    return (err as { code?: string }).code?.startsWith('SQLITE_BUSY') ?? false;
  } finally {
    probe.close();
  }
}
