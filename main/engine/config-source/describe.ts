// The config source's state for people (`ferry status`) and for other processes reading the data dir.
import type { LoadedConfig } from '../config/load.ts';
import { readSourceState, type ConfigSourceStatus } from './store.ts';

/** What `ferry status` in another process shows: the state the running (or last) engine wrote. */
export function configSourceStatusOf(loaded: LoadedConfig): ConfigSourceStatus | undefined {
  const cs = loaded.config.configSource;
  if (!cs) return undefined;
  const saved = readSourceState(loaded.dataDir);
  const version = loaded.managed?.version ?? null;
  if (saved && saved.url === cs.url) {
    const { etag: _e, lastModified: _l, ...shown } = saved;
    return shown;
  }
  return { url: cs.url, version, appliedAt: null, checkedAt: null, refused: null };
}

/** Lines for `ferry status`. */
export function configSourceLines(s: ConfigSourceStatus, ago: (iso: string | null) => string): string[] {
  const lines = [
    s.version
      ? `configuration: version ${s.version} from ${s.url}, applied ${ago(s.appliedAt)}${s.checkedAt ? `, last checked ${ago(s.checkedAt)}` : ''}`
      : `configuration: from ${s.url}, no version applied yet (no flows run until one verifies)`,
  ];
  if (s.refused) lines.push(`configuration: refused${s.refused.version ? ` version ${s.refused.version}` : ''} ${ago(s.refused.at)}: ${s.refused.reason}`);
  return lines;
}
