// `ferry config keygen` and `ferry config sign`: the key pair and signatures of central configurations.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseConfigText } from '../engine/config/load.ts';
import { composeRaw } from '../engine/config-source/compose.ts';
import { readPrivateKey, signBytes, versionOf, writeKeyPair, publicKeyLine } from '../engine/config-source/signing.ts';
import { writeFileAtomic } from '../engine/secrets.ts';
import crypto from 'node:crypto';
import YAML from 'yaml';
import { err, out } from './output.ts';
import type { Act } from './options.ts';

export function registerCentralConfigCommands(program: Command, act: Act): void {
  const config = program.command('config').description('central configuration: keys and signatures (see docs/fleet.md)');

  config
    .command('keygen')
    .description('write an Ed25519 key pair: ferry-config.key (private, mode 0600) and ferry-config.pub (its one line goes into configSource.publicKey)')
    .requiredOption('--out <dir>', 'folder for the two files')
    .action(act((opts: { out: string }) => {
      const { keyFile, pubFile, publicKey } = writeKeyPair(path.resolve(opts.out));
      out(`private key: ${keyFile} (keep it off the agents; it signs configurations)`);
      out(`public key:  ${pubFile}`);
      out(`configSource.publicKey: ${publicKey}`);
      return 0;
    }));

  config
    .command('sign')
    .description('sign a central configuration file: writes CONFIG.sig (Ed25519 over its exact bytes)')
    .requiredOption('--key <file>', 'the private key (ferry-config.key)')
    .argument('<config>', 'the central configuration file (YAML or JSON)')
    // act() hands over one argument: the file and the options go in together
    .action((file: string, opts: { key: string }) => act(() => sign(file, opts.key))(undefined));
}

function sign(file: string, keyFile: string): number {
  const key = readPrivateKey(keyFile);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    err(`ferry: ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read (${(e as NodeJS.ErrnoException).code})`}`);
    return 2;
  }
  const version = versionOf(bytes);
  const check = checkCentral(bytes.toString('utf8'), file, publicKeyLine(crypto.createPublicKey(key)), version);
  if (check.refuse.length) {
    err(`ferry: ${file} not signed: agents would refuse it`);
    for (const p of check.refuse) err(p);
    return 2;
  }
  writeFileAtomic(`${file}.sig`, `${signBytes(bytes, key)}\n`, 0o644);
  out(`signed ${file} (version ${version}): ${file}.sig`);
  for (const w of check.warn) out(`warning: ${w}`);
  return 0;
}

/**
 * What an agent would say about a central file: misplaced keys and broken YAML are refused here already;
 * schema problems are warnings, since ${env:…} and ${secret:…} only resolve on each agent.
 */
function checkCentral(text: string, file: string, publicKey: string, version: string): { refuse: string[]; warn: string[] } {
  const composed = composeRaw({}, { text, version });
  if (!composed.ok) return { refuse: composed.problems, warn: [] };
  const local = YAML.stringify({ configSource: { url: 'https://central.invalid/ferry.yaml', publicKey } });
  const parsed = parseConfigText(local, path.join(path.dirname(path.resolve(file)), 'local.yaml'), { central: { text, version }, allowMissingSecrets: true });
  return { refuse: [], warn: parsed.ok ? [] : parsed.problems };
}
