// Request bodies as zod schemas: the server validates bodies with them (400 with the fields named) and the
// OpenAPI document shows them as JSON Schema. The TypeScript shapes of the same bodies are in types.ts.
import { z } from 'zod';
import { flowSchema, integrationSchema } from '../config/schema.ts';
import { endpointNetworkShape, endpointTlsSchema, networkSchema } from '../../../connectors/net/schema.ts';
import { httpAuthSchema } from '../../../connectors/http-common/schema.ts';
import { ITEM_STATES } from '../store/queue.ts';

const endpointBlock = z.looseObject({ type: z.string().meta({ description: 'Connector type, e.g. "folder" or "http".' }) });

export const bodySchemas = {
  QueueActionRequest: z
    .strictObject({
      ids: z.array(z.int().min(1)).min(1).max(10_000).optional().meta({ description: 'Item numbers.' }),
      flow: z.string().min(1).optional(),
      state: z.enum(ITEM_STATES as [string, ...string[]]).optional(),
    })
    .refine((b) => b.ids !== undefined || b.flow !== undefined || b.state !== undefined, { error: 'expected at least one of ids, flow or state (state "dead" for every dead item)' }),
  CheckRequest: z.union(
    [
      z.strictObject({ flow: z.string().min(1), role: z.enum(['source', 'destination']) }),
      z.strictObject({ source: endpointBlock }),
      z.strictObject({ destination: endpointBlock }),
    ],
    { error: 'expected { flow, role: "source" | "destination" } or { source: {…} } or { destination: {…} }' },
  ),
  DryRunRequest: z.strictObject({ source: endpointBlock }),
  SecretPutRequest: z.strictObject({ value: z.string().min(1, { error: 'expected a non-empty string' }) }),
  ConsentPasteRequest: z.strictObject({
    input: z.string().min(1, { error: 'expected the address the browser ended on after the consent, or the code' }).max(8192).meta({ description: 'The redirect URL, its query string, or the bare authorization code.' }),
  }),
  SettingsUpdate: z.strictObject({
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).optional(),
    adminPort: z.int().min(0).max(65535).optional(),
    dataDir: z.string().min(1).optional(),
    startAtLogin: z.boolean().optional(),
  }),
  ValidateRequest: z.union([
    z.strictObject({ config: z.record(z.string(), z.unknown()) }),
    z.strictObject({ integration: z.string(), flow: z.record(z.string(), z.unknown()) }),
    z.strictObject({ integration: z.record(z.string(), z.unknown()) }),
  ]),
  NetworkTestRequest: z.strictObject({
    url: z.string().min(1).meta({ description: 'The http(s) URL to test.' }),
    network: z.record(z.string(), z.unknown()).optional().meta({ description: 'Unsaved network settings to test instead of the saved ones (as written in the config).' }),
  }),
  NetworkUpdate: z.strictObject({
    network: z.record(z.string(), z.unknown()).meta({ description: 'The network block as written in the config (see RawNetwork).' }),
    secrets: z.record(z.string(), z.string().min(1)).optional().meta({ description: 'Values of the ${secret:NAME} the block refers to, stored only if the change is valid.' }),
  }),
  RawNetwork: networkSchema,
  RawFlow: flowSchema.partial({ name: true }),
  RawIntegration: integrationSchema.partial({ name: true }),
};

export type BodyName = keyof typeof bodySchemas;

/** Bodies checked by the server before the handler; flows and integrations are checked as part of the whole config. */
export const VALIDATED_BODIES = new Set<BodyName>(['QueueActionRequest', 'CheckRequest', 'DryRunRequest', 'SecretPutRequest', 'SettingsUpdate', 'NetworkTestRequest', 'NetworkUpdate', 'ConsentPasteRequest']);

/**
 * Parts that several bodies or connectors hold (a flow alone and each flow of an integration; the HTTP
 * connectors' auth, proxy and tls): the document describes each once as a component and refers to it,
 * rather than repeating them.
 */
export const sharedBodyParts: Record<string, z.ZodType> = {
  Flow: flowSchema,
  FlowSource: flowSchema.shape.source,
  FlowDestination: flowSchema.shape.destination,
  FlowProcess: flowSchema.shape.process.unwrap(),
  HttpAuth: httpAuthSchema,
  EndpointProxy: endpointNetworkShape.proxy,
  EndpointTls: endpointTlsSchema,
};

let jsonCache: Record<string, Record<string, unknown>> | undefined;

/** JSON Schemas of the request bodies and the flow parts they share, referring to each other as `#/components/schemas/<name>`. */
export function bodyJsonSchemas(): Record<string, Record<string, unknown>> {
  if (!jsonCache) {
    const registry = z.registry<{ id: string }>();
    for (const [id, schema] of Object.entries({ ...sharedBodyParts, ...bodySchemas })) registry.add(schema, { id });
    const { schemas } = z.toJSONSchema(registry, { io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` });
    jsonCache = Object.fromEntries(
      Object.entries(schemas).map(([name, s]) => {
        const { $schema: _schema, $id: _id, ...rest } = s as Record<string, unknown>;
        return [name, rest];
      }),
    );
  }
  return jsonCache;
}
