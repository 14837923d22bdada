// `ferry service install` runs Ferry as the installing user or a dedicated account (root / SYSTEM only with
// --system), and refuses to start code from a place someone other than an administrator can change. Installing
// a real service is not possible here, so the decisions are tested as functions: the account choice, the
// POSIX owner/mode rule on real files (root can hand files to `nobody` here; other cases skip saying so), the
// Windows ACL rule on Get-Acl output, and the generated launchd plist, Task Scheduler XML and systemd unit.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  chooseServiceAccount,
  configFindings,
  grantsWrite,
  installingUser,
  parseWindowsAcl,
  posixNonAdminWriter,
  posixProgramFindings,
  windowsNonAdminWriter,
  type PosixTrust,
} from '../../main/engine/service-guard.ts';
import { decideServiceInstall } from '../../main/engine/service-install.ts';
import { installPlan, launchdPlist, systemdUnit, windowsTaskXml, type ServiceOptions } from '../../main/engine/service.ts';
import { repoRoot } from '../helpers/cli.ts';

const me = { name: 'alice', superuser: false };
const root = { name: 'root', superuser: true };

describe('the account a service runs as', () => {
  it('is the installing user by default, --account when given, root/SYSTEM only with --system', () => {
    expect(chooseServiceAccount({ platform: 'darwin', installer: me })).toEqual({ ok: true, account: { kind: 'user', name: 'alice', reason: 'installing user' } });
    expect(chooseServiceAccount({ platform: 'linux', installer: root, account: '_ferry' })).toEqual({ ok: true, account: { kind: 'user', name: '_ferry', reason: '--account' } });
    expect(chooseServiceAccount({ platform: 'win32', installer: { name: 'CORP\\admin', superuser: false }, account: 'NT AUTHORITY\\LocalService' })).toMatchObject({ ok: true, account: { name: 'NT AUTHORITY\\LocalService' } });
    expect(chooseServiceAccount({ platform: 'linux', installer: root, system: true })).toEqual({ ok: true, account: { kind: 'system' } });
  });

  it('refuses root or SYSTEM without --system, and says what to do', () => {
    const asRoot = chooseServiceAccount({ platform: 'linux', installer: root });
    expect(asRoot.ok).toBe(false);
    expect(!asRoot.ok && asRoot.reason).toMatch(/installing as root, and Ferry does not run as root by default: name the account .* --account <name>.* --system/);
    expect(chooseServiceAccount({ platform: 'darwin', installer: me, account: 'root' })).toMatchObject({ ok: false, reason: expect.stringMatching(/that is root; .*--system/) });
    expect(chooseServiceAccount({ platform: 'win32', installer: me, account: 'NT AUTHORITY\\SYSTEM' })).toMatchObject({ ok: false });
    expect(chooseServiceAccount({ platform: 'win32', installer: me, account: 'S-1-5-18' })).toMatchObject({ ok: false });
    expect(chooseServiceAccount({ platform: 'win32', installer: { name: 'WORKGROUP\\HOST$', superuser: true } })).toMatchObject({ ok: false, reason: expect.stringMatching(/installing as SYSTEM/) });
    expect(chooseServiceAccount({ platform: 'linux', installer: me, account: 'x', system: true })).toMatchObject({ ok: false, reason: expect.stringMatching(/exclude each other/) });
  });

  it('takes the user behind sudo as the installing user', () => {
    if (os.userInfo().uid !== 0) return void console.log('skipped: the sudo case needs root (this test runs as uid %d)', os.userInfo().uid);
    expect(installingUser('linux', { SUDO_USER: 'alice' })).toEqual({ name: 'alice', superuser: false });
    expect(installingUser('linux', {})).toEqual({ name: os.userInfo().username, superuser: true });
    expect(installingUser('win32', { USERDOMAIN: 'CORP', USERNAME: 'bob' })).toEqual({ name: 'CORP\\bob', superuser: false });
  });
});

