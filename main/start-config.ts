// The configuration `ferry start` and the desktop app run: the given file, or a default one in the app-data
// folder (created on first start), with the folders its folder flows use created.
import fs from 'node:fs';
import path from 'node:path';
import { dataDirOfConfigFile, defaultAppDataDir, loadConfig, type LoadedConfig } from './engine/config/load.ts';
import { SecretStore } from './engine/secrets.ts';

export const DEFAULT_CONFIG = (dataDir: string) => `# Ferry configuration (created by \`npm start\`). Reference: docs/config-reference.md
# Files dropped into "outbox" are queued durably and delivered into "delivered"; the originals move to outbox/.sent.
dataDir: ${JSON.stringify(dataDir)}
integrations:
  - name: getting-started
    flows:
      - name: outbox-to-delivered
        source:
          type: folder
          path: ./outbox
          settleMs: 1000
          afterDelivery: { action: move, to: ./outbox/.sent }
        trigger: { on: change }
        destination:
          type: folder
          path: ./delivered
`;

/** Path of the config to start with; creates the default one when none is given and none exists yet. */
export function startConfigFile(given: string | undefined, say: (line: string) => void = () => undefined): string {
  if (given) return given;
  const home = defaultAppDataDir();
  const file = path.join(home, 'ferry.yaml');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(home, { recursive: true });
    fs.writeFileSync(file, DEFAULT_CONFIG('./data'), { flag: 'wx' });
    say(`Created a default configuration: ${file}`);
  }
  return file;
}

/** Loads the start config with its secret store, creating the folders its folder flows watch and fill. */
export function loadStartConfig(file: string, opts: { masterKey?: string } = {}): { loaded: LoadedConfig; secrets: SecretStore } {
  const secrets = new SecretStore(dataDirOfConfigFile(file), { masterKey: opts.masterKey });
  const loaded = loadConfig(file, { secrets: secrets.lookup() });
  for (const i of loaded.config.integrations) {
    for (const f of i.flows) {
      if (f.source.type === 'folder') fs.mkdirSync((f.source as { path: string }).path, { recursive: true });
      if (f.destination.type === 'folder') fs.mkdirSync((f.destination as { path: string }).path, { recursive: true });
    }
  }
  return { loaded, secrets };
}
