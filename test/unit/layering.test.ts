// The layering rules of DESIGN.md, checked on every source file's imports (as VS Code's layer lint does).
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/cli.ts';

interface Rule {
  folder: string;
  /** Returns a reason when the import is not allowed from a file (`from`) in this folder. */
  forbid(spec: string, resolved: string | undefined, typeOnly: boolean, from: string): string | undefined;
}

const inside = (file: string | undefined, folder: string) => file !== undefined && (file + path.sep).startsWith(path.join(repoRoot, folder) + path.sep);

/**
 * What a connector may import besides connectors/contract.ts and its own folder: the shared connector libraries.
 * connectors/intake is the file-intake core (folder, FTP, SFTP), connectors/remote what FTP and SFTP share. The
 * HTTP-based connectors share connectors/http-common (auth and OAuth token requests, reply reading, URL and auth config).
 */
export const SHARED_CONNECTOR_LIBRARIES = [
  'connectors/intake',
  'connectors/remote',
  'connectors/net',
  'connectors/http-common',
];

/** The connector folder a file belongs to (connectors/<name>), or undefined for connectors/contract.ts. */
function connectorFolder(file: string): string | undefined {
  const rel = path.relative(path.join(repoRoot, 'connectors'), file).split(path.sep);
  return rel.length > 1 ? `connectors/${rel[0]}` : undefined;
}

/** What main/desktop may import besides its own folder, electron and libraries: the engine's public API. */
export const DESKTOP_MAY_IMPORT = ['main/engine/index.ts', 'main/start-config.ts'];

/** The type modules the renderer may import from (type-only): the admin API's shapes and the desktop bridge. */
export const RENDERER_MAY_IMPORT_TYPES = ['main/engine/admin/types.ts', 'main/desktop/bridge.ts'];

const NODE_BUILTINS = new Set(builtinModules);

const mayImportConnectorFile = (from: string, resolved: string) => {
  if (resolved === path.join(repoRoot, 'connectors/contract.ts')) return true;
  const own = connectorFolder(from);
  if (own && inside(resolved, own)) return true;
  return SHARED_CONNECTOR_LIBRARIES.some((lib) => resolved === path.join(repoRoot, lib) || inside(resolved, lib));
};

const rules: Rule[] = [
  {
    folder: 'connectors',
    forbid: (spec, resolved, _typeOnly, from) => {
      if (spec === 'electron' || spec.startsWith('electron/')) return 'connectors never import electron';
      if (resolved && !inside(resolved, 'connectors')) return 'connectors import only connectors/ (contract.ts) and libraries';
      if (resolved && !mayImportConnectorFile(from, resolved)) return 'a connector imports only connectors/contract.ts, its own folder and the shared connector libraries';
      return undefined;
    },
  },
  {
    folder: 'main/engine',
    forbid: (spec, resolved) => {
      if (spec === 'electron' || spec.startsWith('electron/')) return 'the engine never imports electron';
      if (inside(resolved, 'main/desktop')) return 'the engine never imports main/desktop';
      if (inside(resolved, 'renderer')) return 'the engine never imports the renderer';
      return undefined;
    },
  },
  {
    // the engine runs alone (CLI, tests, the desktop): whatever hosts it puts the admin API on top
    folder: 'main/engine',
    forbid: (_spec, resolved, _typeOnly, from) => {
      const host = from === path.join(repoRoot, 'main/engine/index.ts') || inside(from, 'main/engine/admin');
      if (!host && resolved === path.join(repoRoot, 'main/engine/admin/server.ts')) return 'the engine does not import the admin server (its host starts it: startWithAdmin)';
      if (!host && resolved === path.join(repoRoot, 'main/engine/admin/routes.ts')) return 'the engine does not import the admin routes';
      if (inside(resolved, 'main/cli') || resolved === path.join(repoRoot, 'main/cli.ts')) return 'the engine never imports the CLI';
      return undefined;
    },
  },
  {
    folder: 'main/desktop',
    forbid: (_spec, resolved) => {
      if (!resolved || inside(resolved, 'main/desktop')) return undefined;
      if (DESKTOP_MAY_IMPORT.some((f) => resolved === path.join(repoRoot, f))) return undefined;
      return "the desktop shell imports only the engine's public API (main/engine/index.ts)";
    },
  },
  {
    folder: 'renderer',
    forbid: (spec, resolved, typeOnly) => {
      if (spec.startsWith('node:') || NODE_BUILTINS.has(spec.split('/')[0])) return 'the renderer runs in a browser: no Node modules';
      if (resolved && (inside(resolved, 'main') || inside(resolved, 'connectors'))) {
        if (!typeOnly) return 'the renderer may only import types from the engine';
        if (!RENDERER_MAY_IMPORT_TYPES.some((f) => resolved === path.join(repoRoot, f))) return "the renderer imports types only from the admin API's type module (and the desktop bridge's)";
      }
      return undefined;
    },
  },
];

