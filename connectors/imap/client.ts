// Connecting to an IMAP server with imapflow: implicit TLS, STARTTLS (required, never silently skipped) or a
// local plain connection; a pinned certificate checked before the login is sent; a password or an XOAUTH2
// access token; and failures in the words `ferry check` prints.
import net from 'node:net';
import tls from 'node:tls';
import type { ImapFlow, ImapFlowOptions, ImapTransport, ImapTransportSocket } from 'imapflow';
import { errorMessage, type ConnectorEnv, type ConnectorLogger } from '../contract.ts';
import { formatFingerprint as netFingerprint, normaliseFingerprint } from '../net/trust.ts';
import type { ImapSourceConfig } from './schema.ts';

// imapflow is loaded on the first connection, so a Ferry process without a mail flow never pays its memory.
let imapflow: Promise<typeof import('imapflow')> | undefined;
export function loadImapFlow(): Promise<typeof import('imapflow')> {
  imapflow ??= import('imapflow');
  imapflow.catch(() => (imapflow = undefined));
  return imapflow;
}

/** An access token for XOAUTH2 (shape of the engine's OAuth connections' token provider). */
export interface AccessTokens {
  token(opts?: { signal?: AbortSignal }): Promise<{ value: string }>;
  /** The server refused this token: the next token() fetches a new one. */
  rejected?(token: { value: string }): void;
}

/**
 * Where the XOAUTH2 token comes from: a fixed token in the config, or a named connection of the engine
 * (ConnectorEnv.tokens, where the engine offers OAuth connections).
 */
export function accessTokensFor(cfg: ImapSourceConfig, env: ConnectorEnv): AccessTokens | undefined {
  const oauth = cfg.oauth2;
  if (!oauth) return undefined;
  if ('accessToken' in oauth) return { token: async () => ({ value: oauth.accessToken }) };
  if (env.tokens) return env.tokens({ connection: oauth.connection });
  return {
    token: async () => {
      throw new ImapProblem('auth', `oauth2.connection "${oauth.connection}": this Ferry has no OAuth connections to take a token from`);
    },
  };
}

/** A failure this module diagnosed, already in check's words. */
/** A fingerprint as tlsFingerprint is written (as for FTPS): SHA256:AB:CD:… */
const formatFingerprint = (hex: string) => netFingerprint(hex).toUpperCase();

export class ImapProblem extends Error {
  readonly kind: 'auth' | 'tls' | 'unreachable' | 'timeout' | 'mailbox' | 'other';
  constructor(kind: ImapProblem['kind'], message: string) {
    super(message);
    this.kind = kind;
  }
}

export function defaultPort(cfg: Pick<ImapSourceConfig, 'port' | 'tls'>): number {
  return cfg.port ?? (cfg.tls === 'implicit' ? 993 : 143);
}

export function serverLabel(cfg: ImapSourceConfig): string {
  return `${cfg.tls === 'implicit' ? 'imaps' : 'imap'}://${cfg.username}@${cfg.host}:${defaultPort(cfg)}`;
}

function isIp(host: string): boolean {
  return net.isIP(host) !== 0;
}

/**
 * A transport that accepts the server's certificate only when its SHA-256 fingerprint is the pinned one,
 * checked right after the handshake (implicit TLS or STARTTLS), before imapflow reads or sends anything more.
 */
function pinnedTransport(pin: string, where: string): ImapTransport {
  const verify = (socket: tls.TLSSocket, proceed: () => void) => {
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const got = cert?.fingerprint256 ? normaliseFingerprint(cert.fingerprint256) : undefined;
      if (got !== pin) {
        socket.destroy(new ImapProblem('tls', `TLS certificate not trusted: ${where} presented ${got ? formatFingerprint(got) : 'no certificate'}, tlsFingerprint pins ${formatFingerprint(pin)}`));
        return;
      }
      proceed();
    });
  };
  const tlsOptions = (host: string, servername: string | undefined, socket?: net.Socket): tls.ConnectionOptions => ({
    host,
    servername: servername ?? (isIp(host) ? undefined : host),
    socket,
    // the fingerprint decides, checked above before anything else is sent
    rejectUnauthorized: false,
  });
  return {
    connect(options, onConnect) {
      if (!options.secure) return net.connect({ host: options.host, port: options.port }, onConnect) as unknown as ImapTransportSocket;
      const socket = tls.connect({ ...tlsOptions(options.host, options.servername), port: options.port });
      verify(socket, onConnect);
      return socket as unknown as ImapTransportSocket;
    },
    upgrade(socket, options, onSecure) {
      const secure = tls.connect(tlsOptions(options.host, options.servername, socket as unknown as net.Socket));
      verify(secure, onSecure);
      return secure as unknown as ImapTransportSocket;
    },
  };
}

/** imapflow's warnings in the flow's log, short (debug and info chatter dropped; it never logs credentials). */
function imapLogger(log: ConnectorLogger): ImapFlowOptions['logger'] {
  const drop = () => undefined;
  const brief = (obj: { msg?: string; err?: { message?: string; response?: string }; cid?: string }) => ({
    imap: obj.msg,
    err: obj.err?.message,
    response: obj.err?.response,
  });
  return {
    debug: drop,
    info: drop,
    warn: (obj: object) => log.warn(brief(obj), 'IMAP client warning'),
    error: (obj: object) => log.warn(brief(obj), 'IMAP client error'),
  } as ImapFlowOptions['logger'];
}

