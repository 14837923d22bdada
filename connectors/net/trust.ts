// What an HTTPS connection trusts and presents: Node's bundled roots, the OS store (systemCa), extra root
// files (network.tls.ca, a connector's tls.ca) and an optional client certificate, compiled once into a
// SecureContext and shared by every connection with the same settings. Ferry checks each server itself after
// the handshake (before a byte of the request is sent), so that a refusal names the certificate's issuer,
// and a pinned fingerprint can stand in for a CA.
import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { NetError } from './errors.ts';
import { readCertificateFile, systemCertificates, type SystemCertificates } from './system-ca.ts';

export interface TlsSettings {
  /** Extra root files, each with the config key it came from ("network.tls.ca", "tls.ca"). */
  caFiles: Array<{ file: string; key: string }>;
  systemCa: boolean;
  client?: { cert?: string; key?: string; pfx?: string; passphrase?: string; from: string };
  /** Name for SNI and the certificate check, when not the URL's host. */
  servername?: string;
  /** Pinned SHA-256 of the server certificate, upper-case hex without colons. */
  fingerprint?: string;
}

/** "sha256:ab:cd…", "SHA256:AB…" or "abcd…" → "ABCD…". */
export function normaliseFingerprint(fp: string): string {
  return fp.replace(/^sha256:/i, '').replace(/:/g, '').toUpperCase();
}

/** "ABCD…" (or Node's "AB:CD:…") → "sha256:AB:CD:…", as tls.fingerprint is written. */
export function formatFingerprint(hex: string): string {
  return `sha256:${normaliseFingerprint(hex).match(/../g)!.join(':')}`;
}

const squeeze = (pem: string) => pem.replace(/\s+/g, '');

/** The certificate at the top of the chain a server presented (completed from the trust store where Node could). */
export interface ChainTop {
  /** Subject CN (or O) of the top certificate. */
  name: string;
  /** Who signed the top certificate: itself when self-signed. */
  signer: string;
  selfSigned: boolean;
  fingerprint256: string;
  /** The leaf: its names and validity, for the messages. */
  leaf: { name: string; altNames?: string; validTo: string; validFrom: string; fingerprint256: string };
  depth: number;
}

const nameOf = (n: tls.Certificate | undefined) => (n ? (n.CN ?? n.O ?? n.OU ?? JSON.stringify(n)) : '?');
const asText = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export function chainTop(socket: tls.TLSSocket): ChainTop | undefined {
  const leaf = socket.getPeerCertificate(true);
  if (!leaf || !leaf.subject) return undefined;
  let c: tls.DetailedPeerCertificate = leaf;
  let depth = 0;
  while (c.issuerCertificate && c.issuerCertificate !== c && c.issuerCertificate.fingerprint256 !== c.fingerprint256 && depth < 16) {
    c = c.issuerCertificate;
    depth++;
  }
  const selfSigned = c.issuerCertificate === c || c.issuerCertificate?.fingerprint256 === c.fingerprint256 || JSON.stringify(c.subject) === JSON.stringify(c.issuer);
  return {
    name: asText(nameOf(c.subject))!,
    signer: asText(selfSigned ? nameOf(c.subject) : nameOf(c.issuer))!,
    selfSigned,
    fingerprint256: c.fingerprint256,
    leaf: { name: asText(nameOf(leaf.subject))!, altNames: leaf.subjectaltname, validTo: leaf.valid_to, validFrom: leaf.valid_from, fingerprint256: leaf.fingerprint256 },
    depth,
  };
}

/**
 * The roots of NODE_EXTRA_CA_CERTS, which Node adds to its bundled ones only when no CA list is given: an
 * explicit list (as Ferry's) would drop them, so they are added here.
 */
function extraCaCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return readCertificateFile(file);
  } catch {
    return []; // Node itself only warns about an unreadable file
  }
}

function statKey(file: string | undefined): string {
  if (!file) return '';
  try {
    const s = fs.statSync(file);
    return `${file}@${s.mtimeMs}:${s.size}`;
  } catch {
    return `${file}@missing`;
  }
}

