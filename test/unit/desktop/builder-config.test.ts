// electron-builder.yml cannot be exercised here (packaging downloads Electron), so its shape is checked:
// required keys, targets, the files it names, icons, the native-module handling and the update feed.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../helpers/cli.ts';

const config = YAML.parse(fs.readFileSync(path.join(repoRoot, 'electron-builder.yml'), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));
const exists = (rel: string) => fs.existsSync(path.join(repoRoot, rel));
const STATES = ['ok', 'syncing', 'attention', 'error', 'paused'];

/** Reads a PNG's size and RGBA pixels (8-bit RGBA, filter 0 rows: what scripts/make-icons.ts writes). */
function readPng(file: string): { width: number; height: number; pixels: Buffer } {
  const buf = fs.readFileSync(file);
  expect(buf.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    if (type === 'IHDR') {
      width = buf.readUInt32BE(off + 8);
      height = buf.readUInt32BE(off + 12);
      expect(buf[off + 16]).toBe(8);
      expect(buf[off + 17]).toBe(6);
    }
    if (type === 'IDAT') idat.push(buf.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const pixels = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width * 4 + 1)]).toBe(0);
    raw.copy(pixels, y * width * 4, y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1));
  }
  return { width, height, pixels };
}

/** The sizes of the images in an .ico file. */
function icoSizes(file: string): number[] {
  const buf = fs.readFileSync(file);
  expect(buf.readUInt16LE(0)).toBe(0);
  expect(buf.readUInt16LE(2)).toBe(1);
  const n = buf.readUInt16LE(4);
  return Array.from({ length: n }, (_, i) => buf[6 + 16 * i] || 256);
}

