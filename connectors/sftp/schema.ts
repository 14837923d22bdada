import { z } from 'zod';
import { connectionShape, remoteDestinationShape, remoteSourceShape } from '../remote/schemas.ts';

/** Keys of an SFTP connection (both roles). */
export const sftpConnectionShape = {
  ...connectionShape,
  port: z.int().min(1).max(65535).default(22),
  password: z.string().optional().meta({ description: 'Use "${env:NAME}" or "${secret:NAME}", never plain text.' }),
  privateKey: z.string().min(1).optional().meta({ description: 'Private key file (OpenSSH or PEM), relative to the config file.' }),
  passphrase: z.string().optional().meta({ description: "The private key's passphrase (\"${secret:NAME}\")." }),
  hostKey: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, { error: (iss) => `expected a host key fingerprint like "SHA256:…" (as ssh-keygen -lf prints it), got ${JSON.stringify(iss.input)}` })
    .optional()
    .meta({ description: 'Pinned host key fingerprint ("SHA256:…"); a server presenting another key is refused. `ferry check` prints it.' }),
};

// (password or privateKey is required: the engine extends these objects, which zod forbids for refined ones,
// so the connector reports a missing credential itself, from check and from a run)
export const sftpSourceSchema = z.strictObject({ ...sftpConnectionShape, ...remoteSourceShape });
export const sftpDestinationSchema = z.strictObject({ ...sftpConnectionShape, ...remoteDestinationShape });

export type SftpConnectionConfig = z.output<z.ZodObject<typeof sftpConnectionShape>>;
export type SftpSourceConfig = z.output<typeof sftpSourceSchema>;
export type SftpDestinationConfig = z.output<typeof sftpDestinationSchema>;
