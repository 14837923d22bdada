// Ferry laid out as a package install is (bin/, the dist/ bundle, package.json and the production
// node_modules), in a folder every user can read. Tests that run `ferry` as another user ("nobody") start it
// from here: the checkout itself may be closed to that user (a clone under /root is mode 0700).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { repoRoot } from './cli.ts';

const TMPFS = 0x01021994;

/** True when every user can reach `dir` (each folder on its path searchable by others). */
function reachableByAll(dir: string): boolean {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if ((fs.statSync(d).mode & 0o001) === 0) return false;
    if (path.dirname(d) === d) return true;
  }
}

/**
 * A folder on a local disk (Ferry refuses a data dir on tmpfs) that every user can reach, or undefined with
 * the reason when this machine has none.
 */
export function sharedBase(): { dir: string } | { reason: string } {
  const candidates = [os.tmpdir(), '/var/tmp'];
  for (const dir of candidates) {
    try {
      if (process.platform === 'linux' && fs.statfsSync(dir).type === TMPFS) continue;
      if (reachableByAll(dir)) return { dir };
    } catch {
      // not there
    }
  }
  return { reason: `none of ${candidates.join(', ')} is a local disk folder that every user can reach` };
}

const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A temp folder under sharedBase(), mode 0777, removed after the test file. */
export function sharedTempDir(base: string, prefix: string): string {
  const d = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(d, 0o777);
  made.push(d);
  return d;
}

/** Hard-links (or, across file systems, copies) a tree, leaving out nested node_modules (listed on their own). */
function linkTree(from: string, to: string): void {
  fs.mkdirSync(to, { recursive: true, mode: 0o755 });
  fs.chmodSync(to, 0o755);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') linkTree(src, dst);
    } else if (entry.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(src), dst);
    } else if (entry.isFile()) {
      try {
        fs.linkSync(src, dst);
      } catch {
        fs.copyFileSync(src, dst);
      }
    }
  }
}

/**
 * Installs Ferry's bundle and production dependencies under `base` and returns the path of its bin/ferry.js.
 * dist/cli.mjs must be built (the tests' global setup builds it).
 */
export function installedCopy(base: string): string {
  const dir = sharedTempDir(base, 'ferry-installed-');
  fs.chmodSync(dir, 0o755);
  for (const f of ['package.json', 'bin/ferry.js', 'dist/cli.mjs']) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true, mode: 0o755 });
    fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  }
  // npm exits 1 over an extraneous package; its list is still whole
  const ls = spawnSync('npm', ['ls', '--omit=dev', '--parseable', '--all'], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'silent' } });
  if (!ls.stdout) throw new Error(`npm ls found no packages: ${ls.stderr}`);
  const packages = ls.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(path.join(repoRoot, 'node_modules') + path.sep));
  for (const p of packages) linkTree(p, path.join(dir, path.relative(repoRoot, p)));
  return path.join(dir, 'bin', 'ferry.js');
}
