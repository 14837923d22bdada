// Secrets as a UI sees them: names, last change and the flows that use each; a value goes in, never out.
import type { SecretStore } from '../secrets.ts';
import { assertSecretName, SecretError } from '../secrets.ts';
import type { RawConfig, SecretInfo, SecretsReply } from '../admin/types.ts';
import { FerryApiError } from './errors.ts';
import { isPlainObject } from './input.ts';

export function secretStore(store: SecretStore | undefined): SecretStore {
  if (!store) throw new FerryApiError(501, 'this engine runs without a secret store');
  return store;
}

/** Secret name → the flows whose config refers to ${secret:NAME}. */
export function secretUses(raw: RawConfig | unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const visit = (v: unknown, flow: string) => {
    if (typeof v === 'string') for (const m of v.matchAll(/\$\{secret:([A-Za-z_][A-Za-z0-9_.-]*)\}/g)) out.set(m[1], [...new Set([...(out.get(m[1]) ?? []), flow])]);
    else if (Array.isArray(v)) v.forEach((x) => visit(x, flow));
    else if (isPlainObject(v)) Object.values(v).forEach((x) => visit(x, flow));
  };
  const integrations = isPlainObject(raw) && Array.isArray(raw.integrations) ? raw.integrations : [];
  for (const i of integrations) for (const f of isPlainObject(i) && Array.isArray(i.flows) ? i.flows : []) visit(f, isPlainObject(f) ? String(f.name) : '?');
  return out;
}

/** A secret store's failure (a missing or wrong key) is the engine's problem, not the request's. */
export function storeFailure<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof SecretError) throw new FerryApiError(500, err.message);
    throw err;
  }
}

export function listSecrets(store: SecretStore, raw: RawConfig): SecretsReply {
  const uses = secretUses(raw);
  return storeFailure(() => ({ secrets: store.list().map((s) => ({ name: s.name, updatedAt: new Date(s.updatedAt).toISOString(), usedBy: uses.get(s.name) ?? [] })), storage: store.describeStorage() }));
}

export function showSecret(store: SecretStore, raw: RawConfig, name: string): SecretInfo {
  const found = storeFailure(() => store.list()).find((s) => s.name === name);
  if (!found) throw new FerryApiError(404, `no secret named "${name}"`);
  return { name: found.name, updatedAt: new Date(found.updatedAt).toISOString(), usedBy: secretUses(raw).get(found.name) ?? [] };
}

export function checkedSecretName(name: string, where = 'name'): string {
  try {
    assertSecretName(name);
  } catch (err) {
    throw new FerryApiError(400, (err as Error).message, [{ path: where, message: (err as Error).message }]);
  }
  return name;
}
