// Temporary folders that clean themselves up after the test file.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

const made: string[] = [];
// outside vitest (a benchmark using a test helper) the caller removes what it made
if (process.env.VITEST) {
  afterAll(() => {
    for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  });
}

// Ferry refuses a data dir on tmpfs; where the system temp folder is one, tests work under test-artifacts/.
const TMPFS = 0x01021994;
const base = (() => {
  const sys = os.tmpdir();
  if (process.platform !== 'linux' || fs.statfsSync(sys).type !== TMPFS) return sys;
  const local = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts/tmp');
  fs.mkdirSync(local, { recursive: true });
  return local;
})();

export function tempDir(prefix = 'ferry-test-'): string {
  const d = fs.mkdtempSync(path.join(base, prefix));
  made.push(d);
  return d;
}

/** Polls `check` until it returns a truthy value (returned) or the timeout passes (throws with `what`). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 30_000, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Lists files under a folder (relative, "/"-separated), sorted. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}