/** The context and trust index for one set of roots and client certificate, shared by every Trust using them. */
class TrustMaterial {
  private static readonly cache = new Map<string, TrustMaterial>();
  private ready?: tls.SecureContext;
  private building?: Promise<tls.SecureContext>;
  private labels?: Promise<Map<string, string>>;

  private constructor(readonly settings: Pick<TlsSettings, 'caFiles' | 'systemCa' | 'client'>) {}

  /** The same files, unchanged on disk, give the same material (a config reload re-reads changed ones). */
  static for(s: TlsSettings): TrustMaterial {
    const c = s.client;
    const key = JSON.stringify([
      s.systemCa,
      s.caFiles.map((f) => [f.key, statKey(f.file)]),
      c ? [c.from, statKey(c.cert), statKey(c.key), statKey(c.pfx), c.passphrase ? crypto.createHash('sha256').update(c.passphrase).digest('hex') : ''] : null,
    ]);
    let m = TrustMaterial.cache.get(key);
    if (!m) {
      if (TrustMaterial.cache.size >= 64) TrustMaterial.cache.delete(TrustMaterial.cache.keys().next().value!);
      m = new TrustMaterial({ caFiles: s.caFiles, systemCa: s.systemCa, client: s.client });
      TrustMaterial.cache.set(key, m);
    }
    return m;
  }

  system(): Promise<SystemCertificates> {
    return this.settings.systemCa ? systemCertificates() : Promise.resolve({ pems: [], source: 'off' });
  }

  context(): tls.SecureContext | Promise<tls.SecureContext> {
    if (this.ready) return this.ready;
    this.building ??= this.build().then((ctx) => (this.ready = ctx));
    return this.building;
  }

  private async build(): Promise<tls.SecureContext> {
    const seen = new Set<string>();
    const ca: string[] = [];
    const add = (pem: string) => {
      const k = squeeze(pem);
      if (!seen.has(k)) (seen.add(k), ca.push(pem));
    };
    tls.rootCertificates.forEach(add);
    extraCaCertificates().forEach(add);
    (await this.system()).pems.forEach(add);
    for (const f of this.settings.caFiles) readCertificateFile(f.file).forEach(add);
    const c = this.settings.client;
    return tls.createSecureContext({
      ca,
      ...(c?.pfx ? { pfx: fs.readFileSync(c.pfx), passphrase: c.passphrase } : {}),
      ...(c?.cert && c.key ? { cert: fs.readFileSync(c.cert), key: fs.readFileSync(c.key), passphrase: c.passphrase } : {}),
    });
  }

  /** Which source holds a root, by its SHA-256: the connector's tls.ca first, then network.tls.ca, the system store, bundled. */
  async label(fingerprint256: string): Promise<string | undefined> {
    this.labels ??= (async () => {
      const map = new Map<string, string>();
      const index = (pems: string[], label: string) => {
        for (const p of pems) {
          try {
            const fp = new crypto.X509Certificate(p).fingerprint256;
            if (!map.has(fp)) map.set(fp, label);
          } catch {
            // a damaged entry in a store is not ours to report here
          }
        }
      };
      const files = [...this.settings.caFiles].sort((a, b) => Number(a.key.startsWith('network.')) - Number(b.key.startsWith('network.')));
      for (const f of files) index(readCertificateFile(f.file), f.key);
      index((await this.system()).pems, 'system store');
      index(extraCaCertificates(), 'NODE_EXTRA_CA_CERTS');
      index(tls.rootCertificates as string[], 'bundled');
      return map;
    })();
    return (await this.labels).get(fingerprint256);
  }
}

export class Trust {
  readonly settings: TlsSettings;
  private readonly material: TrustMaterial;

  constructor(settings: TlsSettings) {
    this.settings = settings;
    this.material = TrustMaterial.for(settings);
  }

  /** The compiled context: at once when built, else a promise (the OS store may take a moment on first use). */
  context(): tls.SecureContext | Promise<tls.SecureContext> {
    return this.material.context();
  }

