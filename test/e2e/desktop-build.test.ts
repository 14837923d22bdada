// `npm run build:desktop` output: what the packaged app runs. The compiled tree must load in Node up to
// electron itself, import only shipped dependencies (electron-builder packs `dependencies`, not dev ones),
// and the preload must be CommonJS needing nothing but electron (a sandboxed preload can require no more).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';

const app = path.join(repoRoot, 'dist/app');
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));

function jsFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((e) => e.isFile() && e.name.endsWith('.js')).map((e) => path.join(e.parentPath, e.name));
}

function specifiers(file: string): string[] {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    if (ts.isCallExpression(n) && n.arguments.length === 1 && ts.isStringLiteralLike(n.arguments[0]) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))) out.push((n.arguments[0] as ts.StringLiteral).text);
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

const packageName = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

beforeAll(() => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/run-ts.js'), path.join(repoRoot, 'scripts/build-desktop.ts')], { cwd: repoRoot, encoding: 'utf8', timeout: 150_000 });
  if (r.status !== 0) throw new Error(`build:desktop failed:\n${r.stdout}\n${r.stderr}`);
}, 180_000);

describe('npm run build:desktop', () => {
  it('compiles the main process to the entry electron-builder starts', () => {
    expect(fs.existsSync(path.join(app, 'main/desktop/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'package.json'))).toBe(false);
    expect(fs.readFileSync(path.join(app, 'main/desktop/main.js'), 'utf8')).toMatch(/from "\.\.\/engine\/index\.js"/);
  });

  it('imports only node builtins, electron and shipped dependencies; relative imports resolve', () => {
    const problems: string[] = [];
    for (const file of jsFiles(app)) {
      for (const spec of specifiers(file)) {
        if (spec.startsWith('.')) {
          if (!fs.existsSync(path.resolve(path.dirname(file), spec))) problems.push(`${path.relative(app, file)}: ${spec} does not exist`);
        } else if (!spec.startsWith('node:') && !builtinModules.includes(spec) && spec !== 'electron' && !pkg.dependencies[packageName(spec)]) {
          problems.push(`${path.relative(app, file)}: ${spec} is not in dependencies`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the compiled tray logic and launcher run in plain Node (they never import electron)', async () => {
    const tray = await import(pathToFileURL(path.join(app, 'main/desktop/tray.js')).href);
    const report = { generatedAt: '', running: true, flows: [], totals: { queued: 3, inflight: 0, retrying: 0, delivered: 0, dead: 0, discarded: 0 } };
    expect(tray.trayTooltip(report, 0)).toBe('Ferry: no flows configured, 3 queued, nothing synced yet');
    const launch = await import(pathToFileURL(path.join(app, 'main/desktop/launch.js')).href);
    expect(launch.decideDesktop({ platform: 'linux', env: {}, electronBinary: '/e', built: true })).toEqual({ desktop: false, reason: 'no display (DISPLAY and WAYLAND_DISPLAY are unset)' });
  });

  it('builds the preload as CommonJS that requires electron only', () => {
    const preload = path.join(repoRoot, 'dist/desktop/preload.cjs');
    const text = fs.readFileSync(preload, 'utf8');
    expect(specifiers(preload)).toEqual(['electron']);
    expect(text).not.toMatch(/^\s*(import|export)\s/m);
    expect(text).toContain("exposeInMainWorld('ferryDesktop'");
  });
});