describe('where the program lies (POSIX owners and modes)', () => {
  const trust: PosixTrust = { uids: new Set([0]), gids: new Set([0, 80]) };
  it('accepts root-owned files not writable by others; names each other writer', () => {
    expect(posixNonAdminWriter({ path: '/usr/bin/node', uid: 0, gid: 0, mode: 0o100755 }, trust)).toBeUndefined();
    expect(posixNonAdminWriter({ path: '/usr/local', uid: 0, gid: 80, mode: 0o40775 }, trust)).toBeUndefined(); // macOS admin group
    expect(posixNonAdminWriter({ path: '/x', uid: 501, gid: 20, mode: 0o40755, owner: 'alice' }, trust)).toBe('is owned by alice (uid 501), not by root');
    expect(posixNonAdminWriter({ path: '/x', uid: 0, gid: 0, mode: 0o40777 }, trust)).toBe('is writable by every user');
    expect(posixNonAdminWriter({ path: '/x', uid: 0, gid: 20, mode: 0o100664, group: 'staff' }, trust)).toBe('is writable by the group staff (gid 20)');
  });

  // trees under the checkout: its folders are trusted here (the test runs as their owner), /tmp would not be
  const base = path.join(repoRoot, 'test-artifacts', `service-guard-${process.pid}`);
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
  const own: PosixTrust = { uids: new Set([0, os.userInfo().uid]), gids: new Set([0]) };
  const tree = (name: string) => {
    const dir = path.join(base, name);
    fs.mkdirSync(path.join(dir, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'node_modules', 'dep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'bin', 'ferry.js'), '// ferry');
    fs.writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), '// dep');
    for (const p of [base, dir, path.join(dir, 'bin'), path.join(dir, 'node_modules'), path.join(dir, 'node_modules', 'dep')]) fs.chmodSync(p, 0o755);
    return dir;
  };

  it('walks the package and the folders above it, following links', () => {
    if (process.platform === 'win32') return void console.log('skipped: POSIX modes (Windows ACLs are tested below)');
    const clean = tree('clean');
    const files = (dir: string) => ({ roots: [path.join(dir, 'bin'), path.join(dir, 'node_modules')], files: [process.execPath], trust: own });
    const groupOk = (fs.statSync(repoRoot).mode & 0o022) === 0;
    if (!groupOk) return void console.log('skipped: the checkout itself is group- or world-writable');
    expect(posixProgramFindings(files(clean))).toEqual([]);

    const planted = tree('planted');
    fs.chmodSync(path.join(planted, 'node_modules', 'dep', 'index.js'), 0o666);
    fs.chmodSync(path.join(planted, 'node_modules'), 0o777);
    expect(posixProgramFindings(files(planted))).toEqual([
      { path: path.join(planted, 'node_modules'), why: 'is writable by every user' },
      { path: path.join(planted, 'node_modules', 'dep', 'index.js'), why: 'is writable by every user' },
    ]);

    // a module linked from a writable place counts as that place
    const linked = tree('linked');
    const outside = path.join(base, 'outside');
    fs.mkdirSync(outside, { recursive: true });
    fs.chmodSync(outside, 0o777);
    fs.symlinkSync(outside, path.join(linked, 'node_modules', 'linked'));
    expect(posixProgramFindings(files(linked))).toEqual([{ path: outside, why: 'is writable by every user' }]);
  });

  it('refuses a file an ordinary user owns (root hands one to nobody)', () => {
    if (process.platform === 'win32' || os.userInfo().uid !== 0) return void console.log('skipped: needs root to give a file to another user');
    const dir = tree('owned');
    fs.chownSync(path.join(dir, 'bin', 'ferry.js'), 65534, 65534);
    const found = posixProgramFindings({ roots: [path.join(dir, 'bin')], files: [], trust: { uids: new Set([0]), gids: new Set([0]) }, names: () => ({ owner: 'nobody' }) });
    expect(found).toEqual([{ path: path.join(dir, 'bin', 'ferry.js'), why: 'is owned by nobody (uid 65534), not by root' }]);
  });

  it('refuses a package under /tmp: anyone can create /tmp/node_modules, where Node looks', () => {
    if (process.platform === 'win32' || !((fs.statSync('/tmp').mode & 0o1777) === 0o1777)) return void console.log('skipped: no sticky world-writable /tmp here');
    const dir = fs.mkdtempSync('/tmp/ferry-pkg-');
    try {
      expect(posixProgramFindings({ roots: [dir], files: [], trust: own })).toContainEqual({ path: '/tmp', why: 'is writable by every user' });
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('checks who can change the config: admins and the service account only', () => {
    if (process.platform === 'win32') return void console.log('skipped: POSIX modes');
    const dir = tree('config');
    const file = path.join(dir, 'ferry.yaml');
    fs.writeFileSync(file, 'integrations: []\n');
    fs.chmodSync(file, 0o640);
    const account = { kind: 'user' as const, name: os.userInfo().username, reason: '--account' as const };
    const ok = (fs.statSync(repoRoot).mode & 0o022) === 0;
    if (ok) expect(configFindings(file, account)).toEqual([]);
    fs.chmodSync(file, 0o666);
    expect(configFindings(file, account)).toContainEqual({ path: file, why: 'is writable by every user' });
  });
});

describe('where the program lies (Windows ACLs)', () => {
  const programFiles = [
    'owner|S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464',
    'ace|S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464|FullControl|Allow|None',
    'ace|S-1-5-18|FullControl|Allow|None',
    'ace|S-1-5-32-544|FullControl|Allow|None',
    'ace|S-1-5-32-545|ReadAndExecute, Synchronize|Allow|None',
    'ace|S-1-3-0|268435456|Allow|InheritOnly',
    'ace|S-1-15-2-1|-1610612736|Allow|InheritOnly',
  ].join('\r\n');
  const roamingNpm = ['owner|S-1-5-21-1-2-3-1001', 'ace|S-1-5-21-1-2-3-1001|FullControl|Allow|None', 'ace|S-1-5-18|FullControl|Allow|None'].join('\n');

  it('accepts Program Files; refuses a folder a user owns or may modify', () => {
    expect(windowsNonAdminWriter(parseWindowsAcl(programFiles))).toBeUndefined();
    expect(windowsNonAdminWriter(parseWindowsAcl(roamingNpm))).toBe('is owned by S-1-5-21-1-2-3-1001, not by Administrators or SYSTEM');
    const usersModify = programFiles.replace('ReadAndExecute, Synchronize', 'Modify, Synchronize');
    expect(windowsNonAdminWriter(parseWindowsAcl(usersModify))).toBe('can be changed by S-1-5-32-545 (Modify, Synchronize)');
    expect(windowsNonAdminWriter(parseWindowsAcl(programFiles.replace('S-1-5-32-545|ReadAndExecute, Synchronize|Allow|None', 'S-1-1-0|1073741824|Allow|None')))).toMatch(/S-1-1-0/);
  });

  it('reads rights by name and by number', () => {
    for (const r of ['FullControl', 'Modify, Synchronize', 'Write', 'AppendData', 'CreateFiles', 'ChangePermissions', 'TakeOwnership', 'Delete', '268435456', '1073741824']) expect(grantsWrite(r), r).toBe(true);
    for (const r of ['ReadAndExecute, Synchronize', 'Read', '-1610612736', '1179817']) expect(grantsWrite(r), r).toBe(false);
  });
});

describe('the service definitions', () => {
  const opts: ServiceOptions = { name: 'ferry', node: '/usr/local/bin/node', ferryBin: '/opt/ferry/bin/ferry.js', configFile: '/etc/ferry/ferry.yaml', logDir: '/var/lib/ferry/logs', workingDir: '/etc/ferry', user: '_ferry' };

  it('launchd: UserName is the account; root only without one', () => {
    expect(launchdPlist(opts)).toContain('<key>UserName</key>\n  <string>_ferry</string>');
    expect(launchdPlist({ ...opts, user: undefined })).not.toContain('UserName');
  });

  it('systemd: User= and no more rights than the account has', () => {
    const unit = systemdUnit(opts);
    for (const line of ['User=_ferry', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectSystem=full', 'UMask=0077']) expect(unit).toContain(`\n${line}\n`);
    expect(systemdUnit({ ...opts, user: undefined })).toContain('# runs as root: installed with --system\n');
  });

  it('Task Scheduler: the account with its own rights (LeastPrivilege), SYSTEM only without one', () => {
    const user = windowsTaskXml({ ...opts, user: 'CORP\\svc-ferry' });
    expect(user).toMatch(/<UserId>CORP\\svc-ferry<\/UserId>\s*<LogonType>Password<\/LogonType>\s*<RunLevel>LeastPrivilege<\/RunLevel>/);
    expect(user).not.toContain('S-1-5-18');
    expect(user).not.toContain('HighestAvailable');
    expect(windowsTaskXml({ ...opts, user: 'NT AUTHORITY\\LocalService' })).toMatch(/<UserId>S-1-5-19<\/UserId>\s*<LogonType>ServiceAccount<\/LogonType>\s*<RunLevel>LeastPrivilege<\/RunLevel>/);
    expect(windowsTaskXml({ ...opts, user: undefined })).toMatch(/<UserId>S-1-5-18<\/UserId>\s*<RunLevel>HighestAvailable<\/RunLevel>/);
    // an ordinary account: schtasks asks for its password; a built-in service account needs none
    expect(installPlan('win32', { ...opts, user: 'CORP\\svc-ferry' }, 'C:\\Temp').commands[0]).toEqual(['schtasks.exe', '/Create', '/TN', 'ferry', '/XML', path.join('C:\\Temp', 'ferry-task.xml'), '/RU', 'CORP\\svc-ferry', '/RP', '*', '/F']);
    expect(installPlan('win32', { ...opts, user: 'LocalService' }, 'C:\\Temp').commands[0]).not.toContain('/RU');
  });

  it('the whole decision: account first (exit 2), then the files (exit 1)', () => {
    const cfg = path.join(repoRoot, 'package.json');
    expect(decideServiceInstall({ configFile: cfg, system: false, platform: 'linux', env: {}, programFindings: () => [] })).toMatchObject(os.userInfo().uid === 0 ? { ok: false, code: 2 } : { ok: true });
    const refused = decideServiceInstall({ configFile: cfg, account: 'nobody', system: false, platform: 'linux', programFindings: () => [{ path: '/home/alice/.nvm/versions/node/v20/bin/node', why: 'is owned by alice (uid 1000), not by root' }] });
    expect(refused).toMatchObject({ ok: false, code: 1 });
    expect(!refused.ok && refused.reason).toBe(
      'refusing to install: the service would run code that someone other than an administrator can change, and so run their code as nobody:\n' +
        '  /home/alice/.nvm/versions/node/v20/bin/node is owned by alice (uid 1000), not by root\n' +
        'Install Node.js and Ferry where only administrators can write (e.g. /usr/local or /opt/ferry owned by root; C:\\Program Files on Windows) and run the install from there.',
    );
  });
});
