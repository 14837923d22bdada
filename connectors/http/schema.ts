import { z } from 'zod';
import { endpointNetworkShape } from '../net/schema.ts';
import { httpAuthSchema, httpUrl } from '../http-common/schema.ts';

export type { HttpAuthConfig } from '../http-common/schema.ts';

export const httpDestinationSchema = z.strictObject({
  url: httpUrl.meta({ description: 'Where each item is sent.' }),
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra headers; values may use ${env:NAME}.' }),
  contentType: z.string().optional().meta({ description: "Content-Type to send; default: from the file's extension." }),
  auth: httpAuthSchema.optional(),
  timeoutMs: z.int().min(100).default(30_000).meta({ description: 'Time allowed without progress (connect, answer, body).' }),
  concurrency: z.int().min(1).max(64).default(4).meta({ description: 'Requests in flight at once.' }),
  ...endpointNetworkShape,
});

export type HttpDestinationConfig = z.output<typeof httpDestinationSchema>;
