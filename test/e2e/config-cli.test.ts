// `ferry config keygen`, `ferry config sign` and `ferry status` on a centrally managed config, as an admin
// runs them: real processes, a real HTTP server serving the signed file.
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startFerry, type RunningFerry } from '../helpers/cli.ts';
import { startConfigServer, type ConfigServer } from '../helpers/config-server.ts';
import { verifyProblem, versionOf } from '../../main/engine/config-source/signing.ts';
import { tempDir, waitFor } from '../helpers/tmp.ts';

const dir = tempDir('ferry-config-cli-');
const keyDir = path.join(dir, 'keys');
let server: ConfigServer | undefined;
let ferry: RunningFerry | undefined;

afterAll(async () => {
  await ferry?.stop();
  await server?.close();
});

describe('ferry config', () => {
  it('keygen writes the private key (0600) and the public key line; never overwrites them', async () => {
    const r = await runCli(['config', 'keygen', '--out', keyDir]);
    expect(r.code, r.stderr).toBe(0);
    const pub = fs.readFileSync(path.join(keyDir, 'ferry-config.pub'), 'utf8');
    expect(pub).toMatch(/^ed25519:[A-Za-z0-9+/]{43}=\n$/);
    expect(r.stdout).toContain(`configSource.publicKey: ${pub.trim()}`);
    expect(fs.statSync(path.join(keyDir, 'ferry-config.key')).mode & 0o777).toBe(0o600);
    const again = await runCli(['config', 'keygen', '--out', keyDir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ferry-config\.key exists already: keys are never overwritten/);
  });

  it('sign writes CONFIG.sig over the exact bytes; a file agents would refuse is not signed', async () => {
    const central = path.join(dir, 'central.yaml');
    fs.writeFileSync(central, YAML.stringify({ integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'folder', path: './in' }, destination: { type: 'folder', path: './out' } }] }] }));
    const r = await runCli(['config', 'sign', '--key', path.join(keyDir, 'ferry-config.key'), central]);
    expect(r.code, r.stderr).toBe(0);
    const bytes = fs.readFileSync(central);
    expect(r.stdout).toContain(`signed ${central} (version ${versionOf(bytes)}): ${central}.sig`);
    const pub = fs.readFileSync(path.join(keyDir, 'ferry-config.pub'), 'utf8');
    expect(verifyProblem(bytes, fs.readFileSync(`${central}.sig`, 'utf8'), pub)).toBeUndefined();
    expect(verifyProblem(Buffer.concat([bytes, Buffer.from(' ')]), fs.readFileSync(`${central}.sig`, 'utf8'), pub)).toMatch(/signature does not match/);

    const local = path.join(dir, 'has-local-keys.yaml');
    fs.writeFileSync(local, YAML.stringify({ dataDir: '/var/x', integrations: [] }));
    const refused = await runCli(['config', 'sign', '--key', path.join(keyDir, 'ferry-config.key'), local]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not signed: agents would refuse it\ndataDir: not allowed in the central configuration/);
    expect(fs.existsSync(`${local}.sig`)).toBe(false);

    const noKey = await runCli(['config', 'sign', '--key', path.join(dir, 'nope.key'), central]);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/nope\.key: no such key file/);
  });

  it('ferry status shows the applied version, and a refused one with its reason', async () => {
    server = await startConfigServer();
    const central = path.join(dir, 'central.yaml');
    server.files.set('/branch.yaml', fs.readFileSync(central));
    server.files.set('/branch.yaml.sig', fs.readFileSync(`${central}.sig`));
    const localFile = path.join(dir, 'ferry.yaml');
    fs.mkdirSync(path.join(dir, 'in'), { recursive: true });
    fs.writeFileSync(localFile, YAML.stringify({
      dataDir: './data',
      admin: { port: 0 },
      configSource: { url: `${server.url}/branch.yaml`, pollSec: 1, publicKey: fs.readFileSync(path.join(keyDir, 'ferry-config.pub'), 'utf8').trim() },
    }));
    ferry = await startFerry(localFile);
    const version = versionOf(fs.readFileSync(central));
    await ferry.waitForOutput(/central configuration applied/);
    const status = await runCli(['status', '--config', localFile]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`configuration: version ${version} from ${server.url}/branch\\.yaml, applied \\d+ s ago`));
    expect(status.stdout).toMatch(/^f +active/m);

    // a tampered copy on the server
    server.files.set('/branch.yaml', Buffer.from(`${fs.readFileSync(central, 'utf8')}# sneaked in\n`));
    const refused = await waitFor(async () => {
      const s = await runCli(['status', '--config', localFile, '--json']);
      const cs = JSON.parse(s.stdout).configSource;
      return cs?.refused ? cs : undefined;
    }, 'refusal in ferry status --json');
    expect(refused.version).toBe(version);
    expect(refused.refused.reason).toMatch(/signature does not match/);
    const text = await runCli(['status', '--config', localFile]);
    expect(text.stdout).toMatch(/configuration: refused version [0-9a-f]{12} \d+ s ago: signature does not match/);
  });
});
