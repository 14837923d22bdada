import { z } from 'zod';

const httpUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      return false;
    }
  },
  { error: (iss) => `expected an http(s) URL, got ${JSON.stringify(iss.input)}` },
);

export const httpAuthSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('bearer'), token: z.string().min(1) }),
    z.strictObject({ type: z.literal('basic'), username: z.string(), password: z.string() }),
    z.strictObject({ type: z.literal('apiKey'), header: z.string().min(1).default('X-Api-Key'), value: z.string().min(1) }),
  ], { error: (iss) => `expected auth type bearer | basic | apiKey, got ${JSON.stringify((iss.input as any)?.type ?? iss.input)}` })
  .meta({ description: 'Credentials; use ${env:NAME} or ${secret:NAME}, never plain text.' });

export const httpDestinationSchema = z.strictObject({
  url: httpUrl.meta({ description: 'Where each item is sent.' }),
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  headers: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra headers; values may use ${env:NAME}.' }),
  contentType: z.string().optional().meta({ description: "Content-Type to send; default: from the file's extension." }),
  auth: httpAuthSchema.optional(),
  timeoutMs: z.int().min(100).default(30_000).meta({ description: 'Time allowed without progress (connect, answer, body).' }),
  concurrency: z.int().min(1).max(64).default(4).meta({ description: 'Requests in flight at once.' }),
});

export type HttpDestinationConfig = z.output<typeof httpDestinationSchema>;
