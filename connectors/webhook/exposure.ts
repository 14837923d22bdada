// Who can reach a listener. On a loopback address only programs on this machine can call; on any other
// address (0.0.0.0, a LAN address, a host name) the whole network can, so a `webhook` or `sync` source there
// needs TLS (nobody reads or alters requests on the way) and verification (a signature scheme or a bearer
// token: nobody injects events), or the admin's explicit `allowInsecure: true`, which is then reported as a
// warning wherever the config is checked.
import net from 'node:net';

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost (and IPv4-mapped loopback). */
export function isLoopbackAddress(address: string): boolean {
  const a = address.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (a === 'localhost' || a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

export interface ListenerExposure {
  kind: 'webhook' | 'sync';
  address: string;
  port?: number;
  tls: boolean;
  /** A verification other than none: a signature scheme (webhook) or a bearer token (sync). */
  verified: boolean;
  allowInsecure: boolean;
}

/** A finding with its key path relative to the source block. */
export interface ExposureFinding {
  path: string[];
  message: string;
}

const where = (e: ListenerExposure) => `${e.address}${e.port ? `:${e.port}` : ''}`;

/** What an open listener lacks, when it lacks anything (empty on loopback). */
function missing(e: ListenerExposure): ExposureFinding[] {
  if (isLoopbackAddress(e.address)) return [];
  const out: ExposureFinding[] = [];
  const reach = `${where(e)} is reachable from the network`;
  if (!e.tls) out.push({ path: ['tls'], message: `required: ${reach}, and without TLS anyone on the way reads and alters requests; set tls: { cert, key }, listen on 127.0.0.1, or set allowInsecure: true` });
  if (!e.verified) {
    out.push(
      e.kind === 'webhook'
        ? { path: ['verify', 'scheme'], message: `"none" is refused: ${reach}, where anyone could inject events; use github, stripe, standard-webhooks or bearer, listen on 127.0.0.1, or set allowInsecure: true` }
        : { path: ['token'], message: `required: ${reach}, where anyone could call the endpoint; set a token (\${secret:NAME}), listen on 127.0.0.1, or set allowInsecure: true` },
    );
  }
  return out;
}

/** Config errors: a listener open to the network without TLS or verification, unless allowInsecure is set. */
export function exposureProblems(e: ListenerExposure): ExposureFinding[] {
  return e.allowInsecure ? [] : missing(e);
}

/** Config warnings: what allowInsecure lets through (`ferry validate`, the dashboard and the run log show them). */
export function exposureWarnings(e: ListenerExposure): ExposureFinding[] {
  if (!e.allowInsecure) return [];
  const lacks = missing(e).map((f) => (f.path[0] === 'tls' ? 'TLS' : e.kind === 'webhook' ? 'signature verification' : 'a bearer token'));
  if (lacks.length === 0) return [];
  return [{ path: ['allowInsecure'], message: `${e.kind} listener on ${where(e)} accepts requests from the network without ${lacks.join(' and ')}: anyone who can reach it can ${e.kind === 'webhook' ? 'inject events' : 'call the endpoint'}` }];
}
