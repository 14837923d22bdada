// What `ferry service install` may do, decided before anything is written:
// - which account the service runs as: the installing user, or a dedicated low-privilege account given with
//   --account; root / SYSTEM only when --system says so (a service is a long-lived process that parses files
//   and network replies: it should hold no more rights than it needs);
// - whether the code it starts lies where only administrators can write. A boot-time service runs whatever
//   sits at that path; if an ordinary user can change Node, bin/ferry.js or a module it loads (or a folder
//   above them, where Node looks for node_modules), that user can run code as the service's account.
// The decisions are pure functions (tested as such); the file-system and ACL readers feed them facts.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// ------------------------------------------------------------------ the account

export type ServiceAccount = { kind: 'user'; name: string; reason: 'installing user' | '--account' } | { kind: 'system' };

export interface AccountRequest {
  platform: NodeJS.Platform;
  /** Who runs the install (the person behind sudo, when sudo was used) and whether that is root / SYSTEM itself. */
  installer: { name: string; superuser: boolean };
  /** --account (or the older --user). */
  account?: string;
  /** --system: run as root / SYSTEM. */
  system?: boolean;
}

const SUPERUSERS_POSIX = new Set(['root', '0']);
const SUPERUSERS_WINDOWS = new Set(['system', 'nt authority\\system', 'localsystem', '.\\localsystem', 's-1-5-18', 'nt-autorität\\system']);

/** True for the names of root / SYSTEM. */
export function isSuperuserAccount(platform: NodeJS.Platform, name: string): boolean {
  const n = name.trim().toLowerCase();
  return platform === 'win32' ? SUPERUSERS_WINDOWS.has(n) : SUPERUSERS_POSIX.has(n);
}

/** The account a service runs as, or why the request is refused. */
export function chooseServiceAccount(r: AccountRequest): { ok: true; account: ServiceAccount } | { ok: false; reason: string } {
  const superuser = r.platform === 'win32' ? 'SYSTEM' : 'root';
  if (r.system && r.account) return { ok: false, reason: '--system and --account exclude each other: --system runs Ferry as ' + superuser + ', --account as the account you name' };
  if (r.system) return { ok: true, account: { kind: 'system' } };
  if (r.account !== undefined) {
    if (!r.account.trim()) return { ok: false, reason: '--account: expected an account name' };
    if (isSuperuserAccount(r.platform, r.account)) return { ok: false, reason: `--account ${r.account}: that is ${superuser}; Ferry runs as ${superuser} only when you say so with --system` };
    return { ok: true, account: { kind: 'user', name: r.account.trim(), reason: '--account' } };
  }
  if (r.installer.superuser) {
    return {
      ok: false,
      reason: `you are installing as ${superuser}, and Ferry does not run as ${superuser} by default: name the account it should run as with --account <name> (a dedicated low-privilege account is best), run the install as that user${r.platform === 'win32' ? '' : ' (with sudo, Ferry takes the user behind it)'}, or pass --system to run it as ${superuser} on purpose`,
    };
  }
  return { ok: true, account: { kind: 'user', name: r.installer.name, reason: 'installing user' } };
}

/** The person installing: on POSIX the user behind sudo when there is one; on Windows DOMAIN\user. */
export function installingUser(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): { name: string; superuser: boolean } {
  if (platform === 'win32') {
    const user = env.USERNAME ?? os.userInfo().username;
    const name = env.USERDOMAIN ? `${env.USERDOMAIN}\\${user}` : user;
    // a process running as SYSTEM reports the machine account (NAME$) or SYSTEM
    return { name, superuser: user.endsWith('$') || isSuperuserAccount('win32', user) };
  }
  const me = os.userInfo();
  if (me.uid === 0 && env.SUDO_USER && env.SUDO_USER !== 'root') return { name: env.SUDO_USER, superuser: false };
  return { name: me.username, superuser: me.uid === 0 };
}

// ------------------------------------------------------------------ where the program lies (POSIX)

