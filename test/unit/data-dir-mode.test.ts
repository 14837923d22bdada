// The data dir holds queued bodies and the APIs' replies: created private to Ferry's account (POSIX), and a
// data dir other users can open is reported at start.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataDirExposure, prepareDataDir } from '../../main/engine/store/datadir.ts';
import { createLogger } from '../../main/engine/logger.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('data dir permissions', () => {
  it.skipIf(process.platform === 'win32')('creates the data dir (and folders on the way) for its owner only; says when others can open one', () => {
    const dir = path.join(tempDir(), 'a', 'data');
    const saved = process.env.FERRY_ALLOW_TMPFS;
    process.env.FERRY_ALLOW_TMPFS = '1'; // wherever the temp folder lies
    try {
      prepareDataDir(dir);
    } finally {
      if (saved === undefined) delete process.env.FERRY_ALLOW_TMPFS;
      else process.env.FERRY_ALLOW_TMPFS = saved;
    }
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.dirname(dir)).mode & 0o777).toBe(0o700);
    expect(dataDirExposure(dir)).toBeUndefined();
    fs.chmodSync(dir, 0o755);
    expect(dataDirExposure(dir)).toBe(`dataDir ${dir} is open to other users of this machine (mode 755): they can read queued items and replies; chmod 700 it unless a group needs it`);
    expect(dataDirExposure(dir, 'win32')).toBeUndefined();
  });

  it.skipIf(process.platform === 'win32')('the logger, which starts before the engine, creates the data dir private too', () => {
    const data = path.join(tempDir(), 'data');
    createLogger({ level: 'silent', stderr: false, logDir: path.join(data, 'logs') });
    expect(fs.statSync(data).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(data, 'logs')).mode & 0o777).toBe(0o700);
  });
});
