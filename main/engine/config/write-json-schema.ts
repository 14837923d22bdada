// `npm run schema`: writes ferry.schema.json and docs/config-reference.md from the zod schema.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema, configReferenceMarkdown } from './reference.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
fs.writeFileSync(path.join(root, 'ferry.schema.json'), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
fs.writeFileSync(path.join(root, 'docs/config-reference.md'), configReferenceMarkdown());
console.log('wrote ferry.schema.json and docs/config-reference.md');
