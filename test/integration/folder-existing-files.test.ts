// Folder source `existingFiles`: "skip" (the dashboard's "only new files") leaves the files that were there
// when the flow first started alone, across restarts, and still takes new and changed files.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, startFerry, writeConfig } from '../helpers/cli.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

function config(dir: string, existingFiles?: 'skip' | 'process') {
  return writeConfig(dir, {
    dataDir: './data',
    admin: { port: 0 },
    integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', settleMs: 100, ...(existingFiles ? { existingFiles } : {}) }, destination: { type: 'folder', path: './out' } }] }],
  });
}

describe('folder source existingFiles', () => {
  it('skip: old files stay untouched (also after a restart); new and changed files are taken', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'in'));
    fs.writeFileSync(path.join(dir, 'in', 'old-1.txt'), 'old one');
    fs.writeFileSync(path.join(dir, 'in', 'old-2.txt'), 'old two');
    const file = config(dir, 'skip');
    let ferry = await startFerry(file);
    try {
      fs.writeFileSync(path.join(dir, 'in', 'new.txt'), 'new');
      await waitFor(() => listFiles(path.join(dir, 'out')).includes('new.txt'), 'new.txt delivered');
      await ferry.stop();
      ferry = await startFerry(file);
      fs.writeFileSync(path.join(dir, 'in', 'new-2.txt'), 'newer');
      await waitFor(() => listFiles(path.join(dir, 'out')).includes('new-2.txt'), 'new-2.txt delivered');
      expect(listFiles(path.join(dir, 'out'))).toEqual(['new-2.txt', 'new.txt']);
      // a baseline file that changes is new data: it is taken
      fs.writeFileSync(path.join(dir, 'in', 'old-1.txt'), 'old one, edited');
      await waitFor(() => listFiles(path.join(dir, 'out')).includes('old-1.txt'), 'the edited old-1.txt delivered');
      expect(fs.readFileSync(path.join(dir, 'out', 'old-1.txt'), 'utf8')).toBe('old one, edited');
      expect(listFiles(path.join(dir, 'out'))).not.toContain('old-2.txt');
    } finally {
      await ferry.stop();
    }
  });

  it('process (the default): files already there are taken', async () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'in'));
    fs.writeFileSync(path.join(dir, 'in', 'old.txt'), 'old');
    const ferry = await startFerry(config(dir));
    try {
      await waitFor(() => listFiles(path.join(dir, 'out')).includes('old.txt'), 'old.txt delivered');
    } finally {
      await ferry.stop();
    }
  });

  it('rejects an unknown value, naming the key', async () => {
    const dir = tempDir();
    const file = writeConfig(dir, { integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in', existingFiles: 'ignore' }, destination: { type: 'folder', path: './out' } }] }] });
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('integrations[0].flows[0].source.existingFiles');
  });
});
