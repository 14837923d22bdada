// The page the provider's redirect lands on after a consent (/oauth/callback, outside /api: a browser coming
// back from the provider carries no admin credentials; the one-use consent state authenticates it). The
// connection operations themselves are the engine API's (main/engine/api/connection-ops.ts).
import { ConsentError } from '../oauth/consent.ts';
import { CALLBACK_PATH } from '../oauth/config.ts';
import type { ConnectionManager } from '../oauth/connections.ts';

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
