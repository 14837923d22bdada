// A CONNECT tunnel through an HTTP(S) proxy, written by hand rather than through undici's ProxyAgent so
// that a refusal can be told apart: the proxy's status, its error headers (Squid's X-Squid-Error) and the
// first part of its error page say whether it wants credentials, cannot resolve the host or cannot reach it.
import net from 'node:net';
import tls from 'node:tls';
import { NetError, proxyAnswerError, proxyUnreachableError } from './errors.ts';
import type { Trust } from './trust.ts';

export interface ProxyEndpoint {
  url: URL;
  /** The proxy as shown in messages: its URL without credentials. */
  display: string;
  /** "Basic …" when credentials are configured (or given in the proxy URL, as HTTPS_PROXY may). */
  authorization?: string;
  /** Config key holding the credentials, for the messages ("network.proxy", "proxy"). */
  credentialsKey: string;
  /** Identifies the proxy and its credentials (one pool of tunnels each). */
  key: string;
}

const MAX_HEAD = 16 * 1024;
const MAX_ERROR_BODY = 8 * 1024;
/** How long to wait for the rest of a refusal's error page (it only improves the message). */
const ERROR_BODY_WAIT_MS = 1000;
const noop = () => {};

function parseHead(head: string): { status: number; headers: Record<string, string> } | undefined {
  const lines = head.split('\r\n');
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(lines[0]);
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers };
}

/**
 * Connects to the proxy (TCP, or TLS checked against `proxyTrust` for an https:// proxy) and asks it for a
 * tunnel to `target` ("host:port"). Resolves with the socket, paused, once the proxy answered 2xx.
 */
export async function openTunnel(p: ProxyEndpoint, target: string, proxyTrust: Trust, timeoutMs: number): Promise<net.Socket> {
  const secure = p.url.protocol === 'https:';
  const ctx = secure ? await proxyTrust.context() : undefined;
  const host = p.url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(p.url.port) || (secure ? 443 : 80);
  return new Promise((resolve, reject) => {
    let settled = false;
    let asked = false;
    let answer: { status: number; headers: Record<string, string>; bodyFrom: number } | undefined;
    let buf: Buffer = Buffer.alloc(0);
    let bodyTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => fail(new NetError('timeout', `timed out after ${timeoutMs} ms connecting to ${target} through proxy ${p.display}`)), timeoutMs);

    const cleanUp = () => {
      settled = true;
      clearTimeout(timer);
      clearTimeout(bodyTimer);
      sock.removeListener('data', onData);
      sock.removeListener('end', onEnd);
      sock.removeListener('error', onError);
    };
    const fail = (err: Error) => {
      if (settled) return;
      cleanUp();
      sock.on('error', noop).destroy();
      reject(err);
    };
    const refuse = () => {
      const body = buf.subarray(answer!.bodyFrom, answer!.bodyFrom + MAX_ERROR_BODY).toString('utf8');
      fail(proxyAnswerError({ status: answer!.status, headers: answer!.headers, body, proxy: p.display, target, sentCredentials: !!p.authorization, credentialsKey: p.credentialsKey }));
    };
    const onError = (err: Error) => fail(asked ? new NetError('proxy-upstream', `proxy ${p.display} dropped the connection while opening a tunnel to ${target} (${(err as NodeJS.ErrnoException).code ?? err.message})`) : proxyUnreachableError(p.display, err));
    const onEnd = () => {
      if (answer) refuse();
      else fail(new NetError('proxy-upstream', `proxy ${p.display} closed the connection instead of answering CONNECT ${target}`));
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (answer) {
        const want = Number(answer.headers['content-length'] ?? MAX_ERROR_BODY);
        if (buf.length - answer.bodyFrom >= Math.min(want, MAX_ERROR_BODY)) refuse();
        return;
      }
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD) fail(new NetError('proxy-upstream', `proxy ${p.display} sent an unreadable answer to CONNECT`));
        return;
      }
      const head = parseHead(buf.subarray(0, end).toString('latin1'));
      if (!head) return fail(new NetError('proxy-upstream', `proxy ${p.display} answered CONNECT with something other than HTTP: is ${p.display} an HTTP proxy?`));
      if (head.status >= 200 && head.status < 300) {
        const rest = buf.subarray(end + 4);
        cleanUp();
        sock.pause();
        sock.on('error', noop); // the tunnel's user attaches its own handlers; this one only keeps a late error from crashing
        if (rest.length > 0) sock.unshift(rest);
        resolve(sock);
        return;
      }
      answer = { ...head, bodyFrom: end + 4 };
      if (head.headers['content-length'] === '0') return refuse();
      bodyTimer = setTimeout(refuse, ERROR_BODY_WAIT_MS);
      onData(Buffer.alloc(0));
    };
    const ask = () => {
      asked = true;
      sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${p.authorization ? `Proxy-Authorization: ${p.authorization}\r\n` : ''}Proxy-Connection: keep-alive\r\n\r\n`);
    };

    const sock: net.Socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, secureContext: ctx, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] })
      : net.connect({ host, port });
    sock.setNoDelay(true);
    sock.on('error', onError);
    sock.on('end', onEnd);
    sock.on('data', onData);
    if (secure) {
      sock.once('secureConnect', () => {
        const bad = proxyTrust.verify(sock as tls.TLSSocket, `proxy ${p.display}`);
        if (bad) fail(bad);
        else ask();
      });
    } else sock.once('connect', ask);
  });
}
