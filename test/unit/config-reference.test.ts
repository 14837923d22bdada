// ferry.schema.json and docs/config-reference.md are generated from the zod schema: they must be current.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, configReferenceMarkdown } from '../../main/engine/config/reference.ts';
import { repoRoot } from '../helpers/cli.ts';

describe('generated config reference', () => {
  it('ferry.schema.json matches the schema (run `npm run schema` after changing it)', () => {
    const committed = JSON.parse(fs.readFileSync(path.join(repoRoot, 'ferry.schema.json'), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(configJsonSchema())));
  });

  it('docs/config-reference.md matches the schema', () => {
    expect(fs.readFileSync(path.join(repoRoot, 'docs/config-reference.md'), 'utf8')).toBe(configReferenceMarkdown());
  });

  it('documents every connector type and the keys users write', () => {
    const md = configReferenceMarkdown();
    for (const key of ['source.settleMs', 'source.afterDelivery.to', 'destination.url', 'destination.timeoutMs', 'retry.maxAttempts', 'trigger.schedule']) {
      expect(md).toContain(key);
    }
    expect(md).toContain('(type: folder)');
    expect(md).toContain('(type: http)');
  });
});
