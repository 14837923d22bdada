// Edits the config file for the API's config changes (dashboard editors, settings, network): changes are made on the YAML document (the `yaml` package's
// Document API), so the admin's comments and key order survive; only the keys that changed are replaced.
// Every change is validated as a whole config before the file is written (atomically: temp file + rename).
import fs from 'node:fs';
import YAML, { isMap, isScalar, isSeq, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { parseConfigText, type LoadedConfig, type SecretLookup } from '../config/load.ts';
import { writeFileAtomic } from '../secrets.ts';
import { FerryApiError } from './errors.ts';
import { isPlainObject, problemFromLine } from './input.ts';
import type { Problem, RawConfig } from '../admin/types.ts';

type Doc = Document.Parsed | Document;

/** No line folding: long flow mappings (`source: { … }`) and strings stay on their lines as the admin wrote them. */
const KEEP_LAYOUT = { lineWidth: 0 } as const;

/** Outcome of a proposed change: the new text and loaded config, or the problems with paths. */
export type Proposal = { ok: true; text: string; loaded: LoadedConfig; warnings: Problem[] } | { ok: false; problems: Problem[] };

export class ConfigFile {
  readonly file: string;
  private readonly secrets?: SecretLookup;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(file: string, secrets?: SecretLookup) {
    this.file = file;
    this.secrets = secrets;
  }

  readText(): string {
    return fs.readFileSync(this.file, 'utf8');
  }

  private document(): Doc {
    const doc = YAML.parseDocument(this.readText(), { uniqueKeys: true });
    if (doc.errors.length > 0) throw new FerryApiError(409, `${this.file} cannot be edited: ${doc.errors[0].message.split('\n')[0]}`);
    return doc;
  }

  /** The file as written (templates, never secret values). */
  raw(): RawConfig {
    return (this.document().toJS() ?? {}) as RawConfig;
  }

  /** Validates a document's text as the whole config. `prefix` turns paths relative to the edited part. */
  private check(text: string, prefix?: string, secrets = this.secrets): Proposal {
    const parsed = parseConfigText(text, this.file, { secrets });
    if (parsed.ok) {
      const warnings = (parsed.value.warnings ?? []).map(problemFromLine);
      return { ok: true, text, loaded: parsed.value, warnings: prefix === undefined ? warnings : relativeTo(warnings, prefix, true) };
    }
    const problems = parsed.problems.map(problemFromLine);
    if (prefix === undefined) return { ok: false, problems };
    return { ok: false, problems: relativeTo(problems, prefix) };
  }

  /** Serialises writers: one change at a time, each against the file as it is now. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /**
   * Validates and writes a change made by `edit`, then hands the new config to `apply`. `secrets` replaces
   * the lookup of ${secret:…} for the validation (a change that brings its own new secret values).
   */
  change<T>(edit: (doc: Doc) => string | undefined, apply: (loaded: LoadedConfig) => Promise<T>, secrets?: SecretLookup): Promise<T> {
    return this.serial(async () => {
      const doc = this.document();
      const prefix = edit(doc);
      const proposal = this.check(doc.toString(KEEP_LAYOUT), prefix, secrets ?? this.secrets);
      if (!proposal.ok) throw new FerryApiError(400, `invalid configuration: ${proposal.problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`, proposal.problems);
      writeFileAtomic(this.file, proposal.text, fs.statSync(this.file).mode & 0o777);
      return apply(proposal.loaded);
    });
  }

  /** Validates without writing (POST /api/config/validate). */
  propose(edit: (doc: Doc) => string | undefined): Proposal {
    const doc = this.document();
    const prefix = edit(doc);
    return this.check(doc.toString(KEEP_LAYOUT), prefix);
  }

  /** Validates a whole config object. */
  validateWhole(config: unknown): Proposal {
    return this.check(YAML.stringify(config));
  }
}

/** Problems inside the edited part first, with paths relative to it; others keep their full path (or go). */
function relativeTo(problems: Problem[], prefix: string, onlyInside = false): Problem[] {
  const inside = problems.filter((p) => p.path === prefix || p.path.startsWith(`${prefix}.`) || p.path.startsWith(`${prefix}[`));
  const rel = inside.map((p) => ({ path: p.path === prefix ? '' : p.path.slice(prefix.length).replace(/^\./, ''), message: p.message }));
  return onlyInside ? rel : [...rel, ...problems.filter((p) => !inside.includes(p))];
}

// ------------------------------------------------------------------ document edits

function integrationsSeq(doc: Doc): YAMLSeq {
  let seq = doc.get('integrations', true);
  if (!isSeq(seq)) {
    seq = doc.createNode([]) as YAMLSeq;
    doc.set('integrations', seq);
  }
  return seq as YAMLSeq;
}

function nameOf(node: unknown): unknown {
  return isMap(node) ? node.get('name') : undefined;
}

function findIntegration(doc: Doc, name: string): { index: number; node: YAMLMap } | undefined {
  const seq = integrationsSeq(doc);
  const index = seq.items.findIndex((n) => nameOf(n) === name);
  return index < 0 ? undefined : { index, node: seq.items[index] as YAMLMap };
}

function findFlow(integration: YAMLMap, name: string): { index: number; node: YAMLMap; seq: YAMLSeq } | undefined {
  const seq = integration.get('flows', true);
  if (!isSeq(seq)) return undefined;
  const index = seq.items.findIndex((n) => nameOf(n) === name);
  return index < 0 ? undefined : { index, node: seq.items[index] as YAMLMap, seq };
}

/**
 * Makes `node` hold `value`, touching only what differs: unchanged keys keep their nodes (and comments),
 * nested mappings are merged, keys missing from `value` are removed.
 */
export function mergeInto(doc: Doc, node: YAMLMap, value: Record<string, unknown>): void {
  for (const pair of [...node.items]) {
    const key = isScalar(pair.key) ? pair.key.value : pair.key;
    if (typeof key === 'string' && !(key in value)) node.delete(key);
  }
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const existing = node.get(k, true);
    if (isMap(existing) && isPlainObject(v)) mergeInto(doc, existing, v);
    else if (isScalar(existing) && existing.value === v) continue;
    else if ((isSeq(existing) || isMap(existing)) && JSON.stringify(existing.toJSON()) === JSON.stringify(v)) continue;
    else node.set(k, doc.createNode(v));
  }
}

