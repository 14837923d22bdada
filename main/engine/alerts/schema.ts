// The `alerts:` block of the config: which causes, for which flows, to which channel (e-mail or a chat/JSON
// webhook), how often. The channels reuse the e-mail and HTTP connectors' own address and URL rules.
import { z } from 'zod';
import { connectorOf } from '../registry.ts';

export const ALERT_CAUSES = ['flow-failing', 'item-dead', 'source-failing', 'disk-low', 'consent-needed', 'config-refused'] as const;
export type AlertCause = (typeof ALERT_CAUSES)[number];

/** Causes of the whole engine rather than of one flow (`flows:` does not filter them). */
export const ENGINE_CAUSES: ReadonlySet<AlertCause> = new Set(['disk-low', 'config-refused']);

const emailShape = connectorOf('email').destinationSchema!.shape;
const httpUrl = connectorOf('http').destinationSchema!.shape.url;

const emailChannel = z.strictObject({
  type: z.literal('email'),
  to: emailShape.to.meta({ description: 'Recipients: "it@site.example" or a list.' }),
  from: emailShape.from.optional().meta({ description: 'Sender; default ferry@<this machine\'s name>.' }),
  smtp: z.strictObject({
    host: z.string().min(1).meta({ description: 'SMTP server.' }),
    port: z.int().min(1).max(65535).optional().meta({ description: 'Default: 465 for security: tls, else 587.' }),
    username: z.string().min(1).optional(),
    password: z.string().optional().meta({ description: 'Use ${secret:NAME}, never plain text.' }),
    security: z.enum(['starttls', 'tls', 'none']).default('starttls').meta({ description: 'starttls (required), tls (implicit, port 465) or none (a local relay only).' }),
    tls: z.strictObject({
      rejectUnauthorized: z.boolean().default(true),
      ca: z.string().optional().meta({ description: 'PEM file of a private CA to trust (relative to the config file).' }),
    }).optional(),
  }).meta({ description: 'How alerts are sent: { host, port, username, password }.' }),
});

const webhookChannel = z.strictObject({
  type: z.literal('webhook'),
  url: httpUrl.meta({ description: 'Incoming-webhook URL (Slack, Teams) or any endpoint taking JSON. Use ${secret:NAME}: such URLs are credentials.' }),
  format: z.enum(['slack', 'teams', 'json']).default('json').meta({
    description: 'slack: text and blocks; teams: an Adaptive Card in a message attachment (Workflows or incoming webhook); json: the alert as a JSON object.',
  }),
  headers: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra headers (e.g. an API key).' }),
});

export const alertRuleSchema = z.strictObject({
  on: z.array(z.enum(ALERT_CAUSES)).min(1).meta({
    description:
      'Causes: flow-failing (its destination unreachable, or the flow could not start), item-dead (items failed for good), source-failing (its server or folder cannot be read), disk-low (intake paused for disk space), consent-needed (an OAuth connection needs an admin\'s consent), config-refused (a changed config file was refused; the old one runs on).',
  }),
  flows: z.array(z.string().min(1)).min(1).default(['*']).meta({ description: 'Flow names (globs); disk-low and config-refused concern the whole of Ferry and ignore it.' }),
  to: z.discriminatedUnion('type', [emailChannel, webhookChannel], {
    error: (iss) => `expected { type: email, to, smtp } or { type: webhook, url, format }, got ${JSON.stringify((iss.input as { type?: unknown } | undefined)?.type ?? iss.input)}`,
  }),
  throttleMinutes: z.number().min(0).default(30).meta({
    description: 'At most one message per flow and cause in this window; what happens meanwhile is summed up in the next one, or when it clears.',
  }),
  dashboardUrl: httpUrl.optional().meta({
    description: 'The dashboard\'s address as the recipients reach it (a reverse proxy, a remote-desktop host); default: this machine\'s local address.',
  }),
});

export const alertsSchema = z.array(alertRuleSchema).default([]).meta({
  description: 'Messages to the admin when something fails (e-mail, Slack, Teams, JSON); sent through Ferry\'s own queue, so they survive restarts and retry.',
});

export type AlertRule = z.output<typeof alertRuleSchema>;
export type AlertChannel = AlertRule['to'];
