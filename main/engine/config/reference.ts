// Derives the JSON Schema file (editor completion) and the markdown reference from the zod schema, so the
// schema stays the single source of truth. `npm run schema` writes both; a test fails when they are stale.
import { z } from 'zod';
import { configSchema } from './schema.ts';

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  minimum?: number;
  maximum?: number;
  pattern?: string;
};

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { $id: 'https://ferry.local/ferry.schema.json', title: 'Ferry configuration', ...schema };
}

function typeOf(s: JsonSchema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  const variants = s.anyOf ?? s.oneOf;
  if (variants) return variants.map(typeOf).join(' \\| ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties) return `map of ${typeOf(s.additionalProperties)}`;
  if (s.type === 'integer') return s.minimum !== undefined ? `integer ≥ ${s.minimum}` : 'integer';
  return Array.isArray(s.type) ? s.type.join(' \\| ') : (s.type ?? 'any');
}

/** One row per key path; unions of objects (source/destination types) get a section per variant. */
function rows(s: JsonSchema, at: string, out: string[][], sections: Array<{ title: string; schema: JsonSchema; at: string }>): void {
  const variants = s.anyOf ?? s.oneOf;
  if (variants && variants.every((v) => v.type === 'object' && v.properties)) {
    for (const v of variants) {
      const tag = Object.entries(v.properties!).find(([, p]) => p.const !== undefined);
      const title = tag ? `${at} (${tag[0]}: ${String(tag[1].const)})` : at;
      sections.push({ title, schema: v, at });
    }
    out.push([`\`${at}\``, 'object', '', 'one of the variants below']);
    return;
  }
  // a shorthand string or an object (network.proxy): the object's keys get rows of their own
  const objectVariant = variants?.find((v) => v.type === 'object' && v.properties);
  if (objectVariant) return rows(objectVariant, at, out, sections);
  if (s.type === 'object' && s.properties) {
    for (const [key, child] of Object.entries(s.properties)) {
      const path = at ? `${at}.${key}` : key;
      const required = s.required?.includes(key) && child.default === undefined;
      const isContainer = (child.type === 'object' && child.properties) || child.anyOf || child.oneOf;
      const isList = child.type === 'array' && child.items?.type === 'object';
      if (!isContainer || child.anyOf?.every((v) => !v.properties)) {
        out.push([`\`${path}\``, typeOf(child), child.default !== undefined ? `\`${JSON.stringify(child.default)}\`` : required ? '**required**' : '', child.description ?? '']);
      } else {
        if (child.description) out.push([`\`${path}\``, child.anyOf || child.oneOf ? typeOf(child) : 'object', child.default !== undefined ? `\`${JSON.stringify(child.default)}\`` : '', child.description]);
        rows(child, path, out, sections);
      }
      if (isList) rows(child.items!, `${path}[]`, out, sections);
    }
  }
}

export function configReferenceMarkdown(): string {
  const schema = configJsonSchema() as JsonSchema;
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from main/engine/config/schema.ts by `npm run schema`; do not edit by hand. -->',
    '',
    'YAML or JSON. Unknown keys are errors. Strings may use `${env:NAME}` and `${secret:NAME}`. Relative paths',
    "resolve against the config file's folder. For editor completion point your editor at `ferry.schema.json`",
    '(or add `$schema: ./ferry.schema.json` to the file).',
    '',
  ];
  const table = (title: string, s: JsonSchema, at: string, level: string) => {
    const out: string[][] = [];
    const sections: Array<{ title: string; schema: JsonSchema; at: string }> = [];
    rows(s, at, out, sections);
    lines.push(`${level} ${title}`, '', '| key | type | default | meaning |', '| --- | --- | --- | --- |');
    for (const r of out) lines.push(`| ${r.map((c) => c.replace(/\n/g, ' ')).join(' | ')} |`);
    lines.push('');
    for (const sec of sections) table(sec.title, sec.schema, sec.at, '###');
  };
  table('Top level', schema, '', '##');
  return `${lines.join('\n').replace(/\n{3,}/g, '\n\n')}\n`;
}
