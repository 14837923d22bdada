// Certificates made at test time with the openssl CLI: a CA, server certificates it signs (for 127.0.0.1),
// client certificates for mutual TLS (optionally with an encrypted key). Files live in a world-readable
// scratch folder, since proxies started by the tests may run as another user (Squid drops to `proxy`).
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startHttpsSink, type Behaviour, type Sink } from './sink.ts';

export interface CertFiles {
  dir: string;
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
  /** "sha256:AB:CD:…" of the certificate. */
  fingerprint: string;
}

const dirs: string[] = [];
/** Removes the folders made so far (after a test file, by vitest; benchmarks call it themselves). */
export function removeSharedDirs(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
if (process.env.VITEST) (await import('vitest')).afterAll(removeSharedDirs);

/** A folder any local user can read (the tests' proxies may not run as root). */
export function sharedDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755);
  dirs.push(d);
  return d;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  for (const f of [cert, key]) fs.chmodSync(f, 0o644);
  const certPem = fs.readFileSync(cert, 'utf8');
  const fp = new crypto.X509Certificate(certPem).fingerprint256;
  return { dir, cert, key, certPem, keyPem: fs.readFileSync(key, 'utf8'), fingerprint: `sha256:${fp}` };
}

/** A self-signed root CA named `cn`. */
export function makeCa(cn: string, dir = sharedDir('ferry-ca-')): CertFiles {
  const name = cn.replace(/\W+/g, '-').toLowerCase();
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return files(dir, name);
}

/** A certificate signed by `ca`: a server's (names: DNS names and IPs), a client's (client: true) or an intermediate CA. */
export function issue(ca: CertFiles, cn: string, opts: { names?: string[]; client?: boolean; passphrase?: string; /** an intermediate CA */ ca?: boolean } = {}): CertFiles {
  const dir = ca.dir;
  const name = `${cn.replace(/\W+/g, '-').toLowerCase()}-${crypto.randomBytes(3).toString('hex')}`;
  const names = opts.names ?? ['127.0.0.1', 'localhost'];
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, opts.ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' : opts.client ? 'extendedKeyUsage=clientAuth\n' : `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext], dir);
  if (opts.passphrase) {
    openssl(['pkey', '-in', `${name}.key`, '-out', `${name}.enc.key`, '-aes256', '-passout', `pass:${opts.passphrase}`], dir);
    fs.renameSync(path.join(dir, `${name}.enc.key`), path.join(dir, `${name}.key`));
  }
  return files(dir, name);
}

/** A self-signed server certificate (no CA), for pinning. */
export function selfSigned(cn: string, dir = sharedDir('ferry-self-')): CertFiles {
  const name = cn.replace(/\W+/g, '-').toLowerCase();
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], dir);
  return files(dir, name);
}

/** An HTTPS sink on 127.0.0.1 whose certificate a fresh CA (named `caName`) signed. */
export async function startSignedSink(caName = 'Ferry Test Sink CA', behaviour?: Behaviour): Promise<{ ca: CertFiles; sink: Sink }> {
  const ca = makeCa(caName);
  const cert = issue(ca, '127.0.0.1');
  return { ca, sink: await startHttpsSink({ cert: cert.certPem, key: cert.keyPem }, behaviour) };
}
