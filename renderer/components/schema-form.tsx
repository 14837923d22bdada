// Form fields generated from a JSON Schema (the engine's zod schemas, exported with z.toJSONSchema): strings,
// numbers, booleans, enums, string lists, string maps, nested objects and discriminated unions. Every field's
// id derives from its key path ("source.path"), so a validation problem lands on the field it names.
import type { JSX } from 'preact';
import type { JsonSchema } from '../api/client.ts';

export type Schema = JsonSchema & {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: boolean | Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  $ref?: string;
  title?: string;
};

export type Problems = Record<string, string>;

export interface FieldEnv {
  root?: Schema;
  problems: Problems;
  /** Folder picker for path fields (desktop only). */
  pickFolder?: (current: string) => Promise<string | null>;
}

export const fieldId = (path: string) => `f-${path.replace(/[^A-Za-z0-9_-]+/g, '-')}`;
const errorId = (path: string) => `${fieldId(path)}-error`;
const helpId = (path: string) => `${fieldId(path)}-help`;

/** Resolves "#/$defs/x" references against the root schema. */
export function resolve(s: Schema | undefined, root?: Schema): Schema {
  let cur = s ?? {};
  for (let i = 0; i < 10 && cur.$ref && root; i++) {
    const parts = cur.$ref.replace(/^#\//, '').split('/');
    let at: any = root;
    for (const p of parts) at = at?.[p];
    cur = { ...(at ?? {}), ...Object.fromEntries(Object.entries(cur).filter(([k]) => k !== '$ref')) };
  }
  return cur;
}

/** "settleMs" → "Settle (ms)", "afterDelivery" → "After delivery". */
export function labelOf(key: string): string {
  const ms = /Ms$/.test(key);
  const words = key.replace(/Ms$/, '').replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  const text = words.charAt(0).toUpperCase() + words.slice(1);
  return ms ? `${text} (ms)` : text;
}

/** The discriminator of a union of objects: a key every variant pins with `const`. */
export function discriminatorOf(variants: Schema[], root?: Schema): string | undefined {
  const rs = variants.map((v) => resolve(v, root));
  const first = rs[0]?.properties ?? {};
  return Object.keys(first).find((k) => rs.every((v) => v.properties?.[k]?.const !== undefined));
}

const typeOf = (s: Schema) => (Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type);

/** Problems at or under a path (array items report at their list). */
function problemAt(problems: Problems, path: string): string | undefined {
  if (problems[path]) return problems[path];
  const under = Object.entries(problems).find(([p]) => p.startsWith(`${path}[`));
  return under ? `${under[0].slice(path.length)}: ${under[1]}` : undefined;
}

function Help({ path, schema, problem }: { path: string; schema: Schema; problem?: string }) {
  return (
    <>
      {schema.description ? <p class="help" id={helpId(path)}>{schema.description}</p> : null}
      {problem ? <p class="field-error" id={errorId(path)}>{problem}</p> : null}
    </>
  );
}

function describedBy(path: string, schema: Schema, problem?: string) {
  const ids = [schema.description ? helpId(path) : '', problem ? errorId(path) : ''].filter(Boolean).join(' ');
  return ids || undefined;
}

const isPathKey = (key: string, s: Schema) => key === 'path' || key === 'to' || /\bfolder\b/i.test(s.description ?? '');

export interface FieldProps {
  name: string;
  path: string;
  schema: Schema;
  value: unknown;
  required: boolean;
  onChange: (v: unknown) => void;
  env: FieldEnv;
  label?: string;
}

/** One field of any supported schema shape. */
export function Field(props: FieldProps): JSX.Element {
  const { name, path, env, value, onChange, required } = props;
  const schema = resolve(props.schema, env.root);
  const label = props.label ?? labelOf(name);
  const problem = problemAt(env.problems, path);
  const id = fieldId(path);
  const variants = schema.oneOf ?? schema.anyOf;
  const common = { id, name: path, 'aria-invalid': problem ? true : undefined, 'aria-describedby': describedBy(path, schema, problem), 'aria-required': required || undefined } as const;

  if (variants && variants.length > 0) {
    return <UnionField {...props} schema={schema} variants={variants} label={label} problem={problem} />;
  }
  const t = typeOf(schema);
  if (t === 'object' && schema.properties) {
    return (
      <fieldset class="group" id={id}>
        <legend>{label}</legend>
        <Help path={path} schema={schema} problem={problems(env.problems, path)} />
        <ObjectFields schema={schema} path={path} value={(value as Record<string, unknown>) ?? {}} onChange={onChange} env={env} />
      </fieldset>
    );
  }
  if (t === 'object') {
    // a map of strings (e.g. HTTP headers): one "Key: value" per line
    const text = Object.entries((value as Record<string, string>) ?? {}).map(([k, v]) => `${k}: ${v}`).join('\n');
    return (
      <div class="field">
        <label for={id}>{label}{required ? <Req /> : null}</label>
        <textarea {...common} rows={3} placeholder="Name: value (one per line)" value={text} onChange={(e) => {
          const lines = (e.currentTarget as HTMLTextAreaElement).value.split('\n').map((l) => l.trim()).filter(Boolean);
          const map: Record<string, string> = {};
          for (const l of lines) {
            const at = l.indexOf(':');
            if (at > 0) map[l.slice(0, at).trim()] = l.slice(at + 1).trim();
            else map[l] = '';
          }
          onChange(lines.length ? map : undefined);
        }} />
        <Help path={path} schema={schema} problem={problem} />
      </div>
    );
  }
  if (t === 'array') {
    const list = Array.isArray(value) ? (value as unknown[]) : undefined;
    const dflt = Array.isArray(schema.default) ? (schema.default as unknown[]).join('\n') : '';
    return (
      <div class="field">
        <label for={id}>{label}{required ? <Req /> : null} <span class="hint">(one per line)</span></label>
        <textarea {...common} rows={2} placeholder={dflt} value={list ? list.join('\n') : ''} onInput={(e) => {
          const lines = (e.currentTarget as HTMLTextAreaElement).value.split('\n').map((l) => l.trim()).filter(Boolean);
          onChange(lines.length ? lines : undefined);
        }} />
        <Help path={path} schema={schema} problem={problem} />
      </div>
    );
  }
  if (t === 'boolean') {
    const checked = typeof value === 'boolean' ? value : schema.default === true;
    return (
      <div class="field field-check">
        <input type="checkbox" {...common} checked={checked} onChange={(e) => onChange((e.currentTarget as HTMLInputElement).checked)} />
        <label for={id}>{label}</label>
        <Help path={path} schema={schema} problem={problem} />
      </div>
    );
  }
  if (schema.enum) {
    const current = value ?? schema.default ?? '';
    return (
      <div class="field">
        <label for={id}>{label}{required ? <Req /> : null}</label>
        <select {...common} value={String(current)} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value || undefined)}>
          {schema.default === undefined && !required ? <option value="">(not set)</option> : null}
          {schema.enum.map((v) => <option key={String(v)} value={String(v)}>{String(v)}</option>)}
        </select>
        <Help path={path} schema={schema} problem={problem} />
      </div>
    );
  }
  if (t === 'integer' || t === 'number') {
    return (
      <div class="field">
        <label for={id}>{label}{required ? <Req /> : null}</label>
        <input type="number" inputMode="numeric" {...common} min={schema.minimum} max={schema.maximum !== undefined && schema.maximum < 1e15 ? schema.maximum : undefined}
          step={t === 'integer' ? 1 : 'any'} placeholder={schema.default !== undefined ? String(schema.default) : ''}
          value={value === undefined || value === null ? '' : String(value)}
          onInput={(e) => {
            const raw = (e.currentTarget as HTMLInputElement).value;
            onChange(raw === '' ? undefined : Number(raw));
          }} />
        <Help path={path} schema={schema} problem={problem} />
      </div>
    );
  }
  // string
  const picker = env.pickFolder && isPathKey(name, schema);
  return (
    <div class="field">
      <label for={id}>{label}{required ? <Req /> : null}</label>
      <div class={picker ? 'with-button' : undefined}>
        <input type="text" {...common} spellcheck={false} autoComplete="off" placeholder={schema.default !== undefined ? String(schema.default) : ''}
          value={typeof value === 'string' ? value : ''} onInput={(e) => {
            const v = (e.currentTarget as HTMLInputElement).value;
            onChange(v === '' ? undefined : v);
          }} />
        {picker ? (
          <button type="button" class="secondary" onClick={async () => {
            const chosen = await env.pickFolder!(typeof value === 'string' ? value : '');
            if (chosen) onChange(chosen);
          }}>Browse…<span class="visually-hidden"> for {label}</span></button>
        ) : null}
      </div>
      <Help path={path} schema={schema} problem={problem} />
    </div>
  );
}

