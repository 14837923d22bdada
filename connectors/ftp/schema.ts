import { z } from 'zod';
import { connectionShape, remoteDestinationShape, remoteSourceShape } from '../remote/schemas.ts';

const fingerprint = z
  .string()
  .regex(/^(SHA256:)?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, {
    error: (iss) => `expected a SHA-256 certificate fingerprint like "SHA256:AB:CD:…" (32 hex bytes), got ${JSON.stringify(iss.input)}`,
  });

/** Keys of an FTP/FTPS connection (both roles). */
export const ftpConnectionShape = {
  ...connectionShape,
  port: z.int().min(1).max(65535).optional().meta({ description: 'Default 21 (990 with tls: implicit).' }),
  password: z.string().optional().meta({ description: 'Use "${env:NAME}" or "${secret:NAME}", never plain text.' }),
  tls: z.enum(['none', 'explicit', 'implicit']).default('none').meta({
    description: 'none: plain FTP; explicit: FTPS with AUTH TLS on the normal port; implicit: legacy FTPS (port 990).',
  }),
  tlsFingerprint: fingerprint.optional().meta({
    description: 'Pinned SHA-256 fingerprint of the server certificate: the only way to accept a self-signed one. Certificates are otherwise verified.',
  }),
  encoding: z.enum(['utf8', 'latin1']).default('utf8').meta({ description: 'Encoding of file names on the control connection (old servers: latin1).' }),
};

export const ftpSourceSchema = z.strictObject({ ...ftpConnectionShape, ...remoteSourceShape });
export const ftpDestinationSchema = z.strictObject({ ...ftpConnectionShape, ...remoteDestinationShape });

export type FtpConnectionConfig = z.output<z.ZodObject<typeof ftpConnectionShape>>;
export type FtpSourceConfig = z.output<typeof ftpSourceSchema>;
export type FtpDestinationConfig = z.output<typeof ftpDestinationSchema>;
