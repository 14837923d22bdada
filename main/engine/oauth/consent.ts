// The consent (authorization code + PKCE S256, RFC 7636, with state) as a native app does it (RFC 8252): the
// consent page opens in the system browser and the provider sends the browser back to a loopback URL on the
// admin listener. What comes back (the redirect, or what an admin pastes on a headless machine: the whole
// URL, its query, or the bare code) is read here, and every way it can go wrong gets one clear line.
import crypto from 'node:crypto';
import { CALLBACK_PATH, type ResolvedConnection } from './config.ts';

/** How long a started consent may take (the provider's page, a login, MFA). */
export const CONSENT_TTL_MS = 10 * 60_000;

export class ConsentError extends Error {}

export interface ConsentSession {
  /** Shown to clients to follow this consent (not the state: that stays between Ferry and the provider). */
  id: string;
  connection: string;
  state: string;
  verifier: string;
  redirectUri: string;
  authorizeUrl: string;
  createdAt: number;
  expiresAt: number;
}

const b64url = (b: Buffer) => b.toString('base64url');

export function redirectUriFor(host: '127.0.0.1' | 'localhost', port: number): string {
  return `http://${host}:${port}${CALLBACK_PATH}`;
}

/** A fresh consent: state and PKCE verifier (32 random bytes each), and the provider's consent URL. */
export function newConsent(c: ResolvedConnection, redirectUri: string, now = Date.now()): ConsentSession {
  if (c.grant !== 'authorization_code' || !c.authorizeUrl) {
    throw new ConsentError(`connection ${c.title} uses grant ${c.grant}: it needs no consent (only grant authorization_code does)`);
  }
  const state = b64url(crypto.randomBytes(32));
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const url = new URL(c.authorizeUrl);
  const params: Record<string, string> = {
    ...c.authorizeParams,
    response_type: 'code',
    client_id: c.clientId,
    redirect_uri: redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  if (c.scopes.length > 0) params.scope = c.scopes.join(' ');
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return { id: b64url(crypto.randomBytes(12)), connection: c.key, state, verifier, redirectUri, authorizeUrl: url.toString(), createdAt: now, expiresAt: now + CONSENT_TTL_MS };
}

/** What came back from the provider: the redirect's query parameters and, when known, where it was sent. */
export interface ConsentAnswer {
  params: URLSearchParams;
  /** origin + path the answer arrived at (the callback route, or a pasted URL). */
  arrivedAt?: string;
}

/**
 * Reads what an admin pasted: the redirect URL from the browser's address bar, its query string, or the bare
 * authorization code.
 */
export function parsePasted(input: string): ConsentAnswer {
  const text = input.trim();
  if (!text) throw new ConsentError('nothing pasted: paste the address the browser ended on after the consent (or the code it shows)');
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new ConsentError(`the pasted address is not a URL: ${text.slice(0, 80)}`);
    }
    return { params: url.searchParams, arrivedAt: `${url.origin}${url.pathname}` };
  }
  if (/^[?]?[\w.-]+=/.test(text) && text.includes('=')) return { params: new URLSearchParams(text.replace(/^\?/, '')) };
  if (/\s/.test(text)) throw new ConsentError('the pasted text is neither the redirect address nor a code (it contains spaces)');
  return { params: new URLSearchParams({ code: text }) };
}

/** The one-line reason for an error the provider sent back instead of a code. */
export function providerRefusal(params: URLSearchParams, c: ResolvedConnection, redirectUri: string): string {
  const error = params.get('error') ?? 'error';
  const description = params.get('error_description');
  const host = c.authorizeUrl ? new URL(c.authorizeUrl).host : c.provider;
  const said = `${error}${description ? `: ${description}` : ''}`;
  if (error === 'access_denied') return `consent was denied at ${host} (${said}); nothing changed: connect again to give it`;
  if (/redirect/i.test(said)) return `${host} refused the redirect address ${redirectUri} (${said}): register it as a redirect URI of the app at the provider`;
  if (error === 'invalid_scope') return `${host} refused the scopes ${c.scopes.join(' ') || '(none)'} (${said}): fix scopes of connection ${c.title}`;
  return `${host} refused the consent request (${said})`;
}

/** The one-line reason when the token endpoint refused the code. */
export function codeRefusal(e: { error?: string; description?: string; message: string }, redirectUri: string): string {
  const said = [e.error, e.description].filter(Boolean).join(': ');
  if (e.error === 'invalid_grant' && /redirect/i.test(said)) {
    return `the code was refused because the redirect address did not match (${said}): the consent must come back to ${redirectUri}; connect again (Connect, or ferry connect)`;
  }
  if (e.error === 'invalid_grant') return `the authorization code was refused: it expired or was already used (${said}); codes live about a minute: connect again (Connect, or ferry connect)`;
  if (e.error === 'invalid_client' || e.error === 'unauthorized_client') return `the provider refused the app's credentials (${said}): check clientId and clientSecret`;
  return `exchanging the code failed: ${e.message}`;
}

export function sameRedirect(arrivedAt: string, redirectUri: string): boolean {
  const a = new URL(arrivedAt);
  const b = new URL(redirectUri);
  const loop = (h: string) => (h === 'localhost' || h === '127.0.0.1' || h === '[::1]' ? 'loopback' : h);
  return a.protocol === b.protocol && loop(a.hostname) === loop(b.hostname) && a.port === b.port && a.pathname === b.pathname;
}
