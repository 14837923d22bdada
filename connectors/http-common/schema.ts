// What the HTTP-based connectors share in their config: an http(s) URL and the auth block.
import { z } from 'zod';

export const httpUrl = z.string().refine(
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
    z.strictObject({
      type: z.literal('apiKey'),
      header: z.string().min(1).default('X-Api-Key'),
      value: z.string().min(1),
      in: z.enum(['header', 'query']).default('header').meta({ description: 'Send the key as a header or as a query parameter.' }),
      param: z.string().min(1).optional().meta({ description: 'Query parameter name (in: query); default: header.' }),
    }),
    z.strictObject({
      type: z.literal('oauth2'),
      connection: z.string().min(1).optional().meta({ description: 'A named connection of the top-level `connections:` (consent given in the dashboard or with `ferry connect`); alone, without the client settings below.' }),
      grant: z.enum(['client_credentials', 'refresh_token']).default('client_credentials'),
      tokenUrl: httpUrl.optional().meta({ description: 'The authorization server\'s token endpoint.' }),
      clientId: z.string().min(1).optional(),
      clientSecret: z.string().optional(),
      refreshToken: z.string().min(1).optional().meta({ description: 'For grant: refresh_token: the first refresh token; a rotated one is kept encrypted in the data dir.' }),
      scope: z.string().optional(),
      audience: z.string().optional(),
      clientAuth: z.enum(['basic', 'body']).default('basic').meta({ description: 'Client credentials as HTTP Basic (default) or in the form body.' }),
    }).superRefine((a, ctx) => {
      const given = (Object.keys(a) as Array<keyof typeof a>).filter((k) => !['type', 'connection', 'grant', 'clientAuth'].includes(k) && a[k] !== undefined);
      if (a.connection !== undefined) {
        for (const k of given) ctx.addIssue({ code: 'custom', path: [k], message: `not allowed with connection (the connection "${a.connection}" holds the client settings)` });
        return;
      }
      if (a.tokenUrl === undefined) ctx.addIssue({ code: 'custom', path: ['tokenUrl'], message: 'required (expected the token endpoint URL, or connection: NAME)' });
      if (a.clientId === undefined) ctx.addIssue({ code: 'custom', path: ['clientId'], message: 'required (or connection: NAME)' });
      if (a.grant === 'refresh_token' && !a.refreshToken) ctx.addIssue({ code: 'custom', path: ['refreshToken'], message: 'expected refreshToken for grant: refresh_token' });
    }),
  ], { error: (iss) => `expected auth type bearer | basic | apiKey | oauth2, got ${JSON.stringify((iss.input as any)?.type ?? iss.input)}` })
  .meta({ description: 'Credentials; use ${env:NAME} or ${secret:NAME}, never plain text.' });

export type HttpAuthConfig = z.output<typeof httpAuthSchema>;
