// An alert channel is delivered by Ferry's own connectors: e-mail through the email destination (SMTP), chat
// and JSON webhooks through the http destination, so retries, errors, network settings and secrets in error
// replies are handled as for any flow. `ferry alerts test` sends through the same destinations.
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { connectorOf } from '../registry.ts';
import { errorMessage, type ConnectorEnv, type Destination, type OutgoingItem } from '../../../connectors/contract.ts';
import type { AlertChannel } from './schema.ts';

/** This machine's name as alerts show it. */
export function hostName(): string {
  return os.hostname().split('.')[0] || 'ferry';
}

/** The sender when the rule names none: ferry@<host>. */
function defaultFrom(): string {
  const host = os.hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '') || 'localhost';
  return `Ferry <ferry@${host}>`;
}

/** The destination that sends a channel's alerts (config of the email or http connector, their defaults applied). */
export function channelDestination(channel: AlertChannel, configDir: string, env: ConnectorEnv): Destination {
  if (channel.type === 'email') {
    const def = connectorOf('email');
    const smtp = channel.smtp;
    const cfg = def.destinationSchema!.parse({
      host: smtp.host,
      port: smtp.port,
      security: smtp.security,
      tls: smtp.tls ? { rejectUnauthorized: smtp.tls.rejectUnauthorized, ca: smtp.tls.ca ? path.resolve(configDir, smtp.tls.ca) : undefined } : undefined,
      auth: smtp.username ? { user: smtp.username, pass: smtp.password ?? '' } : undefined,
      from: channel.from ?? defaultFrom(),
      to: channel.to,
      subject: '{attr.subject}',
      as: 'body',
      timeoutMs: 30_000,
    });
    return def.createDestination!(cfg, env);
  }
  const def = connectorOf('http');
  const cfg = def.destinationSchema!.parse({ url: channel.url, method: 'POST', headers: channel.headers, contentType: 'application/json; charset=utf-8', timeoutMs: 30_000, concurrency: 1 });
  return def.createDestination!(cfg, env);
}

/** "email to it@site.example", "teams webhook prod-123.westeurope.logic.azure.com" (never the URL's path or query: they hold its key). */
export function describeChannel(channel: AlertChannel): string {
  if (channel.type === 'email') return `email to ${(channel.to as string[]).join(', ')}`;
  return `${channel.format} webhook ${new URL(channel.url).host}`;
}

/** An item as a destination sees it, for a send outside the queue (`ferry alerts test`). */
export function directItem(name: string, body: Buffer, attributes: OutgoingItem['attributes']): OutgoingItem {
  return {
    id: 0,
    flow: '@alerts-test',
    name,
    idempotencyKey: crypto.randomBytes(20).toString('hex'),
    attributes,
    size: body.length,
    sha256: crypto.createHash('sha256').update(body).digest('hex'),
    attempt: 1,
    openBody: () => Readable.from([body]),
    readBody: async () => body,
  };
}

/** Sends one rendered alert straight through a channel's destination; the outcome in words. */
export async function sendDirect(destination: Destination, item: OutgoingItem, env: ConnectorEnv): Promise<{ ok: boolean; message: string }> {
  try {
    const outcome = await destination.send(item, { flow: item.flow, log: env.log, signal: AbortSignal.timeout(60_000) });
    if (outcome.kind === 'delivered') return { ok: true, message: `sent${outcome.detail ? ` (${outcome.detail})` : ''}` };
    return { ok: false, message: outcome.reason };
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  } finally {
    await destination.close?.().catch(() => undefined);
  }
}
