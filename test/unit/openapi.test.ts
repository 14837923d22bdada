// The OpenAPI document describes every reply by its schema (no bare `{ type: object }`), every reference in
// it resolves, and the reply check the server runs under FERRY_CHECK_REPLIES catches a drifting reply.
import { describe, expect, it } from 'vitest';
import { routes } from '../../main/engine/admin/routes.ts';
import { openApiDocument } from '../../main/engine/admin/openapi.ts';
import { bodySchemas, sharedBodyParts } from '../../main/engine/admin/schemas.ts';
import { replySchemas } from '../../main/engine/admin/reply-schemas.ts';
import { checkRepliesEnabled, replyMismatch } from '../../main/engine/admin/reply-check.ts';

type Json = Record<string, any>;
const doc = openApiDocument(routes, '0.0.0-test') as Json;
const components: Record<string, Json> = doc.components.schemas;

function resolve(schema: Json): Json {
  if (typeof schema.$ref !== 'string') return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  expect(components[name], schema.$ref).toBeDefined();
  return components[name];
}

/** A schema that says what is in it: properties, items, or alternatives (not a bare object). */
function describesContent(schema: Json): boolean {
  const s = resolve(schema);
  if (s.type === 'array') return s.items !== undefined && describesContent(s.items);
  return s.properties !== undefined || s.anyOf !== undefined || s.oneOf !== undefined;
}

describe('OpenAPI document', () => {
  it('gives every JSON route its reply schema, with the fields it has', () => {
    const jsonRoutes = routes.filter((r) => !r.produces);
    expect(jsonRoutes.length).toBeGreaterThan(30);
    for (const r of jsonRoutes) {
      const op = doc.paths[r.path.replace(/:([a-zA-Z]+)/g, '{$1}')][r.method.toLowerCase()];
      const ok = op.responses['200'] ?? op.responses['202'];
      const schema = ok.content['application/json'].schema;
      expect(schema, `${r.method} ${r.path}`).not.toEqual({});
      expect(describesContent(schema), `${r.method} ${r.path} replies ${JSON.stringify(schema)}`).toBe(true);
      expect(r.reply && (r.reply.endsWith('[]') ? schema.items.$ref : schema.$ref)).toBe(`#/components/schemas/${r.reply?.replace('[]', '')}`);
    }
  });

  it('lists pause-all as a list of FlowActionReply and the streams by their content type', () => {
    const pauseAll = doc.paths['/api/flows/pause-all'].post.responses['200'].content['application/json'].schema;
    expect(pauseAll).toEqual({ type: 'array', items: { $ref: '#/components/schemas/FlowActionReply' } });
    expect(Object.keys(doc.paths['/api/events'].get.responses['200'].content)).toEqual(['text/event-stream']);
    expect(Object.keys(doc.paths['/api/queue/{id}/body'].get.responses['200'].content)).toEqual(['application/octet-stream']);
  });

  it('describes each reply field by field: nested shapes by reference, closed objects', () => {
    expect(components.StatusReply.required).toEqual(expect.arrayContaining(['flows', 'totals', 'version', 'adminUrl', 'pid', 'startedAt']));
    expect(components.StatusReply.properties.flows).toEqual({ type: 'array', items: { $ref: '#/components/schemas/FlowStatus' } });
    expect(components.StatusReply.additionalProperties).toBe(false);
    expect(components.FlowStatus.properties.counts.required).toEqual(['queued', 'inflight', 'retrying', 'delivered', 'dead', 'discarded']);
    expect(components.FlowStatus.properties.counters).toMatchObject({ $ref: '#/components/schemas/FlowCounterSnapshot' });
    expect(components.ItemDetail.properties.item).toEqual({ $ref: '#/components/schemas/ItemView' });
    expect(components.ItemView.properties.state.enum).toContain('dead');
    expect(components.ItemView.properties.sourceKey.description).toMatch(/duplicates/);
    expect(components.ApiError).toMatchObject({ required: ['error'], properties: { problems: { type: 'array', items: { $ref: '#/components/schemas/Problem' } } } });
    expect(components.NetworkView.properties.network.anyOf.map((s: Json) => s.type)).toEqual(['object', 'null']);
    expect(Object.keys(components.NetworkView.properties.network.anyOf[0].properties)).toEqual(['proxy', 'tls']);
  });

  it('resolves every reference and keeps request and reply names apart', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(40);
    for (const ref of new Set(refs)) {
      const target = JSON.parse(`{${ref}}`).$ref as string;
      const [, kind, name] = /^#\/components\/(schemas|responses)\/(\w+)$/.exec(target) ?? [];
      expect(kind, target).toBeDefined();
      expect(doc.components[kind][name], target).toBeDefined();
    }
    const both = [...Object.keys(bodySchemas), ...Object.keys(sharedBodyParts)].filter((n) => n in replySchemas);
    expect(both).toEqual([]);
    for (const [name, s] of Object.entries(components)) expect(s.$schema ?? s.$id, name).toBeUndefined();
  });

  it('describes a flow and the HTTP connectors\' auth, proxy and tls once, referred to wherever they recur', () => {
    expect(components.RawIntegration.properties.flows.items).toEqual({ $ref: '#/components/schemas/Flow' });
    for (const flow of [components.Flow, components.RawFlow]) {
      expect(flow.properties.source).toEqual({ $ref: '#/components/schemas/FlowSource' });
      expect(flow.properties.destination).toEqual({ $ref: '#/components/schemas/FlowDestination' });
    }
    expect(components.RawFlow.required ?? []).not.toContain('name');
    expect(components.Flow.required).toContain('name');
    const text = JSON.stringify(doc);
    for (const name of Object.keys(sharedBodyParts)) {
      const own = JSON.stringify(components[name]);
      expect(own.length, name).toBeGreaterThan(300);
      expect(text.split(own).length - 1, `${name} is written out once`).toBe(1);
      expect(text.split(`"$ref":"#/components/schemas/${name}"`).length - 1, `${name} is referred to`).toBeGreaterThan(0);
    }
    // each HTTP connector's auth is the shared one: http, http-poll, http-steps and webhook
    expect(text.split('"$ref":"#/components/schemas/HttpAuth"').length - 1).toBeGreaterThanOrEqual(4);
  });
});

