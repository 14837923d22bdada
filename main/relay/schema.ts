// relay.yaml: the configuration of `ferry relay`, a webhook relay for sites nobody can reach.
import { z } from 'zod';
import { isLoopbackAddress } from '../../connectors/webhook/exposure.ts';

const queueName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  error: (iss) => `expected a queue name of letters, digits, "_", "." or "-" (at most 64), got ${JSON.stringify(iss.input)}`,
});

export const relayQueueSchema = z.strictObject({
  name: queueName.meta({ description: 'Senders POST to /hooks/<name>; agents poll /queues/<name>.' }),
  token: z.string().min(16, { error: 'expected a token of at least 16 characters (use ${secret:NAME} or ${env:NAME})' }).meta({ description: 'Bearer token the agents of this queue poll with.' }),
  maxEvents: z.int().min(1).default(100_000).meta({ description: 'Events waiting at most; more are refused with 429 until the agent fetches.' }),
  maxBytes: z.int().min(1024).default(1024 ** 3).meta({ description: 'Body bytes waiting at most; more are refused with 429.' }),
});

export const relayConfigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    dataDir: z.string().meta({ description: 'Where the relay keeps its SQLite store (a local disk); relative to relay.yaml.' }),
    listen: z
      .strictObject({
        address: z.string().default('127.0.0.1').meta({ description: 'Address to listen on; a reachable host needs 0.0.0.0 or its address.' }),
        port: z.int().min(0).max(65535).meta({ description: '0 picks a free port (printed at start).' }),
        tls: z.strictObject({ cert: z.string(), key: z.string() }).optional().meta({ description: 'PEM files (relative to relay.yaml): HTTPS.' }),
      })
      .meta({ description: 'Where senders and agents reach the relay.' }),
    allowInsecure: z.boolean().default(false).meta({ description: 'Listen on a non-loopback address without TLS (only behind a proxy that terminates TLS).' }),
    retentionDays: z.number().positive().default(7).meta({ description: 'Events no agent fetched are dropped after this long.' }),
    maxBodyBytes: z.int().min(1).max(64 * 1024 * 1024).default(1024 * 1024).meta({ description: 'Larger webhooks are refused with 413.' }),
    maxHeaderBytes: z.int().min(1024).max(256 * 1024).default(16 * 1024).meta({ description: 'Larger request headers are refused with 431.' }),
    maxWaitSec: z.int().min(1).max(300).default(60).meta({ description: 'Longest a poll is held open (an agent asks for its own wait up to this).' }),
    minFreeDiskMb: z.int().min(0).default(512).meta({ description: 'Webhooks are refused with 507 while the data dir has less free space.' }),
    queues: z.array(relayQueueSchema).min(1, { error: 'expected at least one queue' }),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Set<string>();
    cfg.queues.forEach((q, i) => {
      if (seen.has(q.name)) ctx.addIssue({ code: 'custom', path: ['queues', i, 'name'], message: `duplicate queue name "${q.name}"` });
      seen.add(q.name);
    });
    const loopback = isLoopbackAddress(cfg.listen.address);
    if (!loopback && !cfg.listen.tls && !cfg.allowInsecure) {
      ctx.addIssue({ code: 'custom', path: ['listen', 'tls'], message: `required: ${cfg.listen.address} is reachable from the network, and without TLS anyone on the way reads the webhooks and the agents' tokens; set tls: { cert, key }, or allowInsecure: true behind a TLS-terminating proxy` });
    }
  });

export type RelayConfig = z.output<typeof relayConfigSchema>;
export type RelayQueueConfig = RelayConfig['queues'][number];
