// Remote paths are POSIX paths; names from listings and items are joined only after sanitising.
import path from 'node:path';
import { sanitizeRelativePath } from '../contract.ts';

export const posix = path.posix;

/** Joins a sanitised relative name under a remote folder; never escapes it. */
export function remoteContained(root: string, name: string): string {
  const rel = sanitizeRelativePath(name);
  if (!rel) throw new Error(`unusable file name ${JSON.stringify(name)}`);
  const base = posix.normalize(root.replace(/\/+$/, '') || '/');
  const full = posix.join(base, rel);
  if (full !== base && !full.startsWith(base === '/' ? '/' : `${base}/`)) throw new Error(`file name ${JSON.stringify(name)} escapes ${base}`);
  return full;
}

/** A remote folder without trailing slashes ("/" stays). */
export function remoteFolder(p: string): string {
  return posix.normalize(p.replace(/\/+$/, '') || '/');
}
