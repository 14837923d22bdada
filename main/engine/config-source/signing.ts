// Ed25519 signatures over the exact bytes of a central configuration file (node:crypto, no dependency).
// ferry-config.pub holds one line, `ed25519:<base64 of the 32-byte public key>`, which is what
// configSource.publicKey holds; CONFIG.sig holds one line, the base64 signature.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const KEY_FILE = 'ferry-config.key';
export const PUB_FILE = 'ferry-config.pub';
const PREFIX = 'ed25519:';
/** DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A public key line as a KeyObject, or what is wrong with it. */
export function parsePublicKey(line: string): { key?: crypto.KeyObject; problem?: string } {
  const text = line.trim();
  if (!text.startsWith(PREFIX)) return { problem: `expected the line of ferry-config.pub ("${PREFIX}<base64>", from \`ferry config keygen\`), got ${JSON.stringify(text.slice(0, 20))}` };
  const raw = Buffer.from(text.slice(PREFIX.length), 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== text.slice(PREFIX.length)) return { problem: 'expected a 32-byte Ed25519 key in base64 after "ed25519:"' };
  return { key: crypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }) };
}

export function publicKeyLine(key: crypto.KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return PREFIX + der.subarray(der.length - 32).toString('base64');
}

/** Writes a new key pair into `dir`: the private key (PKCS#8 PEM, mode 0600) and the public key line. */
export function writeKeyPair(dir: string): { keyFile: string; pubFile: string; publicKey: string } {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, KEY_FILE);
  const pubFile = path.join(dir, PUB_FILE);
  for (const f of [keyFile, pubFile]) if (fs.existsSync(f)) throw new Error(`${f} exists already: keys are never overwritten (move it away to make a new pair)`);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const line = publicKeyLine(publicKey);
  // 'wx': never through a file someone else placed there meanwhile
  fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  fs.chmodSync(keyFile, 0o600); // the umask may have narrowed it; never widened
  fs.writeFileSync(pubFile, `${line}\n`, { mode: 0o644, flag: 'wx' });
  return { keyFile, pubFile, publicKey: line };
}

/** Reads a private key file written by writeKeyPair. */
export function readPrivateKey(file: string): crypto.KeyObject {
  let pem: string;
  try {
    pem = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${file}: ${code === 'ENOENT' ? 'no such key file' : `cannot read (${code})`}`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(pem);
  } catch {
    throw new Error(`${file}: not a private key (expected the ${KEY_FILE} that \`ferry config keygen\` writes)`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${file}: expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  return key;
}

/** The signature line of `bytes` (what CONFIG.sig holds). */
export function signBytes(bytes: Buffer, key: crypto.KeyObject): string {
  return crypto.sign(null, bytes, key).toString('base64');
}

/** Checks a .sig file's text against the exact bytes; returns the problem, or undefined when it verifies. */
export function verifyProblem(bytes: Buffer, sigText: string, publicKey: string): string | undefined {
  const { key, problem } = parsePublicKey(publicKey);
  if (!key) return `configSource.publicKey: ${problem}`;
  const line = sigText.trim();
  const sig = Buffer.from(line, 'base64');
  if (sig.length !== 64 || sig.toString('base64') !== line) return 'the signature file is not an Ed25519 signature (expected one line of base64, as `ferry config sign` writes)';
  return crypto.verify(null, bytes, key, sig) ? undefined : 'signature does not match: the file was changed after signing, or signed with another key';
}

/** The short version name of a configuration: the first 12 hex digits of SHA-256 over its exact bytes. */
export function versionOf(bytes: Buffer | string): string {
  return crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}
