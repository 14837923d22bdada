// `configSource:`: the integrations come from a signed file on a central server instead of the local file.
// The local file then keeps only what belongs to this machine; the central file holds what is shared.
import { z } from 'zod';
import { parsePublicKey } from './signing.ts';

export const configSourceSchema = z
  .strictObject({
    url: z
      .string()
      .refine((u) => /^https?:\/\//i.test(u) && URL.canParse(u), { error: (iss) => `expected an http(s) URL, got ${JSON.stringify(iss.input)}` })
      .meta({ description: 'Where the central configuration (YAML or JSON) is served; its signature is fetched from url + ".sig".' }),
    pollSec: z.int().min(1).max(86_400).default(60).meta({ description: 'How often the server is asked for a new version (a conditional GET: ETag / Last-Modified).' }),
    publicKey: z
      .string()
      .superRefine((k, ctx) => {
        const problem = parsePublicKey(k).problem;
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .meta({ description: 'The one line of ferry-config.pub (`ferry config keygen`): only files signed by its private key are applied.' }),
    headers: z.record(z.string(), z.string()).default({}).meta({ description: 'Extra request headers (e.g. Authorization: "Bearer ${secret:CONFIG_TOKEN}").' }),
    maxBytes: z.int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024).meta({ description: 'A larger file is refused (its reason shows in status).' }),
    timeoutMs: z.int().min(100).max(600_000).default(30_000).meta({ description: 'A fetch (file or signature) taking longer is refused as too slow.' }),
  })
  .meta({ description: 'Central configuration: integrations pulled from url, verified against publicKey, applied as dashboard edits are. The local file may then hold only machine-local keys.' });

export type ConfigSourceConfig = z.output<typeof configSourceSchema>;

/** Keys the local file may hold beside `configSource` (what belongs to this machine). */
export const LOCAL_KEYS = ['$schema', 'dataDir', 'admin', 'metrics', 'fleet', 'configSource', 'network'] as const;
/** Keys the central file may hold (what is shared by every agent that pulls it). */
export const CENTRAL_KEYS = ['$schema', 'integrations', 'logLevel', 'retention', 'minFreeDiskMb', 'alerts'] as const;
