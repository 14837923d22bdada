// Reads a YAML/JSON config file, interpolates ${env:NAME} / ${secret:NAME}, resolves relative paths
// against the config file's folder and validates it. Every problem becomes one line naming its key path.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { configSchema, type FerryConfig, type FlowConfig } from './schema.ts';
import { connectors } from '../registry.ts';
import { Scrubber, type Placeholder } from '../scrub.ts';
import { networkSchema, type NetworkConfig } from '../../../connectors/net/schema.ts';
import { composeRaw, isManaged, storedCentral, type CentralText } from '../config-source/compose.ts';
import { versionOf } from '../config-source/signing.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Looks up a secret by name (issue: desktop secrets). Returns undefined when it is not set. */
export type SecretLookup = (name: string) => string | undefined;

export interface LoadedConfig {
  file: string;
  dir: string;
  config: FerryConfig;
  dataDir: string;
  /** The parsed file before interpolation (what admin views show: templates, never secret values). */
  raw: unknown;
  /** Every ${env:…} / ${secret:…} and the value it resolved to (what the Scrubber removes from output). */
  placeholders?: Placeholder[];
  /** Risks the config accepts on purpose (`allowInsecure`), one `<key path>: <message>` line each. */
  warnings?: string[];
  /** Short hash of what defines the flows: the central file's bytes when managed, else this file's text. */
  version?: string;
  /** Set when `configSource` manages the integrations: the central version they came from (null: none yet). */
  managed?: { version: string | null };
}

/** `a.b[0].c` from a zod path. */
export function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const seg of p) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${String(seg)}` : String(seg);
  }
  return out || '(root)';
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const s = JSON.stringify(value);
  return s.length > 80 ? `${s.slice(0, 77)}..."` : s;
}

/** One readable line per zod issue: `<key path>: expected …, got …`. */
export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  const lines: string[] = [];
  for (const iss of issues) {
    const at = formatPath(iss.path);
    const input = (iss as { input?: unknown }).input;
    switch (iss.code) {
      case 'unrecognized_keys':
        for (const key of iss.keys) lines.push(`${formatPath([...iss.path, key])}: unknown key`);
        break;
      case 'invalid_type':
        lines.push(
          input === undefined
            ? `${at}: required (expected ${iss.expected})`
            : `${at}: expected ${iss.expected}, got ${describe(input)}`,
        );
        break;
      case 'invalid_value':
        lines.push(`${at}: expected one of ${iss.values.map((v) => JSON.stringify(v)).join(' | ')}, got ${describe(input)}`);
        break;
      case 'too_small':
      case 'too_big': {
        const bound = iss.code === 'too_small' ? 'at least' : 'at most';
        const limit = iss.code === 'too_small' ? iss.minimum : iss.maximum;
        lines.push(iss.message.startsWith('expected') ? `${at}: ${iss.message}` : `${at}: expected ${bound} ${String(limit)}${iss.origin === 'array' ? ' entries' : iss.origin === 'string' ? ' characters' : ''}, got ${describe(input)}`);
        break;
      }
      case 'invalid_union': {
        // A union of object shapes: report the branch that got furthest, else the union's own message.
        const branches = (iss.errors ?? []).filter((b) => b.length > 0);
        const best = branches.find((b) => b.every((x) => x.code !== 'invalid_type' || x.path.length > 0));
        if (best && !iss.message.startsWith('expected')) {
          lines.push(...formatIssues(best.map((x) => ({ ...x, path: [...iss.path, ...x.path] }))));
        } else lines.push(`${at}: ${iss.message}`);
        break;
      }
      default:
        lines.push(`${at}: ${iss.message}`);
    }
  }
  return lines;
}

const PLACEHOLDER = /\$\{(env|secret):([A-Za-z_][A-Za-z0-9_.-]*)\}/g;

export interface LoadOptions {
  secrets?: SecretLookup;
  /**
   * Commands that only read the queue (`ferry status`, `ferry queue …`) work in a shell that lacks the service's
   * environment variables and secrets: a missing one stays as its placeholder text instead of being a problem.
   */
  allowMissingSecrets?: boolean;
  /** With `configSource`: the central file to combine with (a fetched version); default: the stored last good one. */
  central?: CentralText;
}

/**
 * Replaces ${env:NAME} and ${secret:NAME} in every string, collecting a problem per missing name and each
 * resolved value in `resolved`.
 */
