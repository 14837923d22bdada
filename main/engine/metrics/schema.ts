// `metrics:` in the config: the optional listener of its own for GET /metrics (the admin listener always
// serves it, behind the admin token).
import { z } from 'zod';
import { isLoopback } from '../../../connectors/net/no-proxy.ts';

export const metricsSchema = z
  .strictObject({
    port: z.int().min(0).max(65535).optional().meta({ description: 'Serve GET /metrics on a listener of its own on this port (0 picks a free one). Without it, /metrics is served only on the admin listener (admin token required).' }),
    address: z.string().min(1).default('127.0.0.1').meta({ description: 'Address of that listener. A non-loopback address requires `token`.' }),
    token: z.string().min(16, { error: 'expected a token of at least 16 characters' }).optional().meta({ description: 'Bearer token Prometheus sends (`authorization: { credentials: … }`). Use ${secret:NAME}.' }),
  })
  .superRefine((m, ctx) => {
    if (m.port !== undefined && !isLoopback(m.address) && m.token === undefined) {
      ctx.addIssue({ code: 'custom', path: ['token'], message: `required when the metrics listener is on a non-loopback address (${m.address}); Prometheus sends it as Authorization: Bearer` });
    }
  })
  .meta({ description: 'Prometheus metrics (GET /metrics): the admin listener serves them with the admin token; `port` adds a listener of their own.' });

export type MetricsConfig = z.output<typeof metricsSchema>;