export interface PosixEntry {
  path: string;
  uid: number;
  gid: number;
  mode: number;
  /** Owner / group names for messages, when known. */
  owner?: string;
  group?: string;
}

export interface PosixTrust {
  /** Accounts allowed to own (and so write) program files: root. */
  uids: ReadonlySet<number>;
  /** Groups allowed to have write access: root/wheel, and admin / sudo groups. */
  gids: ReadonlySet<number>;
}

/** Why someone other than an administrator can write this file or folder, or undefined. */
export function posixNonAdminWriter(e: PosixEntry, trust: PosixTrust): string | undefined {
  if (!trust.uids.has(e.uid)) return `is owned by ${e.owner ?? 'uid'} ${e.owner ? `(uid ${e.uid})` : e.uid}, not by root`;
  if (e.mode & 0o002) return 'is writable by every user';
  if (e.mode & 0o020 && !trust.gids.has(e.gid)) return `is writable by the group ${e.group ?? ''}${e.group ? ` (gid ${e.gid})` : `gid ${e.gid}`}`;
  return undefined;
}

/** The administrators' groups of this machine: gid 0, macOS's admin (80), Linux's wheel / sudo / admin. */
export function posixTrust(platform: NodeJS.Platform = process.platform, groupFile = '/etc/group'): PosixTrust {
  const gids = new Set([0]);
  if (platform === 'darwin') gids.add(80);
  else {
    try {
      for (const line of fs.readFileSync(groupFile, 'utf8').split('\n')) {
        const [name, , gid] = line.split(':');
        if (['wheel', 'sudo', 'admin'].includes(name) && /^\d+$/.test(gid ?? '')) gids.add(Number(gid));
      }
    } catch {
      // no group file: root's group only
    }
  }
  return { uids: new Set([0]), gids };
}

/** Every folder from `p` up to the root, `p` included. */
export function withAncestors(p: string): string[] {
  const out: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    out.push(cur);
    const up = path.dirname(cur);
    if (up === cur) return out;
    cur = up;
  }
}

export interface LocationFinding {
  path: string;
  why: string;
}

/**
 * Files and folders (POSIX) that someone other than an administrator can write, among `roots` (walked
 * recursively, symlinks followed to their targets), `files`, and every folder above them.
 */
export function posixProgramFindings(opts: { roots: string[]; files: string[]; trust: PosixTrust; names?: (uid: number, gid: number) => { owner?: string; group?: string }; limit?: number }): LocationFinding[] {
  const found: LocationFinding[] = [];
  const seen = new Set<string>();
  const limit = opts.limit ?? 10;
  const look = (p: string): fs.Stats | undefined => {
    if (seen.has(p) || found.length >= limit) return undefined;
    seen.add(p);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) {
      // a link's own mode means nothing; what it points at (and the folders above that) must be safe
      try {
        const target = fs.realpathSync(p);
        for (const a of withAncestors(target)) look(a);
      } catch {
        // a dangling link loads nothing
      }
      return undefined;
    }
    const why = posixNonAdminWriter({ path: p, uid: st.uid, gid: st.gid, mode: st.mode, ...opts.names?.(st.uid, st.gid) }, opts.trust);
    if (why) found.push({ path: p, why });
    return st;
  };
  const walk = (dir: string) => {
    const st = look(dir);
    if (!st?.isDirectory()) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (found.length >= limit) return;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else look(p);
    }
  };
  for (const f of opts.files) for (const a of withAncestors(f)) look(a);
  for (const r of opts.roots) {
    for (const a of withAncestors(path.dirname(r))) look(a);
    walk(r);
  }
  return found;
}

/** Owner and group names from /etc/passwd and /etc/group (for messages). */
export function posixNames(): (uid: number, gid: number) => { owner?: string; group?: string } {
  const read = (file: string) => {
    const map = new Map<number, string>();
    try {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && /^\d+$/.test(id ?? '')) map.set(Number(id), name);
      }
    } catch {
      // names are only for messages
    }
    return map;
  };
  const users = read('/etc/passwd');
  const groups = read('/etc/group');
  return (uid, gid) => ({ owner: users.get(uid), group: groups.get(gid) });
}

