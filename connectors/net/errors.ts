// One-line reasons, with the next step, for what goes wrong between Ferry and an HTTP(S) server: the proxy
// (unreachable, wants credentials, cannot resolve or reach the host), TLS (an untrusted issuer, as behind a
// TLS-inspecting proxy, a name mismatch, a pin mismatch, a client certificate the server wants) and the
// plain network. Shown in `ferry check`, the dashboard and items' errors.
import { errorMessage } from '../contract.ts';

export type NetErrorKind =
  | 'proxy-auth'
  | 'proxy-unreachable'
  | 'proxy-refused'
  | 'proxy-host-not-found'
  | 'proxy-upstream'
  | 'tls-untrusted'
  | 'tls-pin'
  | 'tls-client-cert'
  | 'timeout';

/** A network failure whose message already is the reason to show (no code prefix is added to it). */
export class NetError extends Error {
  readonly kind: NetErrorKind;
  constructor(kind: NetErrorKind, message: string) {
    super(message);
    this.name = 'NetError';
    this.kind = kind;
  }
}

/** What the dispatcher knows about the failed request's connection. */
export interface FailureHints {
  /** A TLS alert the server sent on a connection to this origin moments ago (OpenSSL's error code). */
  alert?: string;
  /** Whether a client certificate was configured for this origin. */
  clientCert?: boolean;
  /** Whether the connection to this origin was opened moments ago. */
  justConnected?: boolean;
}

const CLIENT_CERT_ALERTS = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
]);

/** "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE" → "bad certificate". */
function alertName(code: string): string {
  return code.replace(/^ERR_SSL_(SSLV3_|TLSV1_|TLSV13_)?(ALERT_)?/, '').replace(/_/g, ' ').toLowerCase();
}

/** The reason for a TLS alert or OpenSSL error from the server, or undefined when `code` is not one. */
export function tlsAlertReason(code: string, host: string, clientCert: boolean): string | undefined {
  if (CLIENT_CERT_ALERTS.has(code)) {
    return clientCert
      ? `the server ${host} refused Ferry's client certificate (${alertName(code)}): check that tls.cert is one it accepts`
      : `client certificate required by the server ${host}: set tls.cert and tls.key (or tls.pfx) on this connector or in network.tls`;
  }
  if (code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE') {
    return clientCert
      ? `the server ${host} refused the TLS handshake (handshake failure)`
      : `the server ${host} refused the TLS handshake (handshake failure): it may require a client certificate (tls.cert and tls.key)`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') return `${host} does not answer TLS (wrong version number): is it an http:// address?`;
  if (code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL') return `${host} and Ferry share no TLS version (${alertName(code)})`;
  if (code.startsWith('ERR_SSL_')) return `TLS with ${host} failed (${alertName(code)})`;
  return undefined;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** One-line description of any failure of a request to `url`. */
export function describeNetworkError(err: unknown, url: URL, hints: FailureHints = {}): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  if (e instanceof NetError) return e.message;
  if (e?.cause instanceof NetError) return e.cause.message;
  const code = e?.code ?? e?.cause?.code;
  const where = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
  if (hints.alert && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE')) {
    const reason = tlsAlertReason(hints.alert, url.hostname, !!hints.clientCert);
    if (reason) return reason;
  }
  if (url.protocol === 'https:' && hints.clientCert && hints.justConnected && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) {
    // some servers (Node's among them) drop a client certificate they do not trust without a TLS alert
    return `the server ${url.hostname} closed the connection right after the TLS handshake: it may not accept Ferry's client certificate (check tls.cert)`;
  }
  if (code?.startsWith('ERR_SSL_')) return tlsAlertReason(code, url.hostname, !!hints.clientCert)!;
  if (code && TLS_CODES.has(code)) return `TLS certificate not trusted (${code}) for ${where}`;
  switch (code) {
    case 'ECONNREFUSED':
      return `host unreachable: connection refused by ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${url.hostname}`;
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `connection to ${where} was reset`;
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `timed out talking to ${where}`;
    default:
      return `${where}: ${errorMessage(e?.cause ?? e)}`;
  }
}

const DNS_FAILURE = /ERR_DNS_FAIL|name or service not known|nodename nor servname|no address associated|unable to determine ip address|could not resolve|name resolution|getaddrinfo|unknown host|no such host|host not found|NXDOMAIN/i;

/** Text of an HTML or plain error page, squeezed to one short line. */
function pageText(body: string): string {
  return body
    .replace(/<(style|script|title)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[a-z]+;/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 160);
}

/**
 * The reason for a proxy's answer to CONNECT other than 2xx. `proxy` is the proxy as shown (no credentials),
 * `target` the host:port asked for.
 */
export function proxyAnswerError(a: { status: number; headers: Record<string, string>; body: string; proxy: string; target: string; sentCredentials: boolean; credentialsKey: string }): NetError {
  const detail = a.headers['x-squid-error'] ?? pageText(a.body);
  const targetHost = a.target.replace(/:\d+$/, '');
  if (a.status === 407 || (a.status === 401 && a.sentCredentials)) {
    return new NetError(
      'proxy-auth',
      a.sentCredentials
        ? `the proxy asks for credentials (${a.status}): ${a.proxy} refused the username and password; check ${a.credentialsKey}.username and ${a.credentialsKey}.password`
        : `the proxy asks for credentials (${a.status}): set ${a.credentialsKey}.username and ${a.credentialsKey}.password (with \${secret:NAME})`,
    );
  }
  if (a.status >= 500 && DNS_FAILURE.test(`${detail} ${a.body}`)) {
    return new NetError('proxy-host-not-found', `host not found through the proxy: ${a.proxy} cannot resolve ${targetHost}`);
  }
  if (a.status === 403) return new NetError('proxy-refused', `the proxy ${a.proxy} refused to connect to ${a.target} (HTTP 403${detail ? `: ${detail}` : ''}): its rules forbid it; ask IT to allow it, or add the host to noProxy if it is reachable directly`);
  return new NetError('proxy-upstream', `the proxy ${a.proxy} could not connect to ${a.target} (HTTP ${a.status}${detail ? `: ${detail}` : ''})`);
}

/** The reason for failing to reach the proxy itself. */
export function proxyUnreachableError(proxy: string, err: unknown): NetError {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ECONNREFUSED' ? 'connection refused'
    : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'its name does not resolve'
    : code === 'ETIMEDOUT' ? 'timed out'
    : code === 'ECONNRESET' ? 'connection reset'
    : errorMessage(err);
  return new NetError('proxy-unreachable', `proxy ${proxy} unreachable (${why})`);
}
