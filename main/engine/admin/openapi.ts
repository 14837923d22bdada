// Builds the OpenAPI 3.1 document from the route table (so the two never drift apart): request bodies from
// the zod schemas of schemas.ts, replies from those of reply-schemas.ts.
import type { Route } from './routes.ts';
import { bodyJsonSchemas } from './schemas.ts';
import { replyJsonSchemas, type ReplyOf, type ReplyRef } from './reply-schemas.ts';

type OpenApiDocument = ReplyOf<'OpenApiDocument'>;

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

/** The schema of a reply reference: a component, or a list of one. */
function replyRefSchema(reply: ReplyRef): Record<string, unknown> {
  return reply.endsWith('[]') ? { type: 'array', items: ref(reply.slice(0, -2)) } : ref(reply);
}

/** The document of the last route table asked for: it never changes while the process runs. */
let built: { routes: Route[]; version: string; doc: OpenApiDocument } | undefined;

/**
 * The document, built once per route table and version. The same object is returned each time, frozen, so
 * the admin server makes its serialised text once (server.ts, replyText).
 */
export function openApiDocument(routes: Route[], version: string): OpenApiDocument {
  if (built?.routes !== routes || built.version !== version) built = { routes, version, doc: Object.freeze(buildDocument(routes, version)) };
  return built.doc;
}

function buildDocument(routes: Route[], version: string): OpenApiDocument {
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
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(r.body) } } } } : {}),
      responses: {
        [r.path.endsWith('/run') ? '202' : '200']: r.produces
          ? { description: r.produces.description, content: { [r.produces.contentType]: {} } }
          : { description: r.reply, content: { 'application/json': { schema: replyRefSchema(r.reply) } } },
        '400': { $ref: '#/components/responses/Invalid' },
        '401': { $ref: '#/components/responses/Unauthorised' },
        '403': { $ref: '#/components/responses/Forbidden' },
      },
    };
    (paths[oaPath] ??= {})[r.method.toLowerCase()] = op;
  }
  const error = { 'application/json': { schema: ref('ApiError') } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Ferry admin API',
      version,
      description:
        'Local admin API of the Ferry engine. Listens on 127.0.0.1 only; every /api route needs `Authorization: Bearer <token>` ' +
        '(the token is in <dataDir>/admin-token) or the session cookie of a `ferry dashboard` login link. Requests whose Host is not ' +
        'localhost, 127.0.0.1 or [::1] get 403. Request bodies and replies are described by components.schemas (made from the ' +
        'zod schemas the server validates requests with and tests check replies with); reply objects carry exactly the fields named.',
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
        Invalid: { description: 'Bad input; `problems` name each field', content: error },
        Unauthorised: { description: 'Missing or wrong token', content: error },
        Forbidden: { description: 'Foreign Host or Origin header', content: error },
      },
      schemas: {
        ...replyJsonSchemas(),
        ...Object.fromEntries(Object.entries(bodyJsonSchemas()).map(([n, s]) => [n, { description: `${n} (main/engine/admin/types.ts)`, ...s }])),
      },
    },
  };
}
