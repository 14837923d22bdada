// The configuration schema: the single source of truth for the config's TypeScript types, validation,
// the JSON Schema file (ferry.schema.json) and the reference in docs/config-reference.md.
import { z } from 'zod';
import { connectors } from '../registry.ts';
import { onRecordErrorSchema, processSchema } from '../process/schema.ts';
import { checkConnectionReferences, connectionsSchema } from '../oauth/config.ts';
import { cronProblem, isTimezone } from '../schedule.ts';
import { networkSchema } from '../../../connectors/net/schema.ts';
import { alertsSchema } from '../alerts/schema.ts';
import { configSourceSchema } from '../config-source/schema.ts';
import { metricsSchema } from '../metrics/schema.ts';
import { fleetSchema } from '../fleet/schema.ts';

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
    error: (iss) =>
      `expected a name of letters, digits, "_", "." or "-" (at most 64, starting with a letter or digit), got ${JSON.stringify(iss.input)}`,
  });

export const changeTrigger = z
  .strictObject({ on: z.literal('change') })
  .meta({ description: 'Event-driven: items flow as soon as the source reports them complete.' });

export const scheduleTrigger = z
  .strictObject({
    schedule: z.string().superRefine((expr, ctx) => {
      const problem = cronProblem(expr);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }).meta({ description: 'Cron expression (5 or 6 fields), e.g. "*/5 * * * *". When both day fields are restricted, a day matches when either does (POSIX cron); a time a DST change skips runs at the gap\'s end, a repeated time runs once.' }),
    timezone: z
      .string()
      .refine(isTimezone, { error: (iss) => `expected an IANA time zone like "Europe/Berlin", got ${JSON.stringify(iss.input)}` })
      .optional()
      .meta({ description: "IANA time zone of the schedule; default: the machine's." }),
    catchUp: z.boolean().default(true).meta({
      description: 'Run once at start-up when a tick was missed while Ferry was off or the machine slept.',
    }),
  })
  .meta({ description: 'Scheduled: each tick scans the source and queues what is complete.' });

export const triggerSchema = z.union([changeTrigger, scheduleTrigger], {
  error: () => 'expected { on: change } or { schedule: "<cron>", timezone?, catchUp? }',
});

export const retrySchema = z
  .strictObject({
    maxAttempts: z.int().min(1).max(1000).default(12).meta({ description: 'Attempts before an item goes dead.' }),
    initialDelayMs: z.int().min(1).default(1000).meta({ description: 'First backoff delay; doubles each attempt, full jitter.' }),
    maxDelayMs: z.int().min(1).default(600_000).meta({ description: 'Upper bound of one backoff delay.' }),
  })
  .meta({ description: 'Exponential backoff with full jitter; Retry-After from the destination wins.' });

export const circuitBreakerSchema = z
  .strictObject({
    failureThreshold: z.int().min(1).default(5).meta({ description: 'Consecutive failed attempts that open the circuit.' }),
    cooldownMs: z.int().min(100).default(15_000).meta({ description: 'Pause before one probe (half-open); doubles up to 5 minutes while it keeps failing.' }),
  })
  .meta({ description: 'Pauses a failing destination instead of hammering it; one probe at a time tests recovery.' });

export const flowLimitsSchema = z
  .strictObject({
    maxQueuedItems: z.int().min(1).default(100_000).meta({ description: 'Intake stops (files stay where they are) while this many items wait.' }),
    maxQueuedBytes: z.int().min(1).default(2 * 1024 ** 3).meta({ description: 'Intake stops while this many body bytes wait.' }),
  })
  .meta({ description: 'Back pressure per flow.' });

function endpointSchema(role: 'source' | 'destination') {
  const options = connectors
    .map((c) => {
      const shape = role === 'source' ? c.sourceSchema : c.destinationSchema;
      return shape ? shape.extend({ type: z.literal(c.type) }).strict() : undefined;
    })
    .filter((s): s is NonNullable<typeof s> => s !== undefined);
  const types = connectors.filter((c) => (role === 'source' ? c.sourceSchema : c.destinationSchema)).map((c) => c.type);
  return z.discriminatedUnion('type', options as [any, ...any[]], {
    error: (iss) => {
      const input = iss.input as { type?: unknown } | undefined;
      const got = input && typeof input === 'object' ? JSON.stringify(input.type) : JSON.stringify(input);
      return `expected a ${role} type of ${types.join(' | ')}, got ${got}`;
    },
  });
}

