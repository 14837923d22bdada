// A centrally managed configuration as the UIs see it: edits of what the central file defines are refused
// (the next version would silently replace them), with the reason the editors show; a check on demand.
import type { Engine } from '../engine.ts';
import type { ConfigSourceCheckReply, ManagedBy } from '../admin/types.ts';
import { FerryApiError } from './errors.ts';

/** Why the editors are read-only, or undefined when the local file holds the integrations. */
export function managedBy(engine: Engine): ManagedBy | undefined {
  const cs = engine.config.configSource;
  if (!cs) return undefined;
  const version = engine.configSource?.status().version ?? engine.loaded.managed?.version ?? null;
  return {
    url: cs.url,
    version,
    reason: `Managed centrally: the integrations come from ${cs.url}${version ? ` (version ${version})` : ''}. Change them in the central file, sign it (ferry config sign) and publish it; edits here would be replaced by the next version.`,
  };
}

/** Refuses an edit of centrally defined settings with the reason (409). */
export function assertLocallyEditable(engine: Engine, what: string): void {
  const m = managedBy(engine);
  if (m) throw new FerryApiError(409, `${what} cannot be changed here: ${m.reason}`);
}

/** Fetches the central configuration now instead of at the next poll. */
export function checkConfigSource(engine: Engine): Promise<ConfigSourceCheckReply> {
  if (!engine.configSource) throw new FerryApiError(409, 'this configuration has no configSource: the local file holds the integrations');
  return engine.configSource.check();
}