  get hasClientCert(): boolean {
    return !!(this.settings.client?.pfx || this.settings.client?.cert);
  }

  /** Which trust source vouched for a server: "tls.fingerprint", "tls.ca", "network.tls.ca", "system store" or "bundled". */
  async labelOf(top: ChainTop): Promise<string> {
    if (this.settings.fingerprint) return 'tls.fingerprint';
    return (await this.material.label(top.fingerprint256)) ?? 'a certificate in the chain';
  }

  /** "bundled + system store (…) + network.tls.ca (1 file)", for `ferry check`. */
  async describe(): Promise<string> {
    const parts = ['bundled'];
    if (process.env.NODE_EXTRA_CA_CERTS) parts.push(`NODE_EXTRA_CA_CERTS (${extraCaCertificates().length})`);
    if (this.settings.systemCa) {
      const s = await this.material.system();
      parts.push(s.problem ? `system store (unavailable: ${s.problem})` : `system store (${s.pems.length} from ${s.source})`);
    }
    const byKey = new Map<string, number>();
    for (const f of this.settings.caFiles) byKey.set(f.key, (byKey.get(f.key) ?? 0) + 1);
    for (const [k, n] of byKey) parts.push(`${k} (${n} file${n === 1 ? '' : 's'})`);
    if (this.settings.fingerprint) parts.push(`tls.fingerprint ${formatFingerprint(this.settings.fingerprint)}`);
    if (this.hasClientCert) parts.push(`client certificate from ${this.settings.client!.from}`);
    return parts.join(' + ');
  }

  /**
   * Checks the server of a finished handshake: its pinned fingerprint, or the chain and name Node verified
   * against this trust. Returns the reason to refuse it, or undefined. `what` names it ("api.x.com", "proxy p:3128").
   */
  verify(socket: tls.TLSSocket, what: string): NetError | undefined {
    if (this.settings.fingerprint) {
      const got = socket.getPeerCertificate()?.fingerprint256;
      if (got && normaliseFingerprint(got) === this.settings.fingerprint) return undefined;
      return new NetError('tls-pin', `certificate of ${what} does not match tls.fingerprint ${formatFingerprint(this.settings.fingerprint)}: it presented ${got ? formatFingerprint(got) : 'none'}`);
    }
    if (socket.authorized) return undefined;
    return untrusted(what, String(socket.authorizationError ?? 'unknown'), chainTop(socket), this.settings.systemCa);
  }
}

function untrusted(what: string, code: string, top: ChainTop | undefined, systemCa: boolean): NetError {
  const leaf = top?.leaf;
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return new NetError('tls-untrusted', `certificate of ${what} is self-signed ('${top?.name ?? '?'}'), which is not trusted: pin it with tls.fingerprint "${leaf ? formatFingerprint(leaf.fingerprint256) : 'sha256:…'}" or add it with tls.ca`);
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return new NetError(
        'tls-untrusted',
        `certificate of ${what} is signed by '${top?.signer ?? '?'}', which is not trusted: a TLS-inspecting proxy? Add its root with network.tls.ca or install it in the system store${systemCa ? '' : ' (and set network.tls.systemCa: true)'}`,
      );
    case 'CERT_HAS_EXPIRED':
      return new NetError('tls-untrusted', `certificate of ${what} ${leaf && Date.parse(leaf.validTo) < Date.now() ? `expired on ${leaf.validTo}` : 'has an expired certificate in its chain'}`);
    case 'CERT_NOT_YET_VALID':
      return new NetError('tls-untrusted', `certificate of ${what} is not valid before ${leaf?.validFrom ?? '?'}: check this machine's clock`);
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return new NetError('tls-untrusted', `certificate of ${what} is for ${leaf?.altNames?.replace(/DNS:|IP Address:/g, '') || leaf?.name || '?'}, not this name: set tls.servername if the server is reached by another name`);
    default:
      return new NetError('tls-untrusted', `certificate of ${what} is not trusted (${code})`);
  }
}