describe('electron-builder.yml', () => {
  it('names the app', () => {
    expect(config.appId).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/);
    expect(config.productName).toBe('Ferry');
    expect(config.directories).toMatchObject({ output: 'release', buildResources: 'build' });
    expect(fs.readFileSync(path.join(repoRoot, '.gitignore'), 'utf8')).toMatch(/^release\/$/m);
  });

  it('builds a per-user NSIS installer with a per-machine option and a start-menu entry', () => {
    expect(config.win.target).toEqual([{ target: 'nsis', arch: ['x64'] }]);
    expect(config.nsis).toMatchObject({ oneClick: false, perMachine: false, allowElevation: true, createStartMenuShortcut: true });
    expect(exists(config.nsis.include)).toBe(true);
    const nsh = fs.readFileSync(path.join(repoRoot, config.nsis.include), 'utf8');
    expect(nsh).toContain('!macro customInstall');
    expect(nsh).toContain('CurrentVersion\\Run');
    expect(nsh).toContain('!macro customUnInstall');
  });

  it('builds macOS dmg images for arm64 and x64', () => {
    const dmg = config.mac.target.find((t: { target: string }) => t.target === 'dmg');
    expect(dmg.arch.sort()).toEqual(['arm64', 'x64']);
  });

  it('has icons: a Windows .ico with the usual sizes and a 512 px PNG for macOS', () => {
    expect(config.win.icon).toBe('build/icon.ico');
    expect(icoSizes(path.join(repoRoot, config.win.icon))).toEqual(expect.arrayContaining([16, 32, 48, 256]));
    const mac = readPng(path.join(repoRoot, config.mac.icon));
    expect([mac.width, mac.height]).toEqual([512, 512]);
  });

  it('ships tray icons for every state: .ico for Windows, black-only template PNGs (1x and 2x) for macOS', () => {
    for (const s of STATES) {
      expect(icoSizes(path.join(repoRoot, `assets/tray/${s}.ico`))).toEqual(expect.arrayContaining([16, 32]));
      const one = readPng(path.join(repoRoot, `assets/tray/${s}Template.png`));
      const two = readPng(path.join(repoRoot, `assets/tray/${s}Template@2x.png`));
      expect([one.width, two.width]).toEqual([16, 32]);
      for (const img of [one, two]) {
        let opaque = 0;
        for (let i = 0; i < img.pixels.length; i += 4) {
          // a template image is black with alpha: macOS recolours it for light and dark menu bars
          expect(img.pixels[i] + img.pixels[i + 1] + img.pixels[i + 2]).toBe(0);
          if (img.pixels[i + 3] > 128) opaque++;
        }
        expect(opaque).toBeGreaterThan(img.width * img.height * 0.15);
      }
    }
    expect(config.files).toContain('assets/tray/**/*');
  });

  it('packs what the app runs and points main at the compiled entry', () => {
    expect(config.extraMetadata.main).toBe('dist/app/main/desktop/main.js');
    const tsDesktop = JSON.parse(fs.readFileSync(path.join(repoRoot, 'tsconfig.desktop.json'), 'utf8'));
    expect(tsDesktop.compilerOptions.outDir).toBe('dist/app');
    expect(exists('main/desktop/main.ts')).toBe(true);
    for (const f of ['package.json', 'dist/app/**/*', 'dist/renderer/**/*', 'dist/desktop/preload.cjs']) expect(config.files).toContain(f);
    // every plain (not generated, not negated) path it lists is in the repository
    for (const f of config.files as string[]) {
      if (f.startsWith('!') || f.startsWith('dist/')) continue;
      expect(exists(f.replace(/\/\*\*\/\*$/, '')), f).toBe(true);
    }
    expect(pkg.main).toBe('main/desktop/main.js');
    expect(exists(pkg.main)).toBe(true);
  });

  it('unpacks better-sqlite3 from the asar and rebuilds it for Electron only in npm run dist', () => {
    expect(config.asarUnpack).toContain('node_modules/better-sqlite3/**/*');
    expect(config.npmRebuild).toBe(true);
    expect(pkg.dependencies['better-sqlite3']).toBeDefined();
    for (const hook of ['install', 'postinstall', 'preinstall']) expect(pkg.scripts[hook], hook).toBeUndefined();
    // `prepare` (run by npm ci) only bundles the CLI: nothing native is rebuilt on install
    if (pkg.scripts.prepare) expect(pkg.scripts.prepare).not.toMatch(/rebuild|electron/);
    expect(Object.values(pkg.scripts as Record<string, string>).filter((s) => /electron-builder|electron-rebuild|install-app-deps/.test(s))).toEqual([pkg.scripts.dist]);
    // dist: build, package, then give better-sqlite3 back its Node build for tests and the CLI
    expect(pkg.scripts.dist).toMatch(/build:renderer.*build:desktop.*electron-builder.*npm rebuild better-sqlite3$/);
  });

  it('sets the Electron fuses: no Node mode, no NODE_OPTIONS, no inspector, only the checked app.asar, encrypted cookies', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    });
    // every key is one electron-builder knows (a misspelt fuse would be ignored or fail the build)
    const scheme = JSON.parse(fs.readFileSync(path.join(repoRoot, 'node_modules/app-builder-lib/scheme.json'), 'utf8'));
    const known = Object.keys(scheme.definitions.FuseOptionsV1.properties);
    for (const k of Object.keys(config.electronFuses)) expect(known, k).toContain(k);
    expect(config.asar).toBe(true); // onlyLoadAppFromAsar needs the app in an asar
    // RunAsNode off: nothing in the packaged app may rely on running Electron as Node
    for (const f of ['main/desktop/main.ts', 'main/desktop/launch.ts', 'main/desktop/updater.ts']) {
      expect(fs.readFileSync(path.join(repoRoot, f), 'utf8'), f).not.toMatch(/ELECTRON_RUN_AS_NODE\s*[:=]\s*['"]?1|child_process\.fork|\bfork\(/);
    }
  });

  it('publishes updates to a configurable generic feed, with latest and beta channels from the version', async () => {
    const feed = config.publish.find((p: { provider: string }) => p.provider === 'generic');
    expect(feed.url).toBe('${env.FERRY_UPDATE_URL}');
    // no fixed channel: 1.5.0-beta.1 publishes beta.yml; a stable version latest.yml and beta.yml
    expect(feed.channel).toBeUndefined();
    expect(config.detectUpdateChannel).toBe(true);
    expect(config.generateUpdatesFilesForAllChannels).toBe(true);
    const { updateChannel } = await import('../../../main/desktop/updater.ts');
    expect(updateChannel('1.4.0', {})).toBe('latest');
    expect(updateChannel('1.5.0-beta.1', {})).toBe('beta');
    expect(updateChannel('1.4.0', { FERRY_UPDATE_CHANNEL: 'beta' })).toBe('beta');
    expect(pkg.dependencies['electron-updater']).toBeDefined();
    expect(fs.readFileSync(path.join(repoRoot, 'main/desktop/updater.ts'), 'utf8')).toContain('FERRY_UPDATE_URL');
  });
});