// ------------------------------------------------------------------ where the program lies (Windows)

/** One access rule of a Windows ACL (Get-Acl), by SID. */
export interface WindowsAce {
  sid: string;
  /** FileSystemRights as PowerShell prints them ("ReadAndExecute, Synchronize", "FullControl", or a number). */
  rights: string;
  allow: boolean;
  /** InheritOnly rules do not apply to the object itself. */
  inheritOnly: boolean;
}

/** Administrators, SYSTEM, TrustedInstaller: the principals allowed to write program files. */
export const WINDOWS_ADMIN_SIDS = new Set(['S-1-5-32-544', 'S-1-5-18', 'S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464']);

const WRITE_RIGHTS = /FullControl|Modify|Write|AppendData|CreateFiles|CreateDirectories|ChangePermissions|TakeOwnership|Delete/;
// GENERIC_ALL, GENERIC_WRITE, WRITE_DAC, WRITE_OWNER, DELETE, FILE_WRITE_DATA, FILE_APPEND_DATA
const WRITE_BITS = 0x10000000 | 0x40000000 | 0x00040000 | 0x00080000 | 0x00010000 | 0x2 | 0x4;

/** Whether a FileSystemRights value lets its holder change the file or folder. */
export function grantsWrite(rights: string): boolean {
  const n = rights.trim();
  if (/^-?\d+$/.test(n)) return (Number(n) & WRITE_BITS) !== 0;
  return WRITE_RIGHTS.test(n);
}

/**
 * Parses the lines the PowerShell script below prints: `owner|<sid>`, then `ace|<sid>|<rights>|<Allow|Deny>|<propagation>`.
 */
export function parseWindowsAcl(text: string): { owner?: string; aces: WindowsAce[] } {
  let owner: string | undefined;
  const aces: WindowsAce[] = [];
  for (const line of text.split(/\r?\n/)) {
    const parts = line.split('|');
    if (parts[0] === 'owner') owner = parts[1];
    else if (parts[0] === 'ace' && parts.length >= 5) aces.push({ sid: parts[1], rights: parts[2], allow: parts[3] === 'Allow', inheritOnly: /InheritOnly/.test(parts[4]) });
  }
  return { owner, aces };
}

/** Why someone other than an administrator can write this Windows file or folder, or undefined. */
export function windowsNonAdminWriter(acl: { owner?: string; aces: WindowsAce[] }, names: (sid: string) => string = (s) => s): string | undefined {
  if (acl.owner && !WINDOWS_ADMIN_SIDS.has(acl.owner)) return `is owned by ${names(acl.owner)}, not by Administrators or SYSTEM`;
  const writer = acl.aces.find((a) => a.allow && !a.inheritOnly && !WINDOWS_ADMIN_SIDS.has(a.sid) && grantsWrite(a.rights));
  return writer ? `can be changed by ${names(writer.sid)} (${writer.rights})` : undefined;
}

const ACL_SCRIPT = (p: string) =>
  `$a = Get-Acl -LiteralPath '${p.replace(/'/g, "''")}'; ` +
  `'owner|' + ([System.Security.Principal.NTAccount]$a.Owner).Translate([System.Security.Principal.SecurityIdentifier]).Value; ` +
  `foreach ($r in $a.Access) { try { $sid = $r.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value } catch { $sid = $r.IdentityReference.Value }; ` +
  `'ace|' + $sid + '|' + $r.FileSystemRights + '|' + $r.AccessControlType + '|' + $r.PropagationFlags }`;

/**
 * Windows: the ACLs of Node, the package folder, its top folders (their files inherit from them) and every
 * folder above, read with PowerShell's Get-Acl.
 */
