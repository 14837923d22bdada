#!/usr/bin/env node
// The `ferry` command. Runs the bundle in dist/ (built by `npm ci` / `npm run build`) when it is up to date,
// otherwise the TypeScript sources through tsx's loader, so an edit never runs stale code.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';

// Before anything loads: the young generation keeps its start size until the engine sets its cap
// (main/engine/memory.ts says why).
if (process.env.FERRY_V8_DEFAULTS !== '1') v8.setFlagsFromString('--semi-space-growth-factor=1');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bundle = path.join(root, 'dist/cli.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  try {
    const built = fs.statSync(bundle).mtimeMs;
    // an installed package ships the bundle without the TypeScript sources
    if (!fs.existsSync(path.join(root, 'main'))) return true;
    return ['main', 'connectors'].every((d) => newestSource(path.join(root, d)) <= built);
  } catch {
    return false;
  }
}

let cli;
if (process.env.FERRY_FROM_SOURCE !== '1' && bundleIsFresh()) {
  cli = await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../main/cli.ts');
}
process.exitCode = await cli.main(process.argv);
