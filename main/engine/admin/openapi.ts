// Builds the OpenAPI 3.1 document from the route table (so the two never drift apart).
import type { Route } from './routes.ts';
import { bodyJsonSchemas } from './schemas.ts';

export function openApiDocument(routes: Route[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const oaPath = r.path.replace(/:([a-zA-Z]+)/g, '{$1}');
    const params = [
      ...[...r.path.matchAll(/:([a-zA-Z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: m[1] === 'id' ? 'integer' : 'string' } })),
      ...(r.query ?? []).map((q) => ({ name: q, in: 'query', required: r.path === '/api/schedule/next' && q === 'cron', schema: { type: ['limit', 'offset', 'since', 'count'].includes(q) ? 'integer' : 'string' } })),
    ];
    const op: Record<string, unknown> = {
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${r.path.replace(/\/api/, '').replace(/[:/{}.-]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${r.body}` } } } } } : {}),
      responses: {
        [r.path.endsWith('/run') ? '202' : '200']: r.path === '/api/events'
          ? { description: 'text/event-stream: `id: <cursor>` and `data: <ActivityEvent JSON>` per event', content: { 'text/event-stream': {} } }
          : r.path.endsWith('/body')
            ? { description: 'The body bytes', content: { 'application/octet-stream': {} } }
            : { description: r.reply ?? 'OK', content: { 'application/json': { schema: r.reply ? { $ref: `#/components/schemas/${r.reply}` } : {} } } },
        '400': { $ref: '#/components/responses/Invalid' },
        '401': { $ref: '#/components/responses/Unauthorised' },
        '403': { $ref: '#/components/responses/Forbidden' },
      },
    };
    (paths[oaPath] ??= {})[r.method.toLowerCase()] = op;
  }
  const typeNames = new Set(routes.flatMap((r) => [r.body, r.reply]).filter((n): n is string => !!n));
  const error = { $ref: '#/components/schemas/ApiError' };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ferry admin API',
      version,
      description:
        'Local admin API of the Ferry engine. Listens on 127.0.0.1 only; every /api route needs `Authorization: Bearer <token>` ' +
        '(the token is in <dataDir>/admin-token) or the session cookie of a `ferry dashboard` login link. Requests whose Host is not ' +
        'localhost, 127.0.0.1 or [::1] get 403. Shapes are the TypeScript types in main/engine/admin/types.ts.',
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { session: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        session: { type: 'apiKey', in: 'cookie', name: 'ferry_session' },
      },
      responses: {
        Invalid: { description: 'Bad input; `problems` name each field', content: { 'application/json': { schema: error } } },
        Unauthorised: { description: 'Missing or wrong token', content: { 'application/json': { schema: error } } },
        Forbidden: { description: 'Foreign Host or Origin header', content: { 'application/json': { schema: error } } },
      },
      schemas: {
        ApiError: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'string' },
            problems: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
        ...Object.fromEntries([...typeNames].map((n) => [n, { type: 'object', description: `See ${n} in main/engine/admin/types.ts` }])),
        ...Object.fromEntries(Object.entries(bodyJsonSchemas()).map(([n, s]) => { const { $schema: _drop, ...rest } = s as Record<string, unknown>; return [n, { description: `${n} (main/engine/admin/types.ts)`, ...rest }]; })),
      },
    },
  };
}
