// Removes credentials from everything Ferry writes or prints. Every value a config's ${env:NAME} or
// ${secret:NAME} resolved to, and every value in the secret store, is replaced by "[env:NAME]" or
// "[secret:NAME]" in item errors, stored replies, activity events, logs, CLI output and API replies (a receiver
// may echo a key back in an error reply; a URL may carry a password). One Scrubber serves them all, so any
// new output (heartbeats, exports) gets the same treatment by calling text() or deep(). OAuth tokens the process
// has seen (oauth/scrub.ts) are replaced by "[token]" in the same pass.
import type { LoadedConfig } from './config/load.ts';
import type { SecretStore } from './secrets.ts';
import { scrubTokens } from './oauth/scrub.ts';

/** Shorter values are left alone: they would blank out ordinary text and are no credential anyway. */
export const MIN_SCRUB_LENGTH = 4;

/** One ${env:NAME} / ${secret:NAME} and the value it resolved to. */
export interface Placeholder {
  kind: 'env' | 'secret';
  name: string;
  value: string;
}

export const scrubLabel = (p: { kind: 'env' | 'secret'; name: string }) => `[${p.kind}:${p.name}]`;

/** The spellings a value may take in text: as is, inside JSON, percent-encoded (URLs), form-encoded. */
function spellings(value: string): string[] {
  const out = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2)]);
  return [...out].filter((s) => s.length >= MIN_SCRUB_LENGTH);
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class Scrubber {
  /** spelling → label, from configs (values stay known after a config change: old texts may still carry them). */
  private readonly fixed = new Map<string, string>();
  /** spelling → label, from the secret store (rebuilt when the store changes). */
  private stored = new Map<string, string>();
  private readonly store?: SecretStore;
  private storeSnapshot: unknown;
  /** The combined pattern; undefined: to build; null: nothing to scrub. */
  private pattern: RegExp | null | undefined = null;

  constructor(opts: { store?: SecretStore; placeholders?: Placeholder[] } = {}) {
    this.store = opts.store;
    for (const p of opts.placeholders ?? []) this.add(p);
  }

  /** Scrubs one value from now on, as the label of its placeholder. */
  add(p: Placeholder, label = scrubLabel(p)): void {
    for (const s of spellings(p.value)) {
      if (!this.fixed.has(s)) {
        this.fixed.set(s, label);
        this.pattern = undefined;
      }
    }
  }

  /**
   * Every value a loaded config resolved, and what is derived from them: the base64 `user:password` of HTTP
   * Basic authentication (a server echoing the Authorization header back would otherwise leak it).
   */
  addLoaded(loaded: Pick<LoadedConfig, 'placeholders' | 'config'>): void {
    const placeholders = loaded.placeholders ?? [];
    for (const p of placeholders) this.add(p);
    if (placeholders.length === 0) return;
    const visit = (v: unknown, depth: number): void => {
      if (depth > 12 || !v || typeof v !== 'object') return;
      if (Array.isArray(v)) return v.forEach((x) => visit(x, depth + 1));
      const o = v as Record<string, unknown>;
      if (typeof o.username === 'string' && typeof o.password === 'string') {
        const used = placeholders.find((p) => p.value.length >= MIN_SCRUB_LENGTH && (o.password as string).includes(p.value));
        if (used) this.add({ ...used, value: Buffer.from(`${o.username}:${o.password}`).toString('base64') }, scrubLabel(used));
      }
      for (const x of Object.values(o)) visit(x, depth + 1);
    };
    visit(loaded.config, 0);
  }

  private refreshStore(): void {
    if (!this.store) return;
    let named: ReadonlyMap<string, string>;
    try {
      named = this.store.named();
    } catch {
      return; // an unreadable store has no values to leak
    }
    if (named === this.storeSnapshot) return;
    this.storeSnapshot = named;
    this.stored = new Map();
    for (const [name, value] of named) for (const s of spellings(value)) if (!this.stored.has(s)) this.stored.set(s, scrubLabel({ kind: 'secret', name }));
    this.pattern = undefined;
  }

  private regex(): RegExp | null {
    this.refreshStore();
    if (this.pattern === undefined) {
      const all = [...new Set([...this.fixed.keys(), ...this.stored.keys()])].sort((a, b) => b.length - a.length);
      this.pattern = all.length === 0 ? null : new RegExp(all.map(escapeRe).join('|'), 'g');
    }
    return this.pattern;
  }

  /** The text with every known value replaced by its label, and every OAuth token this process saw by "[token]". */
  readonly text = (text: string): string => {
    const re = this.regex();
    if (!re || text.length < MIN_SCRUB_LENGTH) return scrubTokens(text);
    return scrubTokens(text.replace(re, (m) => this.fixed.get(m) ?? this.stored.get(m) ?? '[secret]'));
  };

  /** A copy of plain data (objects, arrays, strings) with every string scrubbed. */
  deep<T>(value: T, depth = 0): T {
    if (typeof value === 'string') return this.text(value) as T;
    if (depth > 16 || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => this.deep(v, depth + 1)) as T;
    if (Object.getPrototypeOf(value) !== Object.prototype) return value;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.deep(v, depth + 1)])) as T;
  }
}

/** The scrubber of a loaded config and its secret store (what `ferry run`, the desktop app and the CLI use). */
export function scrubberFor(loaded: Pick<LoadedConfig, 'placeholders' | 'config'>, store?: SecretStore): Scrubber {
  const scrubber = new Scrubber({ store });
  scrubber.addLoaded(loaded);
  return scrubber;
}
