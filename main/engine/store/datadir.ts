// The data dir: refused on network file systems (SQLite's WAL needs shared memory on a local disk), guarded
// by an OS-level lock so two engines never share one queue, and watched for free space.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

// statfs f_type magic numbers of network/remote file systems on Linux.
const NETWORK_FS: Record<number, string> = {
  0x6969: 'NFS',
  0x517b: 'SMB',
  0xff534d42: 'CIFS',
  0xfe534d42: 'SMB2',
  0x564c: 'NCP',
  0x65735546: 'FUSE (sshfs and similar)',
  0x01021994: 'tmpfs', // not network, but loses everything on reboot: refuse too
};

export class DataDirError extends Error {}

/** Creates the data dir if needed and refuses places where the queue would not be durable. */
export function prepareDataDir(dir: string): void {
  if (process.platform === 'win32' && /^(\\\\|\/\/)/.test(dir)) {
    throw new DataDirError(`dataDir ${dir} is a network share; the queue needs a local disk (SQLite WAL does not work on network file systems)`);
  }
  fs.mkdirSync(dir, { recursive: true });
  if (process.platform === 'linux') {
    const type = fs.statfsSync(dir).type >>> 0;
    const kind = NETWORK_FS[type];
    if (kind && !(kind === 'tmpfs' && process.env.FERRY_ALLOW_TMPFS === '1')) {
      throw new DataDirError(`dataDir ${dir} is on ${kind}; the queue needs a local disk (SQLite WAL does not work on network file systems)`);
    }
  }
  if (process.platform === 'darwin') {
    // macOS mounts network volumes under /Volumes with smbfs/nfs/afpfs; statfs' type numbers differ per release.
    const real = fs.realpathSync(dir);
    if (real.startsWith('/Volumes/') && !fs.existsSync(path.join(real.split('/').slice(0, 3).join('/'), '.fseventsd'))) {
      throw new DataDirError(`dataDir ${dir} looks like a network volume; the queue needs a local disk`);
    }
  }
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