describe('reply check (FERRY_CHECK_REPLIES)', () => {
  const item = {
    id: 1, flow: 'f', state: 'dead', name: 'a.txt', size: 3, sha256: 'x', idempotencyKey: 'k', sourceKey: 's', group: null, attempts: 1,
    nextAttemptAt: null, lastError: 'HTTP 400', lastStatus: 400, lastResponse: 'no', createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z', settledAt: '2026-01-01T00:00:00.000Z', afterDeliveryPending: false, attributes: { a: 1 },
  };
  const detail = { item, attempts: [{ at: '2026-01-01T00:00:00.000Z', outcome: 'dead', error: 'HTTP 400', status: 400 }], lastResponse: 'no', hasBody: true };

  it('accepts a reply as documented, and undefined optional fields (they are not sent)', () => {
    expect(replyMismatch('ItemDetail', 200, detail)).toBeUndefined();
    expect(replyMismatch('FlowActionReply[]', 200, [{ flow: 'f', paused: true, running: undefined }])).toBeUndefined();
    expect(replyMismatch(undefined, 200, 'bytes')).toBeUndefined();
  });

  it('names a field the schema lacks, a required field missing and a wrong type', () => {
    expect(replyMismatch('ItemDetail', 200, { ...detail, extra: 1 })).toBe('reply does not match ItemDetail: extra: unknown key');
    const { hasBody: _gone, ...missing } = detail;
    expect(replyMismatch('ItemDetail', 200, missing)).toMatch(/^reply does not match ItemDetail: hasBody: required/);
    expect(replyMismatch('ItemDetail', 200, { ...detail, item: { ...item, state: 'lost' } })).toMatch(/item\.state/);
    expect(replyMismatch('FlowActionReply[]', 200, [{ flow: 'f' }])).toMatch(/\[0\]\.paused: required/);
  });

  it('checks error replies against ApiError, whatever the route', () => {
    expect(replyMismatch('StatusReply', 404, { error: 'no item 9' })).toBeUndefined();
    expect(replyMismatch(undefined, 400, { error: 'bad', problems: [{ path: 'a', message: 'b' }] })).toBeUndefined();
    expect(replyMismatch('StatusReply', 400, { error: 'bad', problems: [{ path: 'a' }] })).toMatch(/^reply does not match ApiError: problems\[0\]\.message: required/);
  });

  it('is on only when FERRY_CHECK_REPLIES=1', () => {
    expect(checkRepliesEnabled({})).toBe(false);
    expect(checkRepliesEnabled({ FERRY_CHECK_REPLIES: '0' })).toBe(false);
    expect(checkRepliesEnabled({ FERRY_CHECK_REPLIES: '1' })).toBe(true);
    // the test suite turns it on (vitest.config.ts), so every test that calls the admin API checks its replies
    expect(checkRepliesEnabled()).toBe(true);
  });

  it('is built once per route table and version, then handed out as the same object', () => {
    expect(openApiDocument(routes, '0.0.0-test')).toBe(doc);
    // frozen: the admin server makes its text once for the process
    expect(Object.isFrozen(doc)).toBe(true);
    const other = openApiDocument(routes, '0.0.1-test') as Json;
    expect(other).not.toBe(doc);
    expect(other.info.version).toBe('0.0.1-test');
    expect(other.paths).toEqual(doc.paths);
  });
});
