// What the config source keeps in the data dir: the last good (verified, valid, applied) central file with
// its signature, so a restart while the server is unreachable runs it, and the state `ferry status` reads
// from another process (version, when applied, the last refusal and its reason).
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../secrets.ts';
import { verifyProblem, versionOf } from './signing.ts';

export interface ConfigSourceStatus {
  url: string;
  /** Short hash (12 hex digits of SHA-256) of the running central file; null before the first good version. */
  version: string | null;
  appliedAt: string | null;
  /** Last time the server answered with the running version or a new one. */
  checkedAt: string | null;
  /** The last version or fetch refused since the running one was applied or confirmed; null when none. */
  refused: { version: string | null; reason: string; at: string } | null;
  /** HTTP validators of the running version, for conditional GETs. */
  etag?: string | null;
  lastModified?: string | null;
}

const dirOf = (dataDir: string) => path.join(dataDir, 'config-source');
const CURRENT = 'current.conf';
const STATE = 'state.json';

/** The stored last good version, verified again against `publicKey` (the data dir is not trusted blindly). */
export function readLastGood(dataDir: string, publicKey: string): { text: string; version: string } | { problem: string } | undefined {
  const file = path.join(dirOf(dataDir), CURRENT);
  let bytes: Buffer;
  let sig: string;
  try {
    bytes = fs.readFileSync(file);
    sig = fs.readFileSync(`${file}.sig`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { problem: `cannot read the stored configuration ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
  const problem = verifyProblem(bytes, sig, publicKey);
  if (problem) return { problem: `the stored configuration ${file} is not used: ${problem}` };
  return { text: bytes.toString('utf8'), version: versionOf(bytes) };
}

/** Keeps a verified, applied version (file first, then its signature: a reader checks both). */
export function saveLastGood(dataDir: string, bytes: Buffer, sig: string): void {
  const dir = dirOf(dataDir);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // a crash between the two writes leaves a pair that does not verify: the next start then waits for the
  // server (the signature check refuses the mix), and never runs an unsigned file
  writeFileAtomic(path.join(dir, CURRENT), bytes);
  writeFileAtomic(path.join(dir, `${CURRENT}.sig`), `${sig.trim()}\n`);
}

export function readSourceState(dataDir: string): ConfigSourceStatus | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dirOf(dataDir), STATE), 'utf8')) as ConfigSourceStatus;
  } catch {
    return undefined;
  }
}

export function writeSourceState(dataDir: string, state: ConfigSourceStatus): void {
  fs.mkdirSync(dirOf(dataDir), { recursive: true, mode: 0o700 });
  writeFileAtomic(path.join(dirOf(dataDir), STATE), `${JSON.stringify(state, null, 2)}\n`);
}