function problems(all: Problems, path: string): string | undefined {
  return all[path];
}

function Req() {
  return <span class="req" aria-hidden="true"> *</span>;
}

function UnionField(props: FieldProps & { variants: Schema[]; problem?: string; label: string }) {
  const { path, env, value, onChange, variants, label, problem, schema, required } = props;
  const disc = discriminatorOf(variants, env.root);
  if (!disc) {
    return <p class="field-error">{label}: this setting has several shapes; edit it in the YAML file.</p>;
  }
  const resolved = variants.map((v) => resolve(v, env.root));
  const obj = (value as Record<string, unknown> | undefined) ?? (schema.default as Record<string, unknown> | undefined);
  const chosen = obj?.[disc];
  const variant = resolved.find((v) => v.properties?.[disc]?.const === chosen);
  const id = fieldId(`${path}.${disc}`);
  const inner: Schema | undefined = variant && { ...variant, properties: Object.fromEntries(Object.entries(variant.properties ?? {}).filter(([k]) => k !== disc)) };
  return (
    <fieldset class="group" id={fieldId(path)}>
      <legend>{label}</legend>
      <div class="field">
        <label for={id}>{labelOf(disc)}{required ? <Req /> : null}</label>
        <select id={id} name={`${path}.${disc}`} value={chosen === undefined ? '' : String(chosen)} aria-invalid={problem ? true : undefined}
          aria-describedby={describedBy(path, schema, problem)} onChange={(e) => {
            const v = (e.currentTarget as HTMLSelectElement).value;
            onChange(v ? { [disc]: v } : undefined);
          }}>
          {!required || chosen === undefined ? <option value="">{required ? 'Choose…' : '(not set)'}</option> : null}
          {resolved.map((v) => {
            const c = String(v.properties![disc].const);
            return <option key={c} value={c}>{c}</option>;
          })}
        </select>
        <Help path={path} schema={schema} problem={problem} />
      </div>
      {inner && Object.keys(inner.properties ?? {}).length > 0 ? (
        <ObjectFields schema={inner} path={path} value={obj ?? {}} env={env} onChange={(v) => onChange({ ...(v as object), [disc]: chosen })} />
      ) : null}
    </fieldset>
  );
}