export interface OpenOptions {
  cfg: ImapSourceConfig;
  log: ConnectorLogger;
  tokens?: AccessTokens;
}

/** Connects and logs in; failures come as ImapProblem with the reason `ferry check` prints. */
export async function openImap({ cfg, log, tokens }: OpenOptions): Promise<ImapFlow> {
  const { ImapFlow } = await loadImapFlow();
  const port = defaultPort(cfg);
  const where = `${cfg.host}:${port}`;
  const token = tokens ? await tokens.token() : undefined;
  const pin = cfg.tlsFingerprint ? normaliseFingerprint(cfg.tlsFingerprint) : undefined;
  const client = new ImapFlow({
    host: cfg.host,
    port,
    secure: cfg.tls === 'implicit',
    doSTARTTLS: cfg.tls === 'starttls' ? true : cfg.tls === 'none' ? false : undefined,
    servername: isIp(cfg.host) ? undefined : cfg.host,
    auth: token ? { user: cfg.username, accessToken: token.value } : { user: cfg.username, pass: cfg.password ?? '' },
    transport: pin ? pinnedTransport(pin, where) : undefined,
    tls: pin ? undefined : { rejectUnauthorized: true },
    logger: imapLogger(log),
    clientInfo: { name: 'Ferry' },
    connectionTimeout: cfg.connectTimeoutMs,
    greetingTimeout: cfg.connectTimeoutMs,
    socketTimeout: cfg.timeoutMs,
    // IDLE is restarted well within the inactivity timeout, so a quiet mailbox never looks like a dead server
    maxIdleTime: Math.max(5000, Math.floor(cfg.timeoutMs / 2)),
    autoIdleDelay: 1000,
  });
  // an error after connect() is reported through 'close' (the source reconnects); never an unhandled event
  client.on('error', (err: unknown) => log.debug({ err: errorMessage(err) }, 'IMAP connection error'));
  try {
    await client.connect();
  } catch (err) {
    client.close();
    if ((err as { authenticationFailed?: boolean }).authenticationFailed && token) tokens?.rejected?.(token);
    throw new ImapProblem(...classify(err, cfg, where, token !== undefined));
  }
  return client;
}

/** The kind and words of a connection or login failure. */
export function classify(err: unknown, cfg: ImapSourceConfig, where: string, viaToken = cfg.oauth2 !== undefined): [ImapProblem['kind'], string] {
  if (err instanceof ImapProblem) return [err.kind, err.message];
  const e = err as NodeJS.ErrnoException & { authenticationFailed?: boolean; responseText?: string; serverResponseCode?: string };
  const msg = errorMessage(err);
  if (e.authenticationFailed) {
    const said = e.responseText ? ` (${e.serverResponseCode ? `${e.serverResponseCode}: ` : ''}${e.responseText.replace(/\s*\[[^\]]*\d{2}:\d{2}:\d{2}\]\s*$/, '')})` : '';
    return ['auth', viaToken
      ? `authentication failed: ${where} refused the XOAUTH2 access token for ${cfg.username}${said}`
      : `authentication failed: ${where} refused user ${cfg.username}${said} (check username and password)`];
  }
  const byCode: Record<string, [ImapProblem['kind'], string]> = {
    ECONNREFUSED: ['unreachable', `host unreachable: connection refused by ${where} (server not running, or wrong host/port)`],
    ENOTFOUND: ['unreachable', `host unreachable: ${cfg.host} not found (DNS)`],
    EAI_AGAIN: ['unreachable', `host unreachable: ${cfg.host} not found (DNS)`],
    EHOSTUNREACH: ['unreachable', `host unreachable: no route to ${where}`],
    ENETUNREACH: ['unreachable', `host unreachable: no route to ${where}`],
    ECONNRESET: ['unreachable', `connection to ${where} dropped (ECONNRESET)`],
    CONNECT_TIMEOUT: ['timeout', `no answer from ${where} within ${cfg.connectTimeoutMs} ms (connectTimeoutMs)`],
    GREETING_TIMEOUT: ['timeout', `${where} accepted the connection but sent no IMAP greeting within ${cfg.connectTimeoutMs} ms (wrong port, or tls: implicit needed?)`],
    ETIMEOUT: ['timeout', `timed out talking to ${where} (no answer for ${cfg.timeoutMs} ms)`],
  };
  if (e.code && byCode[e.code]) return byCode[e.code];
  if (typeof e.code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(e.code)) {
    return ['tls', `TLS certificate not trusted (${e.code}) for ${where}; a self-signed server needs tlsFingerprint`];
  }
  if (/wrong version number|unknown protocol|packet length too long|ClosedAfterConnectTLS/i.test(`${msg} ${e.code ?? ''}`)) {
    return ['tls', `TLS handshake with ${where} failed (${msg}); check tls: implicit | starttls and the port`];
  }
  if (/STARTTLS/i.test(msg)) return ['tls', `${where}: ${msg} (tls: starttls requires it; use implicit on port 993)`];
  return ['other', `${where}: ${msg}`];
}
