// OAuth connections as a UI sees them: health, the redirect URI to register, the latest consent; starting a
// consent, completing it from what the browser ended on, and disconnecting.
import type { Engine } from '../engine.ts';
import { ConsentError, redirectUriFor } from '../oauth/consent.ts';
import { resolveConnection } from '../oauth/config.ts';
import { readConnections } from '../oauth/state.ts';
import type { ConnectionsReply, ConnectionView, ConsentReply, ConsentStartReply, DisconnectReply } from '../admin/connection-types.ts';
import { FerryApiError } from './errors.ts';

function views(engine: Engine, port: number): ConnectionView[] {
  return readConnections(engine.config, engine.db).map((c) => {
    const cfg = c.inline ? undefined : engine.config.connections[c.name];
    const consentable = cfg?.grant === 'authorization_code';
    const o = c.inline ? undefined : engine.connections.consentOutcome(c.name);
    return {
      ...c,
      consentable,
      redirectUri: consentable ? redirectUriFor(resolveConnection(c.name, cfg).redirectHost, port) : null,
      consent: o ? { id: o.id, state: o.state, reason: o.reason ?? null, at: new Date(o.at).toISOString() } : null,
    };
  });
}

function known(engine: Engine, name: string): void {
  if (!engine.config.connections[name]) {
    throw new FerryApiError(404, `no connection named "${name}" (connections: ${Object.keys(engine.config.connections).join(', ') || 'none'})`);
  }
}

/** `port`: where the admin API listens (the provider sends the browser back to it). */
export function listConnections(engine: Engine, port: number): ConnectionsReply {
  return { connections: views(engine, port), storage: engine.connections.store.describe() };
}

export function showConnection(engine: Engine, port: number, name: string): ConnectionView {
  known(engine, name);
  return views(engine, port).find((c) => !c.inline && c.name === name)!;
}

export function startConsent(engine: Engine, port: number, name: string): ConsentStartReply {
  known(engine, name);
  const host = resolveConnection(name, engine.config.connections[name]).redirectHost;
  try {
    const s = engine.connections.beginConsent(name, redirectUriFor(host, port));
    engine.queue.addEvent('connection', null, null, { name, action: 'consent started' });
    return { connection: name, consentId: s.id, authorizeUrl: s.authorizeUrl, redirectUri: s.redirectUri, expiresAt: new Date(s.expiresAt).toISOString() };
  } catch (err) {
    if (err instanceof ConsentError) throw new FerryApiError(409, err.message);
    throw err;
  }
}

export async function pasteConsent(engine: Engine, name: string, input: string): Promise<ConsentReply> {
  known(engine, name);
  try {
    return await engine.connections.completePasted(name, input);
  } catch (err) {
    if (err instanceof ConsentError) throw new FerryApiError(400, err.message);
    throw err;
  }
}

export async function disconnect(engine: Engine, name: string): Promise<DisconnectReply> {
  known(engine, name);
  // the activity log gets the change of health ("needs consent: disconnected …") from the engine
  return { connection: name, ...(await engine.connections.disconnect(name)) };
}
