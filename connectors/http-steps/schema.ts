import { jsonataLib } from '../http-common/optional-modules.ts';
import { z } from 'zod';
import { httpAuthSchema, httpUrl } from '../http-common/schema.ts';
import { endpointNetworkShape } from '../net/schema.ts';


export const stepSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, { error: 'expected a step name of letters, digits and "_"' }),
  url: httpUrl,
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  body: z
    .string()
    .min(1)
    .superRefine((expr, ctx) => {
      try {
        jsonataLib()(expr);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a valid JSONata expression: ${(err as Error).message}` });
      }
    })
    .optional()
    .meta({
    description: 'JSONata building this step\'s JSON body from { input, steps: { <name>: <reply JSON> } }; default: the item as it is.',
  }),
  headers: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra headers (e.g. Authorization: Bearer ${secret:NAME}).' }),
});

export const httpStepsDestinationSchema = z.strictObject({
  steps: z.array(stepSchema).min(1, { error: 'expected at least one step' }).meta({
    description: 'Calls made in order; a step runs only if every earlier one answered 2xx. Each sends Idempotency-Key <item key>:<step>.',
  }),
  auth: httpAuthSchema.optional().meta({ description: 'Credentials sent with every step (e.g. { type: oauth2, connection: NAME }); a step may still add its own headers.' }),
  reply: z.enum(['last', 'all']).default('last').meta({ description: "What the flow's reply is: the last step's answer, or { <step>: <answer> } of all." }),
  timeoutMs: z.int().min(100).default(30_000).meta({ description: 'Per step: the reply\'s headers must arrive in this time, and its body be complete in this time again (a reply still arriving is cut and retried).' }),
  concurrency: z.int().min(1).max(64).default(4),
  maxReplyBytes: z.int().min(1024).max(256 * 1024 * 1024).default(16 * 1024 * 1024).meta({ description: 'Largest step reply read, counted after decompression (a gzip bomb is cut at it); a larger one makes the item dead naming this key.' }),
  ...endpointNetworkShape,
});

export type HttpStepsDestinationConfig = z.output<typeof httpStepsDestinationSchema>;
