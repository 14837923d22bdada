// Counts the calls a piece of code makes into SQLite through a connection's prepared statements, and the values
// it binds: each call and each bound value costs CPU of its own, whatever the rows. Statements prepared on `db`
// after watchStatements() are counted (so construct the Queue after it).
import type { Db } from '../../main/engine/store/db.ts';

export interface StatementCalls {
  /** Calls of run/get/all/iterate since the last reset. */
  calls: number;
  /** Values bound by those calls (each array element and each named value). */
  values: number;
  /** The SQL of each call, in order. */
  sql: string[];
  reset(): void;
}

export function watchStatements(db: Db): StatementCalls {
  const counts: StatementCalls = {
    calls: 0,
    values: 0,
    sql: [],
    reset() {
      this.calls = 0;
      this.values = 0;
      this.sql = [];
    },
  };
  const prepare = db.prepare.bind(db);
  const count = (args: unknown[]) => {
    let n = 0;
    for (const a of args) {
      if (Array.isArray(a)) n += a.length;
      else if (a !== null && typeof a === 'object' && !Buffer.isBuffer(a)) n += Object.keys(a).length;
      else n++;
    }
    return n;
  };
  db.prepare = ((source: string) => {
    const stmt = prepare(source);
    for (const method of ['run', 'get', 'all', 'iterate'] as const) {
      const real = (stmt[method] as (...a: unknown[]) => unknown).bind(stmt);
      (stmt as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        counts.calls++;
        counts.values += count(args);
        counts.sql.push(source);
        return real(...args);
      };
    }
    return stmt;
  }) as Db['prepare'];
  return counts;
}