export const flowSchema = z.strictObject({
  name: name.meta({ description: 'Unique name of the flow across all integrations (used by the CLI, the API and logs).' }),
  enabled: z.boolean().default(true).meta({ description: 'A disabled flow is loaded and shown but takes and sends nothing.' }),
  source: endpointSchema('source').meta({ description: 'Where items come from; `type` selects the connector.' }),
  trigger: triggerSchema.default({ on: 'change' }).meta({ description: 'When the source is read: on change events, or on a cron schedule.' }),
  destination: endpointSchema('destination').meta({ description: 'Where items go; `type` selects the connector.' }),
  process: processSchema.optional(),
  onRecordError: onRecordErrorSchema,
  retry: retrySchema.default(retrySchema.parse({})),
  circuitBreaker: circuitBreakerSchema.default(circuitBreakerSchema.parse({})),
  limits: flowLimitsSchema.default(flowLimitsSchema.parse({})),
  // ordered delivery
  ordering: z.enum(['none', 'fifo']).default('none').meta({
    description: 'fifo: an item is not sent before every earlier item of the flow is delivered or dead (one at a time).',
  }),
  'fifo-by': z.string().min(1).optional().meta({
    description:
      'FIFO per group: the group is this attribute of the item, or this field (dotted path) of its JSON body; an item waits only for earlier items of its own group.',
  }),
});

export const integrationSchema = z.strictObject({
  name: name.meta({ description: 'Unique name of the integration (a group of flows serving one purpose).' }),
  description: z.string().optional().meta({ description: 'Free text shown in the dashboard.' }),
  flows: z.array(flowSchema).min(1, { error: 'expected at least one flow' }).meta({ description: 'The flows of this integration; each moves items from one source to one destination.' }),
});

export const configSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'Path or URL of ferry.schema.json, for editor completion.' }),
    dataDir: z.string().optional().meta({
      description: "Queue, content store and logs. Relative to the config file; default: the OS's app-data folder. Must be a local disk.",
    }),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info').meta({ description: 'Log level of stderr and of <dataDir>/logs/ferry.log (rotated at 10 MB, 5 files).' }),
    admin: z
      .strictObject({ port: z.int().min(0).max(65535).default(7399).meta({ description: '0 picks a free port.' }) })
      .default({ port: 7399 })
      .meta({ description: 'Local admin API (127.0.0.1 only).' }),
    retention: z
      .strictObject({
        deliveredDays: z.number().min(0).default(7).meta({ description: 'Delivered and discarded items are pruned after this age.' }),
        fingerprintDays: z.number().min(0).default(90).meta({ description: 'Idempotency keys of pruned items are kept this long, so nothing is sent twice.' }),
      })
      .default({ deliveredDays: 7, fingerprintDays: 90 })
      .meta({ description: 'How long settled items and their idempotency keys are kept.' }),
    minFreeDiskMb: z.int().min(0).default(512).meta({ description: 'Intake stops while the data dir has less free space.' }),
    connections: connectionsSchema.meta({
      description: 'Named OAuth 2.0 accounts (consent given once in the dashboard or with `ferry connect NAME`); flows use one with auth: { type: oauth2, connection: NAME }.',
    }),
    network: networkSchema.default(networkSchema.parse({})),
    configSource: configSourceSchema.optional(),
    metrics: metricsSchema.optional(),
    fleet: fleetSchema.optional(),
    integrations: z.array(integrationSchema).meta({ description: 'Everything Ferry moves, grouped by purpose.' }),
    alerts: alertsSchema,
  })
  .superRefine((cfg, ctx) => {
    checkConnectionReferences(cfg, (path, message) => ctx.addIssue({ code: 'custom', path, message }));
    const seenIntegrations = new Map<string, number>();
    const seenFlows = new Map<string, string>();
    cfg.integrations.forEach((integration, i) => {
      const prev = seenIntegrations.get(integration.name);
      if (prev !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['integrations', i, 'name'], message: `duplicate integration name "${integration.name}" (also integrations[${prev}])` });
      } else seenIntegrations.set(integration.name, i);
      integration.flows.forEach((flow, f) => {
        const at = `integrations[${i}].flows[${f}]`;
        const other = seenFlows.get(flow.name);
        if (other) {
          ctx.addIssue({ code: 'custom', path: ['integrations', i, 'flows', f, 'name'], message: `duplicate flow name "${flow.name}" (also ${other}); flow names are unique across integrations` });
        } else seenFlows.set(flow.name, at);
        if (flow.retry.initialDelayMs > flow.retry.maxDelayMs) {
          ctx.addIssue({ code: 'custom', path: ['integrations', i, 'flows', f, 'retry', 'initialDelayMs'], message: `expected at most maxDelayMs (${flow.retry.maxDelayMs}), got ${flow.retry.initialDelayMs}` });
        }
        const def = connectors.find((c) => c.type === flow.source.type);
        if (!('on' in flow.trigger) && def?.eventsOnly) {
          ctx.addIssue({ code: 'custom', path: ['integrations', i, 'flows', f, 'trigger'], message: `source type "${def.type}" receives events as they come; expected { on: change } (or leave trigger out)` });
        }
        if ('on' in flow.trigger && def && !def.changeEvents) {
          ctx.addIssue({ code: 'custom', path: ['integrations', i, 'flows', f, 'trigger'], message: `source type "${def.type}" reports no change events; expected { schedule: "<cron>" }` });
        }
      });
    });
  });

export type FerryConfig = z.output<typeof configSchema>;
export type IntegrationConfig = FerryConfig['integrations'][number];
export type FlowConfig = IntegrationConfig['flows'][number];
export type RetryConfig = z.output<typeof retrySchema>;
export type TriggerConfig = z.output<typeof triggerSchema>;
