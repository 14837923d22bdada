// Admin API handlers of the OAuth connections: list with health, start a consent, complete it from a pasted
// answer, disconnect; and the page the provider's redirect lands on (/oauth/callback, outside /api: a browser
// coming back from the provider carries no admin credentials; the one-use state authenticates it).
import type { Engine } from '../engine.ts';
import { HttpError } from './http.ts';
import { ConsentError, redirectUriFor } from '../oauth/consent.ts';
import { CALLBACK_PATH, resolveConnection } from '../oauth/config.ts';
import { readConnections } from '../oauth/state.ts';
import type { ConnectionsReply, ConnectionView, ConsentReply, ConsentStartReply, DisconnectReply } from './connection-types.ts';
import type { RouteContext } from './routes.ts';
import type { ConnectionManager } from '../oauth/connections.ts';

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
    throw new HttpError(404, `no connection named "${name}" (connections: ${Object.keys(engine.config.connections).join(', ') || 'none'})`);
  }
}

export function listConnections({ engine, admin }: RouteContext): ConnectionsReply {
  return { connections: views(engine, admin.port), storage: engine.connections.store.describe() };
}

export function showConnection({ engine, admin, params }: RouteContext): ConnectionView {
  known(engine, params.name);
  return views(engine, admin.port).find((c) => !c.inline && c.name === params.name)!;
}

export function startConsent({ engine, admin, params }: RouteContext): ConsentStartReply {
  known(engine, params.name);
  const host = resolveConnection(params.name, engine.config.connections[params.name]).redirectHost;
  try {
    const s = engine.connections.beginConsent(params.name, redirectUriFor(host, admin.port));
    engine.queue.addEvent('connection', null, null, { name: params.name, action: 'consent started' });
    return { connection: params.name, consentId: s.id, authorizeUrl: s.authorizeUrl, redirectUri: s.redirectUri, expiresAt: new Date(s.expiresAt).toISOString() };
  } catch (err) {
    if (err instanceof ConsentError) throw new HttpError(409, err.message);
    throw err;
  }
}

export async function pasteConsent({ engine, params, body }: RouteContext): Promise<ConsentReply> {
  known(engine, params.name);
  try {
    return await engine.connections.completePasted(params.name, (body as { input: string }).input);
  } catch (err) {
    if (err instanceof ConsentError) throw new HttpError(400, err.message);
    throw err;
  }
}

export async function disconnectConnection({ engine, params }: RouteContext): Promise<DisconnectReply> {
  known(engine, params.name);
  // the activity log gets the change of health ("needs consent: disconnected …") from the engine
  return { connection: params.name, ...(await engine.connections.disconnect(params.name)) };
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The page a browser lands on when the provider sends it back: completes the consent and says how it went.
 * Served by the admin listener, and by `ferry connect` itself when no engine runs.
 */
export async function callbackPage(
  connections: Pick<ConnectionManager, 'completeConsent'>,
  url: URL,
  host: string,
  opts: { dashboard?: boolean } = {},
): Promise<{ status: number; html: string }> {
  let title: string;
  let message: string;
  let status = 200;
  try {
    const r = await connections.completeConsent({ params: url.searchParams, arrivedAt: `http://${host}${CALLBACK_PATH}` });
    title = `Connected ${r.connection}`;
    message = `${r.message[0].toUpperCase()}${r.message.slice(1)}. You can close this tab and go back to Ferry.`;
  } catch (err) {
    status = 400;
    title = 'Not connected';
    message = err instanceof ConsentError ? err.message : `the consent could not be completed: ${(err as Error).message}`;
    message = `${message[0].toUpperCase()}${message.slice(1)}`;
  }
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>Ferry: ${escape(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1b2733}h1{font-size:1.4rem}</style></head>
<body><h1 id="result">${escape(title)}</h1><p id="message">${escape(message)}</p>${opts.dashboard ? '<p><a href="/">Open the Ferry dashboard</a></p>' : ''}</body></html>\n`;
  return { status, html };
}

/** Headers of the callback page: no scripts, nothing framed. */
export const CALLBACK_HEADERS = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'" };
