// Per-flow state kept beside the queue: the source's durable memory (source_state) and what the running
// engine knows of each flow (flow_state), which other processes (`ferry status`) read.
import type { Db } from './db.ts';
import type { SourceState } from '../../../connectors/contract.ts';

export function sourceState(db: Db, flow: string): SourceState {
  const get = db.prepare<[string, string], { value: string }>('SELECT value FROM source_state WHERE flow = ? AND key = ?');
  const set = db.prepare('INSERT INTO source_state (flow, key, value) VALUES (?, ?, ?) ON CONFLICT (flow, key) DO UPDATE SET value = excluded.value');
  const del = db.prepare('DELETE FROM source_state WHERE flow = ? AND key = ?');
  const list = db.prepare<[string, string, string], { key: string; value: string }>(
    'SELECT key, value FROM source_state WHERE flow = ? AND key >= ? AND key < ? ORDER BY key',
  );
  const many = db.prepare<[string, string], { key: string; value: string }>(
    'SELECT key, value FROM source_state WHERE flow = ? AND key IN (SELECT value FROM json_each(?))',
  );
  const keys = db.prepare<[string, string, string, number], { key: string }>(
    'SELECT key FROM source_state WHERE flow = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?',
  );
  const range = db
    .prepare<[string, string, string, number], [string, string]>('SELECT key, value FROM source_state WHERE flow = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?')
    .raw(true);
  return {
    get<T>(key: string): T | undefined {
      const row = get.get(flow, key);
      return row ? (JSON.parse(row.value) as T) : undefined;
    },
    set(key, value) {
      set.run(flow, key, JSON.stringify(value));
    },
    delete(key) {
      del.run(flow, key);
    },
    entries<T>(prefix: string): Array<[string, T]> {
      return list.all(flow, prefix, `${prefix}\uffff`).map((r) => [r.key, JSON.parse(r.value) as T]);
    },
    getMany<T>(wanted: string[]): Map<string, T> {
      const found = new Map<string, T>();
      if (wanted.length === 0) return found;
      for (const r of many.all(flow, JSON.stringify(wanted))) found.set(r.key, JSON.parse(r.value) as T);
      return found;
    },
    keys(from: string, to: string, limit: number): string[] {
      return keys.all(flow, from, to, limit).map((r) => r.key);
    },
    range<T>(from: string, to: string, limit: number): Array<[string, T]> {
      const rows = range.all(flow, from, to, limit) as unknown as Array<[string, unknown]>;
      for (const r of rows) r[1] = JSON.parse(r[1] as string);
      return rows as Array<[string, T]>;
    },
    rangeText(from: string, to: string, limit: number): Array<[string, string]> {
      return range.all(flow, from, to, limit);
    },
    setMany: db.transaction((entries: Array<[string, unknown]>) => {
      for (const [key, value] of entries) set.run(flow, key, JSON.stringify(value));
    }),
  };
}

export interface FlowStateRow {
  flow: string;
  first_seen_at: number;
  last_run_at: number | null;
  next_run_at: number | null;
  last_delivery_at: number | null;
  last_error: string | null;
  last_error_at: number | null;
  unreachable_since: number | null;
  intake_blocked: string | null;
  source_failing_since: number | null;
  source_problem: string | null;
  paused: number;
  updated_at: number;
}

type FlowStatePatch = Partial<Omit<FlowStateRow, 'flow' | 'first_seen_at' | 'updated_at'>>;

const PATCHABLE = ['last_run_at', 'next_run_at', 'last_delivery_at', 'last_error', 'last_error_at', 'unreachable_since', 'intake_blocked', 'source_failing_since', 'source_problem', 'paused'] as const;

export class FlowStates {
  private readonly db: Db;
  /** Filter for error texts before they are stored (the engine removes secret values with it). */
  redact: (text: string) => string = (t) => t;
  constructor(db: Db) {
    this.db = db;
  }

  ensure(flow: string, now = Date.now()): FlowStateRow {
    this.db.prepare('INSERT OR IGNORE INTO flow_state (flow, first_seen_at, updated_at) VALUES (?, ?, ?)').run(flow, now, now);
    return this.get(flow)!;
  }

  get(flow: string): FlowStateRow | undefined {
    return this.db.prepare<[string], FlowStateRow>('SELECT * FROM flow_state WHERE flow = ?').get(flow);
  }

  all(): FlowStateRow[] {
    return this.db.prepare<[], FlowStateRow>('SELECT * FROM flow_state ORDER BY flow').all();
  }

  update(flow: string, patch: FlowStatePatch, now = Date.now()): void {
    const keys = PATCHABLE.filter((k) => k in patch);
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    const params: Record<string, unknown> = { flow, now };
    for (const k of keys) params[k] = patch[k] ?? null;
    if (typeof params.last_error === 'string') params.last_error = this.redact(params.last_error);
    if (typeof params.intake_blocked === 'string') params.intake_blocked = this.redact(params.intake_blocked);
    if (typeof params.source_problem === 'string') params.source_problem = this.redact(params.source_problem);
    this.db.prepare(`UPDATE flow_state SET ${sets}, updated_at = @now WHERE flow = @flow`).run(params);
  }
}