function sourceFiles(folder: string): string[] {
  const dir = path.join(repoRoot, folder);
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile() && /\.(ts|tsx|mts)$/.test(e.name) && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name))
    .filter((f) => !f.includes(`${path.sep}node_modules${path.sep}`) && !f.includes(`${path.sep}dist${path.sep}`));
}

/** Every import/export-from/dynamic import/require in a file, with whether it is type-only. */
function importsOf(file: string): Array<{ spec: string; typeOnly: boolean }> {
  const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Array<{ spec: string; typeOnly: boolean }> = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!c.namedBindings && ts.isNamedImports(c.namedBindings) && c.namedBindings.elements.every((e) => e.isTypeOnly)));
      found.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.arguments.length === 1 && ts.isStringLiteralLike(node.arguments[0])) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) {
        found.push({ spec: (node.arguments[0] as ts.StringLiteral).text, typeOnly: false });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
  return found;
}

export function layeringViolations(): string[] {
  const problems: string[] = [];
  for (const rule of rules) {
    for (const file of sourceFiles(rule.folder)) {
      for (const { spec, typeOnly } of importsOf(file)) {
        const resolved = spec.startsWith('.') ? path.resolve(path.dirname(file), spec) : undefined;
        const why = rule.forbid(spec, resolved, typeOnly, file);
        if (why) problems.push(`${path.relative(repoRoot, file)} imports "${spec}": ${why}`);
      }
    }
  }
  return problems;
}

describe('layering (DESIGN.md import rules)', () => {
  it('finds source files to check', () => {
    expect(sourceFiles('main/engine').length).toBeGreaterThan(5);
    expect(sourceFiles('connectors').length).toBeGreaterThan(3);
  });

  it('no folder imports what its layer forbids', () => {
    expect(layeringViolations()).toEqual([]);
  });

  it('catches a connector importing another connector\'s code (not a shared library)', () => {
    const probe = path.join(repoRoot, 'connectors/sftp/__probe__.ts');
    try {
      fs.writeFileSync(probe, "import { FtpFs } from '../ftp/client.ts';\nimport { SessionPool } from '../remote/session-pool.ts';\nexport const x = [FtpFs, SessionPool];\n");
      const problems = layeringViolations().filter((p) => p.startsWith('connectors/sftp/__probe__.ts'));
      expect(problems).toEqual(['connectors/sftp/__probe__.ts imports "../ftp/client.ts": a connector imports only connectors/contract.ts, its own folder and the shared connector libraries']);
    } finally {
      fs.rmSync(probe, { force: true });
    }
  });

  it('catches the desktop reaching into the engine, the renderer importing Node or engine code, the engine importing the admin server', () => {
    const probes: Record<string, string> = {
      'main/desktop/__probe__.ts': "import { Queue } from '../engine/store/queue.ts';\nexport const x = Queue;\n",
      'renderer/__probe__.ts': "import fs from 'node:fs';\nimport type { StatusReport } from '../main/engine/status.ts';\nexport const x: StatusReport | typeof fs | undefined = undefined;\n",
      'main/engine/__probe__.ts': "import { AdminServer } from './admin/server.ts';\nexport const x = AdminServer;\n",
    };
    try {
      for (const [f, text] of Object.entries(probes)) fs.writeFileSync(path.join(repoRoot, f), text);
      const problems = layeringViolations().filter((p) => p.includes('__probe__'));
      expect(problems.sort()).toEqual(
        [
          'main/desktop/__probe__.ts imports "../engine/store/queue.ts": the desktop shell imports only the engine\'s public API (main/engine/index.ts)',
          'main/engine/__probe__.ts imports "./admin/server.ts": the engine does not import the admin server (its host starts it: startWithAdmin)',
          'renderer/__probe__.ts imports "node:fs": the renderer runs in a browser: no Node modules',
          'renderer/__probe__.ts imports "../main/engine/status.ts": the renderer imports types only from the admin API\'s type module (and the desktop bridge\'s)',
        ].sort(),
      );
    } finally {
      for (const f of Object.keys(probes)) fs.rmSync(path.join(repoRoot, f), { force: true });
    }
  });

  it('catches an electron import in the engine or a connector', () => {
    const probes = [path.join(repoRoot, 'main/engine/__probe__.ts'), path.join(repoRoot, 'connectors/__probe__.ts')];
    try {
      for (const p of probes) fs.writeFileSync(p, "import { app } from 'electron';\nexport const x = app;\n");
      const problems = layeringViolations();
      expect(problems).toContain('main/engine/__probe__.ts imports "electron": the engine never imports electron');
      expect(problems).toContain('connectors/__probe__.ts imports "electron": connectors never import electron');
    } finally {
      for (const p of probes) fs.rmSync(p, { force: true });
    }
  });
});
