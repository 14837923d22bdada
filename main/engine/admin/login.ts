// The admin token (<dataDir>/admin-token, mode 0600), where the running API listens (<dataDir>/admin.json),
// and one-time login links for a browser: `ferry dashboard` signs a nonce and an expiry with the token; the
// server checks the signature, accepts each nonce once, and answers with a session cookie.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../secrets.ts';

export const TOKEN_FILE = 'admin-token';
export const ADMIN_INFO_FILE = 'admin.json';
/** How long a login link stays valid. */
export const LOGIN_LINK_MS = 2 * 60_000;

/** Reads the admin token, creating a random one (mode 0600) on first start. */
export function ensureAdminToken(dataDir: string): string {
  const file = path.join(dataDir, TOKEN_FILE);
  const existing = readAdminToken(dataDir);
  if (existing) {
    // tighten a token file someone copied with looser permissions
    if (process.platform !== 'win32' && (fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    return existing;
  }
  const token = crypto.randomBytes(32).toString('base64url');
  writeFileAtomic(file, `${token}\n`, 0o600);
  return token;
}

export function readAdminToken(dataDir: string): string | undefined {
  try {
    const t = fs.readFileSync(path.join(dataDir, TOKEN_FILE), 'utf8').trim();
    return t || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export interface AdminInfo {
  url: string;
  port: number;
  pid: number;
  startedAt: string;
}

export function writeAdminInfo(dataDir: string, info: AdminInfo): void {
  writeFileAtomic(path.join(dataDir, ADMIN_INFO_FILE), JSON.stringify(info, null, 2), 0o600);
}

export function readAdminInfo(dataDir: string): AdminInfo | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, ADMIN_INFO_FILE), 'utf8')) as AdminInfo;
  } catch {
    return undefined;
  }
}

export function removeAdminInfo(dataDir: string, pid = process.pid): void {
  if (readAdminInfo(dataDir)?.pid === pid) fs.rmSync(path.join(dataDir, ADMIN_INFO_FILE), { force: true });
}

function sign(token: string, nonce: string, expires: number): string {
  return crypto.createHmac('sha256', token).update(`login\0${nonce}\0${expires}`).digest('base64url');
}

/** A one-time login link for a browser (valid LOGIN_LINK_MS). */
export function loginLink(baseUrl: string, token: string, now = Date.now()): string {
  const nonce = crypto.randomBytes(16).toString('base64url');
  const expires = now + LOGIN_LINK_MS;
  return `${baseUrl.replace(/\/$/, '')}/login?n=${nonce}&e=${expires}&s=${sign(token, nonce, expires)}`;
}

/** Checks a login link's parameters; returns why it is refused, or undefined when it is good. */
export function checkLoginLink(token: string, q: URLSearchParams, used: Map<string, number>, now = Date.now()): string | undefined {
  const nonce = q.get('n') ?? '';
  const expires = Number(q.get('e'));
  const sig = q.get('s') ?? '';
  if (!nonce || !Number.isFinite(expires) || !sig) return 'incomplete login link';
  const expected = Buffer.from(sign(token, nonce, expires));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return 'login link is not valid (signed with another token?)';
  if (expires < now || expires > now + LOGIN_LINK_MS + 5_000) return 'login link has expired; run `ferry dashboard` again';
  for (const [n, exp] of used) if (exp < now) used.delete(n);
  if (used.has(nonce)) return 'login link was already used; run `ferry dashboard` again';
  used.set(nonce, expires);
  return undefined;
}