export function windowsProgramFindings(paths: string[]): LocationFinding[] {
  const found: LocationFinding[] = [];
  const seen = new Set<string>();
  for (const p of paths.flatMap((x) => withAncestors(x))) {
    if (seen.has(p.toLowerCase()) || !fs.existsSync(p)) continue;
    seen.add(p.toLowerCase());
    let text: string;
    try {
      text = execFileSync('powershell.exe', ['-NoProfile', '-NonInteractive', '-Command', ACL_SCRIPT(p)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      found.push({ path: p, why: `cannot be checked (${(err as Error).message.split('\n')[0]})` });
      continue;
    }
    const why = windowsNonAdminWriter(parseWindowsAcl(text));
    if (why) found.push({ path: p, why });
  }
  return found;
}

// ------------------------------------------------------------------ the decision

export interface ProgramLocation {
  /** The Node executable the service starts. */
  node: string;
  /** The Ferry package folder (bin/ferry.js and what it loads). */
  packageRoot: string;
}

/** The parts of the package a service loads (the rest, like tests or docs, is never run by it). */
export function loadedParts(root: string): string[] {
  return ['package.json', 'bin', 'dist', 'main', 'connectors', 'node_modules'].map((p) => path.join(root, p)).filter((p) => fs.existsSync(p));
}

/** Refusal text for findings, or undefined when there are none. */
export function locationRefusal(findings: LocationFinding[], account: string): string | undefined {
  if (findings.length === 0) return undefined;
  const shown = findings.slice(0, 5).map((f) => `  ${f.path} ${f.why}`);
  return [
    `refusing to install: the service would run code that someone other than an administrator can change, and so run their code as ${account}:`,
    ...shown,
    ...(findings.length > shown.length ? [`  … and ${findings.length - shown.length} more`] : []),
    'Install Node.js and Ferry where only administrators can write (e.g. /usr/local or /opt/ferry owned by root; C:\\Program Files on Windows) and run the install from there.',
  ].join('\n');
}

/** Checks the program location on this machine: POSIX modes and owners, or Windows ACLs. */
export function checkProgramLocation(loc: ProgramLocation, platform: NodeJS.Platform = process.platform): LocationFinding[] {
  if (platform === 'win32') return windowsProgramFindings([loc.node, loc.packageRoot, ...loadedParts(loc.packageRoot)]);
  return posixProgramFindings({ roots: loadedParts(loc.packageRoot), files: [loc.node], trust: posixTrust(platform), names: posixNames() });
}

/**
 * The config file decides what the service reads and where it sends it: it must not be writable by anyone but
 * administrators and the service's own account (POSIX; on Windows its ACL is left to the admin).
 */
export function configFindings(configFile: string, account: ServiceAccount, platform: NodeJS.Platform = process.platform): LocationFinding[] {
  if (platform === 'win32') return [];
  const trust = posixTrust(platform);
  const uids = new Set(trust.uids);
  if (account.kind === 'user') {
    const uid = posixUid(account.name);
    if (uid !== undefined) uids.add(uid);
  }
  const names = posixNames();
  const found: LocationFinding[] = [];
  for (const p of withAncestors(configFile)) {
    let st: fs.Stats;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    // the folders above may be the service user's own (their home): ownership by that user is fine there
    const why = posixNonAdminWriter({ path: p, uid: st.uid, gid: st.gid, mode: st.mode & ~(st.isDirectory() && st.mode & 0o1000 ? 0o002 : 0), ...names(st.uid, st.gid) }, { uids, gids: trust.gids });
    if (why) found.push({ path: p, why });
  }
  return found;
}

/** A POSIX account's uid, from /etc/passwd or `id -u`; undefined when it does not exist. */
export function posixUid(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [n, , uid] = line.split(':');
      if (n === name && /^\d+$/.test(uid ?? '')) return Number(uid);
    }
  } catch {
    // macOS keeps most accounts in Directory Services: ask id
  }
  try {
    return Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return undefined;
  }
}
