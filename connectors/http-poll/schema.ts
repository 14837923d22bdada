import { z } from 'zod';
import { jsonataLib } from '../http-common/optional-modules.ts';
import { httpAuthSchema, httpUrl } from '../http-common/schema.ts';
import { endpointNetworkShape } from '../net/schema.ts';

const expr = (what: string) =>
  z.string().min(1).superRefine((src, ctx) => {
    try {
      jsonataLib()(src);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `expected a JSONata ${what}, got ${JSON.stringify(src)} (${(err as Error).message})` });
    }
  });

export const paginationSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('page'),
      param: z.string().min(1).default('page'),
      start: z.int().min(0).default(1),
      sizeParam: z.string().min(1).optional().meta({ description: 'Query parameter for the page size (e.g. per_page).' }),
      size: z.int().min(1).optional().meta({ description: 'Page size; a shorter page is the last one.' }),
    }),
    z.strictObject({
      type: z.literal('offset'),
      offsetParam: z.string().min(1).default('offset'),
      limitParam: z.string().min(1).default('limit'),
      limit: z.int().min(1).default(100),
    }),
    z.strictObject({
      type: z.literal('cursor'),
      param: z.string().min(1).default('cursor').meta({ description: 'Query parameter (or body field, paramsIn: body) carrying the token.' }),
      nextPath: expr('expression').meta({ description: 'Where the next token is in the response body, e.g. "meta.next_cursor"; empty ends.' }),
    }),
    z.strictObject({ type: z.literal('link').meta({ description: 'RFC 8288 Link header with rel="next".' }) }),
  ], { error: (iss) => `expected pagination type none | page | offset | cursor | link, got ${JSON.stringify((iss.input as any)?.type ?? iss.input)}` })
  .meta({ description: 'How to walk pages.' });

export const incrementalSchema = z
  .union([
    z.strictObject({
      field: expr('expression').meta({ description: 'Record field (JSONata) whose highest value is the cursor, e.g. updated_at.' }),
      param: z.string().min(1).meta({ description: 'Query parameter (or body field) the cursor is sent in, e.g. updated_since.' }),
      start: z.union([z.string(), z.number()]).optional().meta({ description: 'Cursor of the first run (default: none sent).' }),
    }),
    z.strictObject({
      tokenPath: expr('expression').meta({ description: "Where the API's sync token is in the last page's body." }),
      param: z.string().min(1),
      start: z.string().optional(),
    }),
  ], { error: () => 'expected { field, param, start? } (high-water mark) or { tokenPath, param, start? } (sync token)' })
  .meta({ description: 'Incremental sync: the cursor is stored with the items of each page, so a crash neither skips nor repeats a page.' });

export const httpPollSourceSchema = z.strictObject({
  url: httpUrl.meta({ description: 'The API endpoint to poll.' }),
  method: z.enum(['GET', 'POST']).default('GET'),
  query: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}).meta({ description: 'Query parameters sent with every request.' }),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.record(z.string(), z.unknown()).optional().meta({ description: 'JSON body of a POST query.' }),
  paramsIn: z.enum(['query', 'body']).default('query').meta({ description: 'Where pagination and cursor parameters go (body: merged into the POST body).' }),
  auth: httpAuthSchema.optional(),
  recordPath: expr('expression').optional().meta({ description: 'JSONata selecting the records in a response, e.g. "data.items" (default: the body if it is an array).' }),
  pagination: paginationSchema.default({ type: 'none' }),
  maxPages: z.int().min(1).default(1000).meta({ description: 'Safety stop per run.' }),
  incremental: incrementalSchema.optional(),
  key: expr('expression').optional().meta({ description: 'Record field (JSONata) identifying a record: a record seen again unchanged is dropped as a duplicate.' }),
  emit: z.enum(['record', 'page', 'run']).default('record').meta({
    description: 'One item per record (JSON), per page (JSON array), or per run (all records as NDJSON, e.g. for a report).',
  }),
  maxRequestsPerMinute: z.number().positive().optional().meta({ description: 'Request budget for this host (shared by every flow polling it).' }),
  maxRetries: z.int().min(0).max(20).default(5).meta({ description: 'Retries of one page after 429, 5xx or a network error.' }),
  timeoutMs: z.int().min(100).default(30_000).meta({ description: 'Per request: the reply\'s headers must arrive in this time, and its body be complete in this time again (a reply still arriving is cut).' }),
  maxReplyBytes: z.int().min(1024).max(256 * 1024 * 1024).default(16 * 1024 * 1024).meta({ description: 'Largest reply read, counted after decompression (a gzip bomb is cut at it); a larger page stops the run with a problem naming this key.' }),
  ...endpointNetworkShape,
});

export type HttpPollSourceConfig = z.output<typeof httpPollSourceSchema>;