/** Every property of an object schema; optional ones that have defaults go under "More options". */
export function ObjectFields({ schema, path, value, onChange, env, omit = [] }: { schema: Schema; path: string; value: Record<string, unknown>; onChange: (v: Record<string, unknown>) => void; env: FieldEnv; omit?: string[] }) {
  const s = resolve(schema, env.root);
  const required = new Set(s.required ?? []);
  const entries = Object.entries(s.properties ?? {}).filter(([k]) => !omit.includes(k));
  const set = (key: string) => (v: unknown) => {
    const next = { ...value };
    if (v === undefined) delete next[key];
    else next[key] = v;
    onChange(next);
  };
  const main = entries.filter(([k, p]) => required.has(k) || resolve(p, env.root).default === undefined);
  const more = entries.filter((e) => !main.includes(e));
  const sub = (k: string) => (path ? `${path}.${k}` : k);
  const render = ([k, p]: [string, Schema]) => <Field key={k} name={k} path={sub(k)} schema={p} value={value[k]} required={required.has(k)} onChange={set(k)} env={env} />;
  const moreHasProblem = more.some(([k]) => Object.keys(env.problems).some((p) => p === sub(k) || p.startsWith(`${sub(k)}.`) || p.startsWith(`${sub(k)}[`)));
  const moreSet = more.some(([k]) => value[k] !== undefined);
  return (
    <div class="fields">
      {main.map(render)}
      {more.length > 0 ? (
        <details class="more" open={moreHasProblem || moreSet}>
          <summary>More options ({more.length})</summary>
          {more.map(render)}
        </details>
      ) : null}
    </div>
  );
}
