// Where Ferry's own files are: the package root holds package.json, bin/ and dist/. Found by walking up from
// this module, because the same code runs from main/engine (sources), dist/cli.mjs (the CLI bundle) and an
// app bundle, each at a different depth.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

export function packageRoot(): string {
  if (root) return root;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if (JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'ferry') return (root = dir);
      } catch {
        // not ours: keep looking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find Ferry's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

let version: string | undefined;

/** Ferry's version, read from its package.json once (the OpenAPI route and each metrics scrape ask for it). */
export function packageVersion(): string {
  version ??= JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
  return version;
}
