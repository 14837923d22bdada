// A managed config is the local file (machine-local keys and configSource) plus the central file (the
// integrations and shared settings). Each may hold only its own keys, so nobody wonders which one wins.
import path from 'node:path';
import YAML from 'yaml';
import { CENTRAL_KEYS, LOCAL_KEYS } from './schema.ts';
import { readLastGood } from './store.ts';

type Raw = Record<string, unknown>;

export function isManaged(raw: unknown): raw is Raw & { configSource: unknown } {
  return !!raw && typeof raw === 'object' && 'configSource' in raw;
}

/** Where the central text comes from: given (a fetched version being checked) or the stored last good one. */
export interface CentralText {
  text: string;
  version: string;
}

/**
 * The combined raw config, or problems. `central` undefined: no good version yet, so the agent runs no flows
 * until the first one arrives. `note` says which of the two files a problem is in.
 */
export function composeRaw(local: Raw, central: CentralText | undefined): { ok: true; raw: Raw } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  for (const key of Object.keys(local)) {
    if (!(LOCAL_KEYS as readonly string[]).includes(key)) {
      problems.push(
        key === 'integrations'
          ? 'integrations: not allowed beside configSource: the integrations come from configSource.url'
          : `${key}: not allowed beside configSource (the local file may hold only ${LOCAL_KEYS.filter((k) => k !== '$schema').join(', ')}; ${key} belongs in the central file)`,
      );
    }
  }
  if (!central) return problems.length ? { ok: false, problems } : { ok: true, raw: { ...local, integrations: [] } };
  const doc = YAML.parseDocument(central.text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { ok: false, problems: [...problems, ...doc.errors.map((e) => `central configuration line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`)] };
  }
  const centralRaw = doc.toJS() ?? {};
  if (typeof centralRaw !== 'object' || Array.isArray(centralRaw)) return { ok: false, problems: [...problems, 'central configuration: expected a mapping with an "integrations" list'] };
  for (const key of Object.keys(centralRaw)) {
    if (!(CENTRAL_KEYS as readonly string[]).includes(key)) {
      problems.push(`${key}: not allowed in the central configuration (it may hold only ${CENTRAL_KEYS.filter((k) => k !== '$schema').join(', ')}; ${key} is set in each machine's local file)`);
    }
  }
  if (problems.length) return { ok: false, problems };
  const { $schema: _ignored, ...shared } = centralRaw as Raw;
  return { ok: true, raw: { ...shared, ...local } };
}

/**
 * The central text a local managed file runs with when none is given: the stored last good version.
 * `resolve` interpolates one value (the publicKey or dataDir may name ${env:…}).
 */
export function storedCentral(local: Raw, dir: string, resolve: (v: unknown) => unknown, defaultDataDir: () => string): { central?: CentralText; warning?: string } {
  const source = local.configSource as { publicKey?: unknown } | undefined;
  const publicKey = resolve(source?.publicKey);
  if (typeof publicKey !== 'string') return {}; // the schema names the problem
  const dataDir = typeof local.dataDir === 'string' ? path.resolve(dir, String(resolve(local.dataDir))) : defaultDataDir();
  const found = readLastGood(dataDir, publicKey);
  if (!found) return {};
  if ('problem' in found) return { warning: `configSource: ${found.problem}` };
  return { central: found };
}
