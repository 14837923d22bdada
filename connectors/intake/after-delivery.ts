// After-delivery, once the destination confirmed: the original is moved into the archive folder (never over an
// existing file: "a (1).txt") or deleted, with its ready marker, and the memory of it goes. Only the very file
// delivered is touched: one that is gone (a repeat after a crash) or was replaced since it was taken stays.
import path from 'node:path';
import { suffixedName, type SettledItem } from '../contract.ts';
import type { TakenMemory } from './memory.ts';
import type { FileEntry, StreamReader } from './reader.ts';
import type { FileRules } from './rules.ts';

/** Names tried for a move before giving up: "a.txt", "a (1).txt"… */
const MAX_SUFFIX = 10_000;

export class AfterDelivery {
  private readonly reader: StreamReader;
  private readonly rules: FileRules;
  private readonly memory: TakenMemory;
  private readonly action: 'move' | 'delete' | 'keep';

  constructor(reader: StreamReader, rules: FileRules, memory: TakenMemory, action: 'move' | 'delete' | 'keep') {
    this.reader = reader;
    this.rules = rules;
    this.memory = memory;
    this.action = action;
  }

  /** Runs for one delivered item; throwing makes the engine retry it later. */
  async run(item: SettledItem): Promise<void> {
    if (this.action === 'keep') return;
    const rel = String(item.attributes.relativePath ?? item.name);
    const st = await this.reader.stat(rel);
    if (st && this.isDelivered(st, item)) {
      if (this.action === 'delete') await this.removeIfThere(rel);
      else await this.archive(rel);
      if (this.rules.readyMarker) await this.removeIfThere(this.rules.markerOf(rel));
    } else if (!st && this.rules.readyMarker) {
      // moved or deleted by an earlier attempt that stopped before the marker went
      await this.removeIfThere(this.rules.markerOf(rel));
    }
    this.memory.forget(rel);
  }

  /** Whether the file there now is the one delivered (same size; same time within the storage's precision). */
  private isDelivered(st: FileEntry, item: SettledItem): boolean {
    const mtimeMs = Number(item.attributes.mtimeMs);
    if (st.size !== Number(item.attributes.size)) return false;
    if (!st.mtimeMs || !mtimeMs) return true;
    return Math.abs(Math.trunc(st.mtimeMs) - Math.trunc(mtimeMs)) < this.reader.timePrecisionMs;
  }

  /** Removes a file; one already gone is fine. */
  private async removeIfThere(rel: string): Promise<void> {
    try {
      await this.reader.remove(rel);
    } catch (err) {
      if (!this.reader.classify(err, rel).missing) throw err;
    }
  }

  private async archive(rel: string): Promise<void> {
    for (let n = 0; n < MAX_SUFFIX; n++) {
      const toRel = n === 0 ? rel : path.posix.join(path.posix.dirname(rel), suffixedName(path.posix.basename(rel), n));
      if (await this.reader.archive(rel, toRel)) return;
    }
    throw new Error(`no free name for ${this.reader.archiveWhere(rel)}`);
  }
}
