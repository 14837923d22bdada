// A synchronous fast path for the common subset of JSONata used in record mapping (field names, object
// constructors, literals, comparisons, and/or, arithmetic, &, ?:, $number/$string/$lowercase/$uppercase/
// $trim/$exists/$boolean/$not). JSONata's own evaluator is async and allocates heavily; on flat records
// this subset gives the same results many times faster. Whenever a value falls outside the cases
// handled here (arrays, type errors, unusual casts) the closure throws SLOW and the caller evaluates the
// expression with JSONata itself, so results and error messages always stay JSONata's.
import type jsonata from 'jsonata';

export const SLOW: unique symbol = Symbol('evaluate with jsonata');

type Fn = (input: Record<string, unknown>) => unknown;
type Node = Record<string, any>;

const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([Ee][-+]?[0-9]+)?$/;

function plainKeys(node: Node, allowed: string[]): boolean {
  return Object.keys(node).every((k) => allowed.includes(k));
}

/** JSONata's boolean cast for primitives; anything else goes to the slow path. */
function truthy(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.length > 0;
  if (typeof v === 'number') return v !== 0;
  throw SLOW;
}

function primitive(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

function compileNode(n: Node): Fn | undefined {
  switch (n.type) {
    case 'string':
    case 'number':
    case 'value': {
      if (!plainKeys(n, ['type', 'value', 'position'])) return undefined;
      const v = n.value;
      return () => v;
    }
    case 'path': {
      if (!plainKeys(n, ['type', 'steps', 'position', 'keepSingletonArray'])) return undefined;
      if (n.keepSingletonArray) return undefined;
      const steps = n.steps as Node[];
      if (!steps.every((s) => s.type === 'name' && plainKeys(s, ['type', 'value', 'position']))) return undefined;
      const names = steps.map((s) => String(s.value));
      return (input) => {
        let cur: unknown = input;
        for (const name of names) {
          if (cur === undefined || cur === null) return undefined;
          if (typeof cur !== 'object' || Array.isArray(cur)) throw SLOW;
          cur = (cur as Record<string, unknown>)[name];
        }
        if (Array.isArray(cur)) throw SLOW; // sequence semantics
        return cur;
      };
    }
    case 'unary': {
      if (n.value === '{' && Array.isArray(n.lhs) && !n.group) {
        const pairs: Array<[string, Fn]> = [];
        const seen = new Set<string>();
        for (const [k, v] of n.lhs as Array<[Node, Node]>) {
          if (k.type !== 'string' || seen.has(k.value)) return undefined;
          seen.add(k.value);
          const f = compileNode(v);
          if (!f) return undefined;
          pairs.push([k.value, f]);
        }
        return (input) => {
          const out: Record<string, unknown> = {};
          for (const [k, f] of pairs) {
            const v = f(input);
            if (v !== undefined) out[k] = v;
          }
          return out;
        };
      }
      if (n.value === '-' && n.expression) {
        const f = compileNode(n.expression);
        if (!f) return undefined;
        return (input) => {
          const v = f(input);
          if (v === undefined) return undefined;
          if (typeof v !== 'number') throw SLOW;
          return -v;
        };
      }
      return undefined;
    }
    case 'condition': {
      const c = compileNode(n.condition);
      const t = compileNode(n.then);
      const e = n.else ? compileNode(n.else) : () => undefined;
      if (!c || !t || !e) return undefined;
      return (input) => (truthy(c(input)) ? t(input) : e(input));
    }
    case 'binary':
      return compileBinary(n);
    case 'function': {
      if (n.procedure?.type !== 'variable' || !Array.isArray(n.arguments) || n.arguments.length !== 1) return undefined;
      const arg = compileNode(n.arguments[0]);
      if (!arg) return undefined;
      switch (n.procedure.value) {
        case 'number':
          return (input) => {
            const v = arg(input);
            if (v === undefined || typeof v === 'number') return v;
            if (typeof v === 'string' && JSON_NUMBER.test(v)) return Number(v);
            throw SLOW; // JSONata's own cast (hex, errors with its message)
          };
        case 'string':
          return (input) => {
            const v = arg(input);
            if (v === undefined || typeof v === 'string') return v;
            throw SLOW;
          };
        case 'lowercase':
        case 'uppercase':
        case 'trim': {
          const op = n.procedure.value;
          return (input) => {
            const v = arg(input);
            if (v === undefined) return undefined;
            if (typeof v !== 'string') throw SLOW;
            return op === 'lowercase' ? v.toLowerCase() : op === 'uppercase' ? v.toUpperCase() : v.replace(/[ \t\n\r]+/g, ' ').trim();
          };
        }
        case 'exists':
          return (input) => arg(input) !== undefined;
        case 'boolean':
          return (input) => {
            const v = arg(input);
            return v === undefined ? undefined : truthy(v);
          };
        case 'not':
          return (input) => {
            const v = arg(input);
            return v === undefined ? undefined : !truthy(v);
          };
        default:
          return undefined;
      }
    }
    default:
      return undefined;
  }
}

function compileBinary(n: Node): Fn | undefined {
  const l = compileNode(n.lhs);
  const r = compileNode(n.rhs);
  if (!l || !r) return undefined;
  switch (n.value) {
    case 'and':
      return (input) => truthy(l(input)) && truthy(r(input));
    case 'or':
      return (input) => truthy(l(input)) || truthy(r(input));
    case '=':
    case '!=': {
      const eq = n.value === '=';
      return (input) => {
        const a = l(input);
        const b = r(input);
        if (a === undefined || b === undefined) return false;
        if (!primitive(a) || !primitive(b)) throw SLOW;
        return eq ? a === b : a !== b;
      };
    }
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const op = n.value;
      return (input) => {
        const a = l(input);
        const b = r(input);
        if (a === undefined || b === undefined) return undefined;
        if (!((typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string'))) throw SLOW;
        return op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
      };
    }
    case '+':
    case '-':
    case '*':
    case '/':
    case '%': {
      const op = n.value;
      return (input) => {
        const a = l(input);
        const b = r(input);
        if (a === undefined || b === undefined) return undefined;
        if (typeof a !== 'number' || typeof b !== 'number') throw SLOW;
        const v = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : op === '/' ? a / b : a % b;
        if (!Number.isFinite(v)) throw SLOW;
        return v;
      };
    }
    case '&':
      return (input) => {
        const a = l(input);
        const b = r(input);
        if ((a !== undefined && typeof a !== 'string') || (b !== undefined && typeof b !== 'string')) throw SLOW;
        return (a ?? '') + (b ?? '');
      };
    default:
      return undefined;
  }
}

/** A synchronous evaluator for the expression, or undefined when it uses more than the fast subset. */
export function compileFast(expr: jsonata.Expression): Fn | undefined {
  try {
    return compileNode(expr.ast() as unknown as Node);
  } catch {
    return undefined;
  }
}