export function interpolate(value: unknown, at: PropertyKey[], problems: string[], opts: LoadOptions, resolved: Placeholder[] = []): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (placeholder, kind: 'env' | 'secret', key: string) => {
      const v = kind === 'env' ? process.env[key] : opts.secrets?.(key);
      if (v !== undefined) {
        if (!resolved.some((r) => r.kind === kind && r.name === key)) resolved.push({ kind, name: key, value: v });
        return v;
      }
      if (opts.allowMissingSecrets) return placeholder;
      problems.push(
        kind === 'env'
          ? `${formatPath(at)}: environment variable ${key} is not set`
          : `${formatPath(at)}: secret ${key} is not set (store it with: ferry secret set ${key})`,
      );
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...at, i], problems, opts, resolved));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, [...at, k], problems, opts, resolved)]));
  }
  return value;
}

function resolveDotted(obj: Record<string, unknown>, dotted: string, base: string): void {
  const keys = dotted.split('.');
  let cur: Record<string, unknown> | undefined = obj;
  for (const k of keys.slice(0, -1)) {
    const next: unknown = cur?.[k];
    cur = next && typeof next === 'object' ? (next as Record<string, unknown>) : undefined;
  }
  const last = keys[keys.length - 1];
  const v = cur?.[last];
  if (typeof v === 'string' && v !== '') cur![last] = path.resolve(base, v);
  // a list of paths (tls.ca)
  else if (Array.isArray(v)) cur![last] = v.map((x) => (typeof x === 'string' && x !== '' ? path.resolve(base, x) : x));
}

/** Keys of the top-level `network` block holding file paths. */
const NETWORK_PATH_KEYS = ['network.tls.ca', 'network.tls.cert', 'network.tls.key', 'network.tls.pfx'];

/** The OS's per-user app-data folder for Ferry. */
export function defaultAppDataDir(): string {
  const home = os.homedir();
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming'), 'Ferry');
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'Ferry');
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'ferry');
}

/** Parses config text (YAML or JSON) into problems or a validated config. */
export function parseConfigText(
  text: string,
  file: string,
  opts: LoadOptions = {},
): { ok: true; value: LoadedConfig } | { ok: false; problems: string[] } {
  const dir = path.dirname(path.resolve(file));
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { ok: false, problems: doc.errors.map((e) => `line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0]}`) };
  }
  let raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, problems: ['(root): expected a mapping with an "integrations" list'] };
  const problems: string[] = [];
  const sourceWarnings: string[] = [];
  let managed: LoadedConfig['managed'];
  if (isManaged(raw)) {
    // the integrations come from the central file: the one given, or the last good one in the data dir
    let central = opts.central;
    if (!central) {
      const stored = storedCentral(raw, dir, (v) => interpolate(v, [], [], { ...opts, allowMissingSecrets: true }), defaultAppDataDir);
      central = stored.central;
      if (stored.warning) sourceWarnings.push(stored.warning);
    }
    const composed = composeRaw(raw, central);
    if (!composed.ok) return { ok: false, problems: composed.problems };
    raw = composed.raw;
    managed = { version: central?.version ?? null };
  }
  const placeholders: Placeholder[] = [];
  const interpolated = interpolate(raw, [], problems, opts, placeholders) as Record<string, unknown>;

  // Resolve relative paths before validation, so defaults and checks see absolute paths.
  if (typeof interpolated.dataDir === 'string') interpolated.dataDir = path.resolve(dir, interpolated.dataDir);
  for (const key of NETWORK_PATH_KEYS) resolveDotted(interpolated, key, dir);
  const integrations = Array.isArray(interpolated.integrations) ? interpolated.integrations : [];
  for (const integration of integrations) {
    const flows = integration && typeof integration === 'object' && Array.isArray((integration as any).flows) ? (integration as any).flows : [];
    for (const flow of flows) {
      for (const role of ['source', 'destination'] as const) {
        const block = flow?.[role];
        const def = block && typeof block === 'object' ? connectors.find((c) => c.type === block.type) : undefined;
        for (const key of def?.pathKeys?.[role] ?? []) resolveDotted(block, key, dir);
      }
    }
  }

  const result = configSchema.safeParse(interpolated, { reportInput: true });
  if (!result.success) problems.push(...formatIssues(result.error.issues));
  // a problem quoting a value ("expected an http(s) URL, got …") names its placeholder instead
  const scrub = new Scrubber({ placeholders }).text;
  if (problems.length > 0 || !result.success) return { ok: false, problems: [...new Set(problems.map(scrub))] };
  const config = result.data;
  const version = managed ? (managed.version ?? undefined) : versionOf(text);
  const warnings = [...sourceWarnings, ...configWarnings(config)].map(scrub);
  return { ok: true, value: { file: path.resolve(file), dir, config, dataDir: config.dataDir ?? defaultAppDataDir(), raw, placeholders, warnings, version, ...(managed ? { managed } : {}) } };
}

