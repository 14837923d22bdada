// Builds the desktop app's JavaScript (npm run build:desktop):
//   dist/app/**            main/ and connectors/ compiled 1:1 by tsc (tsconfig.desktop.json); the engine finds
//                          the app's package.json and dist/renderer by walking up (main/engine/paths.ts)
//   dist/desktop/preload.cjs  the sandboxed preload as CommonJS (a sandboxed preload may only require electron)
// The packaged app starts dist/app/main/desktop/main.js (electron-builder.yml extraMetadata.main).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function compilePreload(outFile = path.join(root, 'dist/desktop/preload.cjs')): string {
  const source = fs.readFileSync(path.join(root, 'main/desktop/preload.ts'), 'utf8');
  const out = ts.transpileModule(source, {
    fileName: 'preload.ts',
    reportDiagnostics: true,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false, sourceMap: false },
  });
  if (out.diagnostics?.length) throw new Error(ts.formatDiagnostics(out.diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' }));
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `// Built from main/desktop/preload.ts by scripts/build-desktop.ts\n${out.outputText}`);
  return outFile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const preloadOnly = process.argv.includes('--preload-only');
  console.log(`preload: ${path.relative(root, compilePreload())}`);
  if (!preloadOnly) {
    // built beside, then swapped in: a desktop process started from dist/app meanwhile (a test) keeps whole files
    const out = path.join(root, 'dist/app');
    const tmp = `${out}.${process.pid}.tmp`;
    fs.rmSync(tmp, { recursive: true, force: true });
    const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.desktop.json'), '--outDir', tmp], { stdio: 'inherit' });
    if (tsc.status !== 0) {
      fs.rmSync(tmp, { recursive: true, force: true });
      process.exit(tsc.status ?? 1);
    }
    fs.rmSync(path.join(tmp, 'package.json'), { force: true }); // a package.json here would become the package root
    const old = `${out}.${process.pid}.old`;
    if (fs.existsSync(out)) fs.renameSync(out, old);
    fs.renameSync(tmp, out);
    fs.rmSync(old, { recursive: true, force: true });
    console.log('main: dist/app/main/desktop/main.js');
  }
}
