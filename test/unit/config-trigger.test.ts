// `trigger: { on: change }` needs a source that reports change events. No built-in source lacks them yet, so
// this registers a poll-only source (as FTP-like connectors will be) before the schema is built from the registry.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import YAML from 'yaml';
import { connectors } from '../../main/engine/registry.ts';

connectors.push({
  type: 'polled',
  sourceSchema: z.strictObject({ host: z.string() }),
  changeEvents: false,
  createSource: () => {
    throw new Error('not used in this test');
  },
});
const { parseConfigText } = await import('../../main/engine/config/load.ts');

const cfg = (trigger: unknown) =>
  YAML.stringify({ integrations: [{ name: 'i', flows: [{ name: 'f', source: { type: 'polled', host: 'h' }, trigger, destination: { type: 'folder', path: '/tmp/x' } }] }] });

describe('config: change trigger on a source without events', () => {
  it('is refused naming the trigger key and the source type', () => {
    const r = parseConfigText(cfg({ on: 'change' }), '/c/ferry.yaml');
    expect(r).toEqual({ ok: false, problems: ['integrations[0].flows[0].trigger: source type "polled" reports no change events; expected { schedule: "<cron>" }'] });
  });

  it('is refused when the trigger is left to its default (on change)', () => {
    const r = parseConfigText(cfg(undefined), '/c/ferry.yaml');
    expect(r.ok).toBe(false);
  });

  it('a schedule is accepted', () => {
    const r = parseConfigText(cfg({ schedule: '*/5 * * * *' }), '/c/ferry.yaml');
    expect(r.ok).toBe(true);
  });
});
