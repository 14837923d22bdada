// The operating system's trusted root certificates (where IT installs a TLS-inspecting proxy's root), read
// once per process and cached. Node 22.15+ answers with tls.getCACertificates('system'); before that:
// Linux reads SSL_CERT_FILE / SSL_CERT_DIR or the distribution's bundle, macOS asks `security` for the
// system keychains, Windows asks PowerShell for the Root (and intermediate CA) stores.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface SystemCertificates {
  pems: string[];
  /** Where they came from, for `ferry check` ("/etc/ssl/certs/ca-certificates.crt", "Windows certificate store"…). */
  source: string;
  /** Why none could be read, when that happened. */
  problem?: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificate blocks of a PEM text, each normalised (one block, "\n" line ends). */
export function splitPem(text: string): string[] {
  return (text.match(PEM_BLOCK) ?? []).map((b) => `${b.replace(/\r\n/g, '\n').trim()}\n`);
}

/** A DER certificate as PEM. */
export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * Reads the certificates of a file: PEM (one or many) or a single DER certificate (Windows' .cer export).
 * Throws a one-line reason naming the file.
 */
export function readCertificateFile(file: string): string[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file} (${code === 'ENOENT' ? 'no such file' : (code ?? String(err))})`);
  }
  const pems = splitPem(bytes.toString('latin1'));
  if (pems.length > 0) {
    for (const p of pems) {
      try {
        new crypto.X509Certificate(p);
      } catch {
        throw new Error(`${file} holds a damaged PEM certificate`);
      }
    }
    return pems;
  }
  try {
    return [new crypto.X509Certificate(bytes).toString()];
  } catch {
    throw new Error(`${file} holds no certificate (expected PEM "-----BEGIN CERTIFICATE-----" or a DER .cer file)`);
  }
}

const LINUX_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Alpine
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL
  '/etc/ssl/ca-bundle.pem', // SUSE
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

function readDirCertificates(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      const full = path.join(dir, n);
      if (!fs.statSync(full).isFile()) continue;
      out.push(...splitPem(fs.readFileSync(full, 'latin1')));
    } catch {
      // unreadable entries are skipped, as OpenSSL does
    }
  }
  return out;
}

function linuxCertificates(env: NodeJS.ProcessEnv): SystemCertificates {
  if (env.SSL_CERT_FILE) {
    try {
      return { pems: splitPem(fs.readFileSync(env.SSL_CERT_FILE, 'latin1')), source: `SSL_CERT_FILE=${env.SSL_CERT_FILE}` };
    } catch (err) {
      return { pems: [], source: `SSL_CERT_FILE=${env.SSL_CERT_FILE}`, problem: `cannot read SSL_CERT_FILE ${env.SSL_CERT_FILE} (${(err as NodeJS.ErrnoException).code})` };
    }
  }
  if (env.SSL_CERT_DIR) {
    const dirs = env.SSL_CERT_DIR.split(path.delimiter).filter(Boolean);
    return { pems: dirs.flatMap(readDirCertificates), source: `SSL_CERT_DIR=${env.SSL_CERT_DIR}` };
  }
  for (const f of LINUX_BUNDLES) {
    if (fs.existsSync(f)) return { pems: splitPem(fs.readFileSync(f, 'latin1')), source: f };
  }
  const dir = readDirCertificates('/etc/ssl/certs');
  if (dir.length > 0) return { pems: dir, source: '/etc/ssl/certs' };
  return { pems: [], source: 'none', problem: 'no system CA bundle found (set SSL_CERT_FILE)' };
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 30_000, windowsHide: true }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function macCertificates(): Promise<SystemCertificates> {
  const keychains = [
    '/System/Library/Keychains/SystemRootCertificates.keychain',
    '/Library/Keychains/System.keychain', // roots an administrator or MDM installed
    path.join(os.homedir(), 'Library/Keychains/login.keychain-db'),
  ];
  const pems: string[] = [];
  const problems: string[] = [];
  for (const k of keychains) {
    if (!fs.existsSync(k)) continue;
    try {
      pems.push(...splitPem(await run('/usr/bin/security', ['find-certificate', '-a', '-p', k])));
    } catch (err) {
      problems.push(`${k}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { pems, source: 'macOS keychains', problem: pems.length === 0 ? problems.join('; ') || 'no certificates in the keychains' : undefined };
}

/** Parses PowerShell's output: one base64 DER certificate per line. */
export function parseBase64Lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^[A-Za-z0-9+/=]{100,}$/.test(l))
    .map((l) => derToPem(Buffer.from(l, 'base64')));
}

async function windowsCertificates(): Promise<SystemCertificates> {
  // Root: trusted roots (including those Group Policy deploys); CA: intermediates, which help build chains
  // but are not trust anchors on their own (verification still ends at a self-signed root).
  const script =
    'Get-ChildItem -Path Cert:\\LocalMachine\\Root, Cert:\\CurrentUser\\Root, Cert:\\LocalMachine\\AuthRoot, Cert:\\LocalMachine\\CA, Cert:\\CurrentUser\\CA -ErrorAction SilentlyContinue | ForEach-Object { [Convert]::ToBase64String($_.RawData) }';
  try {
    const pems = parseBase64Lines(await run('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', script]));
    return { pems, source: 'Windows certificate store' };
  } catch (err) {
    return { pems: [], source: 'Windows certificate store', problem: `cannot read the Windows certificate store: ${(err as Error).message.split('\n')[0]}` };
  }
}

let cache: { key: string; value: Promise<SystemCertificates> } | undefined;

/** The OS's trusted certificates, read once (again only if SSL_CERT_FILE / SSL_CERT_DIR change). */
export function systemCertificates(env: NodeJS.ProcessEnv = process.env): Promise<SystemCertificates> {
  const key = `${process.platform}|${env.SSL_CERT_FILE ?? ''}|${env.SSL_CERT_DIR ?? ''}`;
  if (cache?.key === key) return cache.value;
  const getCA = (tls as unknown as { getCACertificates?: (kind: string) => string[] }).getCACertificates;
  let value: Promise<SystemCertificates>;
  if (typeof getCA === 'function') {
    value = Promise.resolve({ pems: getCA('system').flatMap(splitPem), source: 'the system store (Node)' });
  } else if (process.platform === 'darwin') value = macCertificates();
  else if (process.platform === 'win32') value = windowsCertificates();
  else value = Promise.resolve(linuxCertificates(env));
  cache = { key, value };
  return value;
}
