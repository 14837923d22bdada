// Reads relay.yaml: ${env:NAME} / ${secret:NAME} resolved (secrets from the relay's data dir, set with
// `ferry secret set NAME --config relay.yaml`), paths resolved against the file's folder, every problem
// named by its key path.
import path from 'node:path';
import YAML from 'yaml';
import { ConfigError, formatIssues, interpolate, readConfigFile, type SecretLookup } from '../engine/config/load.ts';
import { Scrubber, type Placeholder } from '../engine/scrub.ts';
import { relayConfigSchema, type RelayConfig } from './schema.ts';

export interface LoadedRelayConfig {
  file: string;
  config: RelayConfig;
  /** Removes the tokens' values from what the relay logs. */
  scrubber: Scrubber;
}

export function loadRelayConfig(file: string, secrets?: SecretLookup): LoadedRelayConfig {
  const text = readConfigFile(file);
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) throw new ConfigError(file, doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`));
  const problems: string[] = [];
  const placeholders: Placeholder[] = [];
  const raw = interpolate(doc.toJS() ?? {}, [], problems, { secrets }, placeholders) as Record<string, any>;
  const dir = path.dirname(path.resolve(file));
  if (typeof raw.dataDir === 'string') raw.dataDir = path.resolve(dir, raw.dataDir);
  for (const k of ['cert', 'key']) if (typeof raw.listen?.tls?.[k] === 'string') raw.listen.tls[k] = path.resolve(dir, raw.listen.tls[k]);
  const parsed = relayConfigSchema.safeParse(raw, { reportInput: true });
  if (!parsed.success) problems.push(...formatIssues(parsed.error.issues));
  const scrubber = new Scrubber({ placeholders });
  if (problems.length || !parsed.success) throw new ConfigError(file, [...new Set(problems.map(scrubber.text))]);
  return { file: path.resolve(file), config: parsed.data, scrubber };
}
