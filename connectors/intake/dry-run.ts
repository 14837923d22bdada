// What a scan would take now, without taking anything: the matching files, each complete or still being written.
import type { DryRunFile, DryRunOptions, DryRunResult } from '../contract.ts';
import { sleep } from './core.ts';
import type { FileEntry, StreamReader } from './reader.ts';
import type { FileRules } from './rules.ts';

/**
 * Files unchanged for settleMs (by their time, or by a second look after waiting up to maxWaitMs) are complete;
 * with a ready marker, a file is complete when its marker exists. Never throws.
 */
export async function dryRun(reader: StreamReader, rules: FileRules, settleMs: number, opts: DryRunOptions = {}): Promise<DryRunResult> {
  const maxFiles = opts.maxFiles ?? 1000;
  const maxWait = opts.maxWaitMs ?? 3000;
  try {
    const found = new Map<string, FileEntry>();
    const markers = new Set<string>();
    for await (const page of reader.list({ descend: (d) => rules.descend(d), wants: (r) => rules.matters(r) })) {
      for (const e of page) {
        if (rules.readyMarker && rules.isMarker(e.rel)) markers.add(e.rel);
        else if (rules.wants(e.rel)) found.set(e.rel, e);
      }
    }
    const rels = [...found.keys()].sort().slice(0, maxFiles);
    const files: DryRunFile[] = [];
    const recheck: string[] = [];
    const now = Date.now();
    for (const rel of rels) {
      const e = found.get(rel)!;
      const entry: DryRunFile = { relativePath: rel, size: e.size, mtime: new Date(e.mtimeMs).toISOString(), state: 'complete' };
      if (rules.readyMarker) entry.state = markers.has(rules.markerOf(rel)) ? 'complete' : 'writing';
      else if (now - e.mtimeMs < settleMs) recheck.push(rel);
      files.push(entry);
    }
    if (recheck.length > 0) {
      // Recently changed: look again once the settle time has passed (bounded), as a scan would.
      const newest = Math.max(...recheck.map((r) => found.get(r)!.mtimeMs));
      await sleep(Math.max(0, Math.min(maxWait, newest + settleMs - now)), opts.signal);
      for (const rel of recheck) {
        const before = found.get(rel)!;
        const after = await reader.stat(rel).catch(() => undefined);
        const entry = files.find((f) => f.relativePath === rel)!;
        const unchanged = after !== undefined && after.size === before.size && after.mtimeMs === before.mtimeMs;
        entry.state = unchanged && Date.now() - before.mtimeMs >= settleMs ? 'complete' : 'writing';
        if (after) (entry.size = after.size), (entry.mtime = new Date(after.mtimeMs).toISOString());
      }
    }
    return { ok: true, files, truncated: found.size > maxFiles };
  } catch (err) {
    return { ok: false, message: reader.classify(err).reason };
  }
}
