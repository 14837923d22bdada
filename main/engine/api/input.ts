// Checks of what a client sends, shared by the API's operations: each refusal names the field.
import type { Problem } from '../admin/types.ts';
import { ITEM_STATES, type ItemState } from '../store/queue.ts';
import { FerryApiError } from './errors.ts';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A key path for a problem, turned from the engine's "a.b[0].c: message" lines. */
export function problemFromLine(line: string): Problem {
  const i = line.indexOf(': ');
  if (i < 0) return { path: '', message: line };
  return { path: line.slice(0, i), message: line.slice(i + 2) };
}

/** A whole number from `min` to `max` (a query parameter or option as text), or `dflt` when absent. */
export function wholeNumber(name: string, v: string | null | undefined, dflt: number, min: number, max: number): number {
  if (v === null || v === undefined || v === '') return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    const message = `expected a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`;
    throw new FerryApiError(400, `${name}: ${message}`, [{ path: name, message }]);
  }
  return Number(v);
}

export function itemState(v: unknown, where: string): ItemState | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (!ITEM_STATES.includes(v as ItemState)) {
    const message = `expected one of ${ITEM_STATES.join(' | ')}, got ${JSON.stringify(v)}`;
    throw new FerryApiError(400, `${where}: ${message}`, [{ path: where, message }]);
  }
  return v as ItemState;
}
