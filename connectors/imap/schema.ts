import { z } from 'zod';
// written out without the i flag: the JSON Schema for editors (ferry.schema.json) cannot carry flags
const fingerprint = z.string().regex(/^([Ss][Hh][Aa]256:)?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, {
  error: (iss) => `expected a SHA-256 certificate fingerprint like "SHA256:AB:CD:…" (32 hex bytes), got ${JSON.stringify(iss.input)}`,
});

/** Globs (`*`, `?`; case-insensitive, whole text) or regular expressions written `/…/flags`; one or a list. */
const patterns = z
  .union([z.string().min(1).transform((p) => [p]), z.array(z.string().min(1)).min(1)])
  .superRefine((list, ctx) => {
    for (const p of list) {
      const m = /^\/(.+)\/([a-z]*)$/s.exec(p);
      if (!m) continue;
      try {
        new RegExp(m[1], m[2]);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
      }
    }
  });

const mailboxName = z.string().min(1).max(500);

export const imapAfterDeliverySchema = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('move'), to: mailboxName.meta({ description: 'Mailbox the message is moved into (created when missing), e.g. "Processed" or "INBOX/Done".' }) }),
    z.strictObject({ action: z.literal('delete') }),
    z.strictObject({
      action: z.literal('flag'),
      keyword: z.string().regex(/^[^\s()\]{%*"\\]+$/, { error: 'expected an IMAP keyword (no spaces, parentheses, quotes, %, * or {)' }).default('$Ferry').meta({
        description: 'Keyword set with \\Seen; messages carrying it are never taken again.',
      }),
    }),
    z.strictObject({ action: z.literal('keep') }),
  ], { error: (iss) => `expected { action: move, to: <mailbox> } | { action: delete } | { action: flag, keyword? } | { action: keep }, got ${JSON.stringify((iss.input as any)?.action ?? iss.input)}` })
  .meta({ description: 'What happens to a message once every item taken from it was delivered (never before).' });

export const imapSourceSchema = z
  .strictObject({
    host: z.string().min(1).meta({ description: 'IMAP server name or address.' }),
    port: z.int().min(1).max(65535).optional().meta({ description: 'Default 993 (tls: implicit), else 143.' }),
    tls: z.enum(['implicit', 'starttls', 'none']).default('implicit').meta({
      description: 'implicit: TLS from the first byte (port 993); starttls: upgrade a plain connection (required, port 143); none: no encryption (only to this machine).',
    }),
    tlsFingerprint: fingerprint.optional().meta({
      description: 'Pinned SHA-256 fingerprint of the server certificate: the only way to accept a self-signed one. Certificates are otherwise verified.',
    }),
    username: z.string().min(1).meta({ description: 'Login name (the mailbox address, usually).' }),
    password: z.string().optional().meta({ description: 'Use "${secret:NAME}" or "${env:NAME}", never plain text.' }),
    oauth2: z
      .union([
        z.strictObject({ connection: z.string().min(1).meta({ description: 'A named OAuth connection of the config (its access token is used for XOAUTH2).' }) }),
        z.strictObject({ accessToken: z.string().min(1).meta({ description: 'An access token (use ${secret:NAME}); it is not refreshed.' }) }),
      ], { error: () => 'expected { connection: <name> } or { accessToken: "${secret:NAME}" }' })
      .optional()
      .meta({ description: 'Log in with XOAUTH2 (Microsoft 365, Google) instead of a password.' }),
    mailbox: mailboxName.default('INBOX').meta({ description: 'Mailbox (folder) to take messages from.' }),
    from: patterns.optional().meta({ description: 'Only messages from these senders: globs ("*@supplier.example") or /regex/ against the sender address.' }),
    subject: patterns.optional().meta({ description: 'Only messages whose subject matches one of these globs ("Orders *") or /regex/.' }),
    include: z.array(z.string().min(1)).default(['*']).meta({ description: 'Attachment names to take (globs, case-insensitive), e.g. ["*.csv", "*.pdf"].' }),
    exclude: z.array(z.string().min(1)).default([]).meta({ description: 'Attachment names to leave alone.' }),
    take: z.enum(['attachments', 'message', 'both']).default('attachments').meta({
      description: 'attachments: one item per attachment; message: one item per message (see messageAs); both: the two.',
    }),
    messageAs: z.enum(['raw', 'text']).default('raw').meta({ description: 'take: message: the raw RFC 822 message (.eml) or its text body (.txt).' }),
    afterDelivery: imapAfterDeliverySchema.default({ action: 'flag', keyword: '$Ferry' }),
    pollSeconds: z.int().min(5).max(86_400).default(60).meta({
      description: 'trigger on change, on a server without IDLE: how often to look for new mail.',
    }),
    connectTimeoutMs: z.int().min(100).default(15_000).meta({ description: 'Time allowed to connect, say hello and log in.' }),
    timeoutMs: z.int().min(1000).default(60_000).meta({ description: 'Time allowed without an answer from the server; the connection is then dropped and opened again.' }),
  })
  .superRefine((v, ctx) => {
    if (v.password === undefined && !v.oauth2) ctx.addIssue({ code: 'custom', path: ['password'], message: 'required (or oauth2)' });
    if (v.password !== undefined && v.oauth2) ctx.addIssue({ code: 'custom', path: ['oauth2'], message: 'give password or oauth2, not both' });
    if (v.tls === 'none' && !/^(127\.\d+\.\d+\.\d+|localhost|::1)$/i.test(v.host)) {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: `"none" would send the login in clear text to ${v.host}; use implicit or starttls (none is only for a server on this machine)` });
    }
    if (v.tls === 'none' && v.tlsFingerprint) ctx.addIssue({ code: 'custom', path: ['tlsFingerprint'], message: 'a pinned certificate needs tls: implicit or starttls' });
    if (v.afterDelivery.action === 'move' && v.afterDelivery.to === v.mailbox) {
      ctx.addIssue({ code: 'custom', path: ['afterDelivery', 'to'], message: `expected another mailbox than the one taken from (${v.mailbox})` });
    }
  });

export type ImapSourceConfig = z.output<typeof imapSourceSchema>;
