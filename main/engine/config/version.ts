// The applied configuration's version: a short hash that the metrics (ferry_build_info) and the fleet
// heartbeat carry, so an admin sees at a glance which agents run which configuration.
import crypto from 'node:crypto';
import type { LoadedConfig } from './load.ts';
import { Scrubber } from '../scrub.ts';

const versions = new WeakMap<LoadedConfig, string>();

/**
 * 12 hex digits of SHA-256 over the effective config (defaults filled in, paths resolved), with every
 * ${env:…} / ${secret:…} value replaced by its name first: a changed secret changes no version, and the hash
 * is no oracle for guessing a secret. Computed once per loaded config.
 */
export function configVersion(loaded: LoadedConfig): string {
  // the version the loader gave: the central file's under configSource (what `ferry status` shows as applied),
  // else the config file's own (a hash of its text, templates and not their values)
  if (loaded.version) return loaded.version;
  let v = versions.get(loaded);
  if (v === undefined) {
    const text = new Scrubber({ placeholders: loaded.placeholders ?? [] }).text(JSON.stringify(loaded.config));
    v = crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);
    versions.set(loaded, v);
  }
  return v;
}
