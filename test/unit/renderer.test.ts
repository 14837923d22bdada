// The dashboard's pure helpers: plain-words errors, sparkline buckets, hash routes, schema-form helpers.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { bytes, plainError, ago } from '../../renderer/lib/format.ts';
import { bucketize } from '../../renderer/components/sparkline.tsx';
import { parseHash, href } from '../../renderer/lib/router.ts';
import { discriminatorOf, fieldId, labelOf, resolve, type Schema } from '../../renderer/components/schema-form.tsx';
import { flowSchemaOf } from '../../renderer/pages/flow-editor.tsx';
import { describeEvent } from '../../renderer/pages/activity.tsx';
import { configSchema } from '../../main/engine/config/schema.ts';
import { httpDestinationSchema } from '../../connectors/http/schema.ts';

describe('plainError', () => {
  it('explains common failures in words and keeps the original', () => {
    expect(plainError('connect ECONNREFUSED 127.0.0.1:9')).toEqual({ plain: 'The destination refused the connection (127.0.0.1:9): is the service running?', raw: 'connect ECONNREFUSED 127.0.0.1:9' });
    expect(plainError('HTTP 503 from api.example.com')?.plain).toBe('The destination had an internal problem (HTTP 503).');
    expect(plainError('HTTP 401 from api.example.com')?.plain).toBe("The destination rejected Ferry's credentials (HTTP 401).");
    expect(plainError('HTTP 422 from api.example.com: invalid')?.plain).toBe('The destination refused the data (HTTP 422).');
    expect(plainError('EACCES: permission denied, open /x')?.plain).toBe('Ferry is not allowed to read or write there (permissions).');
    expect(plainError('something odd')).toEqual({ plain: 'something odd', raw: 'something odd' });
    expect(plainError(null)).toBeNull();
  });

  it('formats sizes and times', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KB');
    expect(bytes(50 * 1024 * 1024)).toBe('50 MB');
    const now = Date.parse('2026-11-29T12:00:00Z');
    expect(ago('2026-11-29T11:59:50Z', now)).toBe('just now');
    expect(ago('2026-11-29T11:55:00Z', now)).toBe('5 min ago');
    expect(ago(null, now)).toBe('never');
  });
});

describe('bucketize', () => {
  it('counts events into buckets ending now and drops those outside the hour', () => {
    const now = 10_000_000;
    const min = 60_000;
    const b = bucketize([now - 1000, now - 2 * min, now - 7 * min, now - 59 * min, now - 61 * min, now + 5000], now, 12);
    expect(b).toHaveLength(12);
    expect(b[11]).toBe(2);
    expect(b[10]).toBe(1);
    expect(b[0]).toBe(1);
    expect(b.reduce((a, c) => a + c, 0)).toBe(4);
  });
});

describe('hash routes', () => {
  it('parses paths and queries and builds links', () => {
    const r = parseHash('#/queue?flow=a%20b&state=dead');
    expect(r.path).toEqual(['queue']);
    expect(r.query.get('flow')).toBe('a b');
    expect(parseHash('').path).toEqual([]);
    expect(parseHash('#/flows/orders%2Fin').path).toEqual(['flows', 'orders/in']);
    expect(href('/queue', { flow: 'a b', state: undefined })).toBe('#/queue?flow=a%20b');
  });
});

describe('schema form helpers', () => {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Schema;

  it('finds the flow schema inside the whole config schema', () => {
    const flow = flowSchemaOf(root);
    expect(Object.keys(flow.properties ?? {})).toEqual(expect.arrayContaining(['name', 'source', 'trigger', 'destination', 'retry']));
  });

  it('finds the discriminator of a union of objects', () => {
    const http = z.toJSONSchema(httpDestinationSchema, { io: 'input' }) as Schema;
    expect(discriminatorOf(http.properties!.auth.oneOf!)).toBe('type');
    expect(discriminatorOf([{ type: 'object', properties: { on: { const: 'change' } } }, { type: 'object', properties: { schedule: { type: 'string' } } }])).toBeUndefined();
  });

  it('resolves $ref against the root and labels keys for people', () => {
    const withRef: Schema = { $defs: { n: { type: 'integer', minimum: 1 } }, properties: { a: { $ref: '#/$defs/n', description: 'd' } } } as Schema;
    expect(resolve(withRef.properties!.a, withRef)).toEqual({ type: 'integer', minimum: 1, description: 'd' });
    expect(labelOf('settleMs')).toBe('Settle (ms)');
    expect(labelOf('afterDelivery')).toBe('After delivery');
    expect(fieldId('integrations[0].flows[1].source.path')).toBe('f-integrations-0-flows-1-source-path');
  });
});

describe('describeEvent', () => {
  const base = { id: 1, at: '2026-11-29T12:00:00Z', flow: 'orders', itemId: 7 };
  it('says what happened in words', () => {
    expect(describeEvent({ ...base, type: 'delivered', data: { name: 'a.csv' } })).toBe('Delivered a.csv');
    expect(describeEvent({ ...base, type: 'dead', data: { name: 'a.csv', reason: 'HTTP 500 from x' } })).toBe('Gave up on a.csv: The destination had an internal problem (HTTP 500).');
    expect(describeEvent({ ...base, type: 'requeued', data: null })).toBe('Queued again: item #7');
    expect(describeEvent({ ...base, itemId: null, type: 'config', data: { started: ['a'], stopped: [], restarted: ['b'] } })).toBe('Configuration changed: started a; restarted b');
    expect(describeEvent({ ...base, itemId: null, type: 'flow', data: { action: 'pause' } })).toBe('paused');
    expect(describeEvent({ ...base, flow: null, itemId: null, type: 'flow', data: { action: 'sync now', flows: ['a'] } })).toBe('sync now: every flow scanned');
    expect(describeEvent({ ...base, flow: null, itemId: null, type: 'system', data: { action: 'suspend' } })).toBe('The machine went to sleep');
    expect(describeEvent({ ...base, flow: null, itemId: null, type: 'system', data: { action: 'resume', rescanned: ['a', 'b'], caughtUp: [] } })).toBe('The machine woke up: rescanned a, b; missed schedules run: none');
  });
});
