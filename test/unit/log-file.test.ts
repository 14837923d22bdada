// A log file that cannot be written (a full disk, a path taken by a folder) neither ends the process nor stops
// logging: the failure is said once, and the file is written again once it can be.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogFile } from '../../main/engine/log-file.ts';
import { createLogger } from '../../main/engine/logger.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

describe('the log file', () => {
  it('survives a file it cannot write, says so once, and writes again once it can', async () => {
    const dir = tempDir('ferry-logfile-');
    const file = path.join(dir, 'ferry.log');
    fs.mkdirSync(file); // the file's path is taken: every open fails (EISDIR), as a write on a full disk does
    const said: string[] = [];
    const logFile = new LogFile(dir, { reopenAfterMs: 300, warn: (line) => said.push(line) });
    await waitFor(() => logFile.failures >= 1, 'the first failure', 5000);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(new RegExp(`^ferry: cannot write the log file in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.*ferry.log \\(it is not a file\\)\\); log lines go to stderr only`));
    logFile.write('{"msg":"while broken"}\n'); // dropped, no throw
    // still broken: the reopen fails too, and is not said again
    await waitFor(() => {
      logFile.write('{"msg":"retrying"}\n'); // opens the file again once 300 ms have passed
      return logFile.failures >= 2;
    }, 'a failed reopen', 5000);
    expect(said).toHaveLength(1);
    fs.rmdirSync(file);
    // written again once reopened
    await waitFor(() => {
      logFile.write('{"msg":"back"}\n');
      return fs.existsSync(file) && fs.statSync(file).isFile() && fs.readFileSync(file, 'utf8').includes('"back"');
    }, 'the log file written again', 5000);
    expect(fs.readFileSync(file, 'utf8')).not.toContain('while broken');
    logFile.end();
  });

  it('a logger whose file fails keeps logging, and the process goes on', async () => {
    const dir = tempDir('ferry-logfile-');
    fs.mkdirSync(path.join(dir, 'ferry.log'));
    const log = createLogger({ level: 'info', logDir: dir, stderr: false });
    // unhandled, the stream's 'error' event would end this worker with an uncaught exception
    for (let i = 0; i < 20; i++) {
      log.info({ i }, 'a line');
      await new Promise((r) => setImmediate(r));
    }
    expect(fs.statSync(path.join(dir, 'ferry.log')).isDirectory()).toBe(true);
  });
});
