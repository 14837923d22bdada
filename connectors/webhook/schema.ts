import { jsonataLib } from '../http-common/optional-modules.ts';
import { z } from 'zod';
import { httpAuthSchema, httpUrl } from '../http-common/schema.ts';
import { snsVerifyShape } from './sns.ts';
import { exposureProblems, type ListenerExposure } from './exposure.ts';
import { endpointNetworkShape } from '../net/schema.ts';

/** A JSONata expression that compiles; the error names the problem. */
export const jsonataExpr = z.string().min(1).superRefine((expr, ctx) => {
  try {
    jsonataLib()(expr);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid JSONata expression: ${(err as Error).message}` });
  }
});


/** Where the shared listener binds. Flows naming the same address and port share one server. */
export const listenShape = {
  address: z.string().min(1).default('127.0.0.1').meta({
    description: 'Address to listen on. 127.0.0.1 (default) accepts only this machine; 0.0.0.0 or a LAN address is an explicit choice: use TLS and verification then.',
  }),
  port: z.int().min(1).max(65535).meta({ description: 'Port to listen on; flows with the same address and port share one server.' }),
  tls: z
    .strictObject({
      cert: z.string().min(1).meta({ description: 'PEM certificate chain file.' }),
      key: z.string().min(1).meta({ description: 'PEM private key file.' }),
    })
    .optional()
    .meta({ description: 'Serve HTTPS with this certificate/key pair (all flows on the port must agree).' }),
  maxBodyBytes: z.int().min(1).max(256 * 1024 * 1024).default(1024 * 1024).meta({ description: 'Larger request bodies get 413.' }),
};

const secretList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const allowInsecureKey = z.boolean().default(false).meta({
  description:
    'Accept requests on a non-loopback address without TLS or without verification (a signature scheme, a token). Off: such a listener is a config error. On: a warning in ferry validate, the dashboard and the log.',
});

/** How exposed a webhook receiver is (exposure.ts decides what it needs). */
export function webhookExposure(v: { address: string; port?: number; tls?: unknown; verify: { scheme: string }; allowInsecure: boolean }): ListenerExposure {
  return { kind: 'webhook', address: v.address, port: v.port, tls: v.tls !== undefined, verified: v.verify.scheme !== 'none', allowInsecure: v.allowInsecure };
}

/** How exposed a sync endpoint is. */
export function syncExposure(v: { address: string; port: number; tls?: unknown; token?: string; allowInsecure: boolean }): ListenerExposure {
  return { kind: 'sync', address: v.address, port: v.port, tls: v.tls !== undefined, verified: v.token !== undefined, allowInsecure: v.allowInsecure };
}

export const verifySchema = z
  .strictObject({
    scheme: z.enum(['github', 'stripe', 'standard-webhooks', 'bearer', 'sns', 'none']).meta({
      description:
        'github: X-Hub-Signature-256; stripe: Stripe-Signature t=…,v1=…; standard-webhooks: webhook-id/-timestamp/-signature; bearer: Authorization: Bearer <secret>; sns: Amazon SNS (signed with AWS\'s certificate; see topics); none: no check (trusted local senders only).',
    }),
    secret: secretList.optional().meta({ description: 'Signing secret or bearer token (a list during key rotation). Use ${secret:NAME}.' }),
    toleranceSec: z.int().min(1).default(300).meta({ description: 'Signed timestamps older or newer than this are refused (stripe, standard-webhooks).' }),
    header: z.string().min(1).optional().meta({ description: 'Signature header name, when the sender uses a non-default one.' }),
    ...snsVerifyShape,
  })
  .superRefine((v, ctx) => {
    if (v.scheme !== 'none' && v.scheme !== 'sns' && v.secret === undefined) ctx.addIssue({ code: 'custom', path: ['secret'], message: `required for scheme ${v.scheme}` });
    if (v.scheme === 'sns' && !v.topics) ctx.addIssue({ code: 'custom', path: ['topics'], message: 'required for scheme sns (the topic ARNs to accept)' });
  })
  .meta({ description: 'How each request proves it comes from the sender.' });

export const relaySchema = z
  .strictObject({
    url: httpUrl.meta({ description: 'Long-poll URL of the relay; Ferry GETs it with ?cursor=…&wait=… (see docs/patterns.md).' }),
    token: z.string().min(1).optional().meta({ description: 'Bearer token for the relay. Use ${secret:NAME}.' }),
    waitSeconds: z.int().min(1).max(120).default(25).meta({ description: 'How long the relay may hold a poll open.' }),
    ...endpointNetworkShape,
  })
  .meta({ description: 'webhook-relay mode: fetch events a relay received, for sites a SaaS app cannot reach.' });

export const webhookSourceSchema = z
  .strictObject({
    mode: z.enum(['listen', 'webhook-relay']).default('listen').meta({ description: 'listen: POST /hooks/<flow>; webhook-relay: poll relay.url.' }),
    ...listenShape,
    port: listenShape.port.optional(),
    verify: verifySchema,
    format: z.enum(['json', 'raw']).default('json').meta({ description: 'json: bodies must parse (400 otherwise); raw: any bytes.' }),
    idHeader: z.string().min(1).optional().meta({
      description: 'Header carrying the event id (replays of a queued id are not queued again). Default: the scheme\'s (webhook-id, X-GitHub-Delivery, Stripe\'s body id).',
    }),
    relay: relaySchema.optional(),
    allowInsecure: allowInsecureKey,
  })
  .superRefine((v, ctx) => {
    if (v.mode === 'listen' && v.port === undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'required (expected a port to listen on)' });
    if (v.mode === 'listen') for (const p of exposureProblems(webhookExposure(v))) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
    if (v.mode === 'webhook-relay' && !v.relay) ctx.addIssue({ code: 'custom', path: ['relay'], message: 'required for mode webhook-relay (expected { url: <relay long-poll URL> })' });
  });

export const webhookDestinationSchema = z.strictObject({
  url: httpUrl.meta({ description: 'Endpoint receiving the events.' }),
  secret: z
    .string()
    .refine((s) => secretBytes(s).length >= 24, { error: 'expected a signing secret of at least 24 bytes (whsec_<base64> or plain text)' })
    .meta({ description: 'Standard Webhooks signing secret (whsec_<base64>, or plain text of at least 24 bytes). Use ${secret:NAME}.' }),
  headers: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra headers.' }),
  auth: httpAuthSchema.optional().meta({ description: 'Credentials the receiver asks for besides the signature (e.g. { type: oauth2, connection: NAME }).' }),
  timeoutMs: z.int().min(100).default(30_000),
  concurrency: z.int().min(1).max(64).default(4),
  ...endpointNetworkShape,
});

export const syncSourceSchema = z
  .strictObject({
  ...listenShape,
  token: z.string().min(16).optional().meta({
    description: 'When set, callers must send Authorization: Bearer <token> (POST and GET by ticket). Use ${secret:NAME}; advised whenever other programs share the machine.',
  }),
  timeoutMs: z.int().min(50).max(600_000).default(10_000).meta({ description: 'How long a caller waits for the SaaS answer before getting 504 and a ticket.' }),
  maxConcurrent: z.int().min(1).max(1024).default(16).meta({ description: 'Calls in progress at once; more get 503 with Retry-After.' }),
  retryAfterSec: z.int().min(1).default(1).meta({ description: 'Retry-After sent with 503.' }),
  format: z.enum(['json', 'raw']).default('json'),
  request: z.strictObject({ map: jsonataExpr.meta({ description: 'JSONata applied to the caller\'s JSON before the SaaS call.' }) }).optional(),
  response: z.strictObject({ map: jsonataExpr.meta({ description: 'JSONata applied to the SaaS JSON answer before replying.' }) }).optional(),
  callbackUrl: httpUrl.optional().meta({ description: 'Where the outcome of a call that timed out into a ticket is POSTed when it settles.' }),
  callbackSecret: z
    .string()
    .refine((s) => secretBytes(s).length >= 24, { error: 'expected a signing secret of at least 24 bytes' })
    .optional()
    .meta({ description: 'Signs callbacks with Standard Webhooks headers.' }),
  allowInsecure: allowInsecureKey,
  })
  .superRefine((v, ctx) => {
    for (const p of exposureProblems(syncExposure(v))) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/** Key bytes of a signing secret: whsec_<base64> is decoded, anything else is taken as UTF-8 text. */
export function secretBytes(secret: string): Buffer {
  if (secret.startsWith('whsec_')) return Buffer.from(secret.slice('whsec_'.length), 'base64');
  return Buffer.from(secret, 'utf8');
}

export type ListenConfig = { address: string; port: number; tls?: { cert: string; key: string }; maxBodyBytes: number };
export type VerifyConfig = z.output<typeof verifySchema>;
export type WebhookSourceConfig = z.output<typeof webhookSourceSchema>;
export type WebhookDestinationConfig = z.output<typeof webhookDestinationSchema>;
export type SyncSourceConfig = z.output<typeof syncSourceSchema>;