/** What a flow's connectors warn about (risks accepted on purpose), with key paths from the flow. */
export function flowWarnings(flow: FlowConfig): Array<{ path: PropertyKey[]; message: string }> {
  const out: Array<{ path: PropertyKey[]; message: string }> = [];
  for (const role of ['source', 'destination'] as const) {
    const { type, ...block } = flow[role] as { type: string } & Record<string, unknown>;
    const def = connectors.find((c) => c.type === type);
    for (const w of def?.warnings?.(role, block) ?? []) out.push({ path: [role, ...w.path], message: w.message });
  }
  return out;
}

/** Every flow's warnings in a valid config, as `<key path>: <message>` lines. */
export function configWarnings(config: FerryConfig): string[] {
  return config.integrations.flatMap((integration, i) =>
    integration.flows.flatMap((flow, j) => flowWarnings(flow).map((w) => `${formatPath(['integrations', i, 'flows', j, ...w.path])}: ${w.message}`)),
  );
}

/** A config file's text; a ConfigError saying why it cannot be read. */
export function readConfigFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code ?? String(err)})`]);
  }
}

/** Loads and validates a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, opts: LoadOptions = {}): LoadedConfig {
  const text = readConfigFile(file);
  const parsed = parseConfigText(text, file, opts);
  if (!parsed.ok) throw new ConfigError(file, parsed.problems);
  return parsed.value;
}

/**
 * Validates one source or destination block on its own (admin API: "Test connection" and dry runs of unsaved
 * forms): interpolates ${env:…}/${secret:…}, resolves its paths against `dir`, checks it against its
 * connector's schema. Problem lines name keys relative to the block (`path: required …`).
 */
export function parseEndpoint(
  role: 'source' | 'destination',
  block: unknown,
  dir: string,
  opts: { secrets?: SecretLookup } = {},
): { ok: true; type: string; config: Record<string, unknown> } | { ok: false; problems: string[] } {
  if (!block || typeof block !== 'object' || Array.isArray(block)) return { ok: false, problems: [`(root): expected a ${role} block (an object with a "type")`] };
  const problems: string[] = [];
  const placeholders: Placeholder[] = [];
  const interpolated = interpolate(block, [], problems, { secrets: opts.secrets }, placeholders) as Record<string, unknown>;
  const types = connectors.filter((c) => (role === 'source' ? c.sourceSchema : c.destinationSchema)).map((c) => c.type);
  const def = connectors.find((c) => c.type === interpolated.type);
  const shape = role === 'source' ? def?.sourceSchema : def?.destinationSchema;
  if (!def || !shape) return { ok: false, problems: [`type: expected a ${role} type of ${types.join(' | ')}, got ${describe(interpolated.type)}`] };
  for (const key of def.pathKeys?.[role] ?? []) resolveDotted(interpolated, key, dir);
  const { type, ...rest } = interpolated;
  const result = shape.safeParse(rest, { reportInput: true });
  if (!result.success) problems.push(...formatIssues(result.error.issues));
  if (problems.length > 0 || !result.success) return { ok: false, problems: [...new Set(problems.map(new Scrubber({ placeholders }).text))] };
  return { ok: true, type: String(type), config: result.data as Record<string, unknown> };
}

/**
 * Validates a `network` block on its own (admin API: testing unsaved Network settings): interpolates
 * ${env:…}/${secret:…}, resolves its file paths against `dir`, checks it against the schema. Problem lines
 * name keys relative to the block (`proxy.url: …`).
 */
export function parseNetworkBlock(block: unknown, dir: string, opts: { secrets?: SecretLookup } = {}): { ok: true; config: NetworkConfig } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const interpolated = { network: interpolate(block ?? {}, [], problems, { secrets: opts.secrets }) } as Record<string, unknown>;
  for (const key of NETWORK_PATH_KEYS) resolveDotted(interpolated, key, dir);
  const result = networkSchema.safeParse(interpolated.network, { reportInput: true });
  if (!result.success) problems.push(...formatIssues(result.error.issues));
  if (problems.length > 0 || !result.success) return { ok: false, problems: [...new Set(problems)] };
  return { ok: true, config: result.data };
}

/**
 * The data dir a config file names, without validating the rest (`ferry secret` must work before the
 * secrets the config refers to exist).
 */
export function dataDirOfConfigFile(file: string): string {
  const text = readConfigFile(file);
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const dataDir = raw && typeof raw === 'object' ? (raw as { dataDir?: unknown }).dataDir : undefined;
  if (dataDir !== undefined && typeof dataDir !== 'string') throw new ConfigError(file, [`dataDir: expected a folder path, got ${describe(dataDir)}`]);
  return dataDir ? path.resolve(path.dirname(path.resolve(file)), dataDir) : defaultAppDataDir();
}
