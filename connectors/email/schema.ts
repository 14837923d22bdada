import { z } from 'zod';

const address = z.string().regex(/^[^\s@<>]+@[^\s@<>]+$|^[^<>]*<[^\s@<>]+@[^\s@<>]+>$/, { error: (iss) => `expected an e-mail address like "ops@example.com" or "Ops <ops@example.com>", got ${JSON.stringify(iss.input)}` });
const addresses = z.union([address.transform((a) => [a]), z.array(address).min(1)]);

export const emailDestinationSchema = z.strictObject({
  host: z.string().min(1).meta({ description: 'SMTP server.' }),
  port: z.int().min(1).max(65535).optional().meta({ description: 'Default: 465 for security: tls, else 587.' }),
  security: z.enum(['starttls', 'tls', 'none']).default('starttls').meta({
    description: 'starttls: upgrade a plain connection (required); tls: implicit TLS from the first byte (port 465); none: no encryption (local relays only).',
  }),
  tls: z.strictObject({
    rejectUnauthorized: z.boolean().default(true).meta({ description: 'Refuse untrusted certificates (turn off only for a test relay).' }),
    ca: z.string().optional().meta({ description: 'PEM file of a private CA to trust (relative to the config file).' }),
  }).default({ rejectUnauthorized: true }),
  auth: z.strictObject({ user: z.string().min(1), pass: z.string() }).optional().meta({ description: 'SMTP login; use ${secret:NAME} for the password.' }),
  from: address,
  to: addresses,
  cc: addresses.optional(),
  bcc: addresses.optional(),
  subject: z.string().default('{name}').meta({ description: 'Template: {name}, {stem}, {flow}, {date:yyyy-MM-dd}, {attr.KEY}.' }),
  body: z.string().default('Attached: {name} ({size} bytes), sent by Ferry flow {flow}.').meta({ description: 'Text of the mail when the item is attached (same placeholders).' }),
  as: z.enum(['attachment', 'body']).default('attachment').meta({ description: 'Attach the item, or send its text as the mail body.' }),
  attachmentName: z.string().default('{name}').meta({ description: 'File name of the attachment (template).' }),
  maxBodyBytes: z.int().min(1).default(10 * 1024 * 1024).meta({ description: 'as: body: larger items go dead (attach them instead).' }),
  timeoutMs: z.int().min(1000).default(60_000),
});

export type EmailDestinationConfig = z.output<typeof emailDestinationSchema>;