/** Body of PUT …/flows/:flow or …/integrations/:integration: an object whose `name`, if given, may rename. */
function bodyObject(body: unknown, what: string): Record<string, unknown> {
  if (!isPlainObject(body)) throw new FerryApiError(400, `expected the ${what} as a JSON object`, [{ path: '', message: `expected an object, got ${Array.isArray(body) ? 'a list' : typeof body}` }]);
  return body;
}

/** Puts a flow into an integration (creating the integration if needed). Returns the flow's key path. */
export function putFlow(doc: Doc, integration: string, flow: string, body: unknown): string {
  const value = bodyObject(body, 'flow');
  const named = { name: typeof value.name === 'string' && value.name ? value.name : flow, ...value };
  named.name = typeof value.name === 'string' && value.name ? value.name : flow;
  let intg = findIntegration(doc, integration);
  if (!intg) {
    integrationsSeq(doc).add(doc.createNode({ name: integration, flows: [] }));
    intg = findIntegration(doc, integration)!;
  }
  let flows: unknown = intg.node.get('flows', true);
  if (!isSeq(flows)) {
    flows = doc.createNode([]);
    intg.node.set('flows', flows);
  }
  const seq = flows as YAMLSeq;
  const found = findFlow(intg.node, flow);
  if (found) {
    mergeInto(doc, found.node, named);
    return `integrations[${intg.index}].flows[${found.index}]`;
  }
  seq.add(doc.createNode(named));
  return `integrations[${intg.index}].flows[${seq.items.length - 1}]`;
}

export function deleteFlow(doc: Doc, integration: string, flow: string): string | undefined {
  const intg = findIntegration(doc, integration);
  if (!intg) throw new FerryApiError(404, `no integration named "${integration}"`);
  const found = findFlow(intg.node, flow);
  if (!found) throw new FerryApiError(404, `no flow named "${flow}" in integration "${integration}"`);
  found.seq.items.splice(found.index, 1);
  return undefined;
}

export function putIntegration(doc: Doc, integration: string, body: unknown): string {
  const value = bodyObject(body, 'integration');
  const named = { name: typeof value.name === 'string' && value.name ? value.name : integration, ...value };
  named.name = typeof value.name === 'string' && value.name ? value.name : integration;
  const found = findIntegration(doc, integration);
  if (found) {
    mergeIntegration(doc, found.node, named);
    return `integrations[${found.index}]`;
  }
  const seq = integrationsSeq(doc);
  seq.add(doc.createNode(named));
  return `integrations[${seq.items.length - 1}]`;
}

/** Like mergeInto, but flows are matched by name so each flow's own comments survive. */
function mergeIntegration(doc: Doc, node: YAMLMap, value: Record<string, unknown>): void {
  const { flows, ...rest } = value;
  const flowsNode = node.get('flows', true);
  mergeInto(doc, node, { ...rest, flows: Array.isArray(flows) && isSeq(flowsNode) ? flowsNode.toJSON() : flows });
  if (!Array.isArray(flows) || !isSeq(flowsNode)) return;
  const byName = new Map(flowsNode.items.map((n) => [nameOf(n), n]));
  const items = flows.map((f) => {
    const existing = isPlainObject(f) ? byName.get(f.name) : undefined;
    if (existing && isMap(existing) && isPlainObject(f)) {
      mergeInto(doc, existing, f);
      return existing;
    }
    return doc.createNode(f);
  });
  flowsNode.items.splice(0, flowsNode.items.length, ...items);
}

export function deleteIntegration(doc: Doc, integration: string): undefined {
  const found = findIntegration(doc, integration);
  if (!found) throw new FerryApiError(404, `no integration named "${integration}"`);
  integrationsSeq(doc).items.splice(found.index, 1);
  return undefined;
}

/** Sets top-level settings (logLevel, admin.port, dataDir); undefined leaves a key as it is. */
export function putSettings(doc: Doc, s: { logLevel?: string; adminPort?: number; dataDir?: string }): string | undefined {
  if (s.logLevel !== undefined) doc.set('logLevel', s.logLevel);
  if (s.adminPort !== undefined) doc.setIn(['admin', 'port'], s.adminPort);
  if (s.dataDir !== undefined) doc.set('dataDir', s.dataDir);
  return undefined;
}
