// `ferry service install`'s checks in one place: the account (service-guard.ts), then where Node and Ferry
// lie, then who can change the config. Refusals say why and what to do; exit 2 for a request to change
// (the account), 1 for a machine to fix (the files).
import { packageRoot } from './paths.ts';
import { checkProgramLocation, chooseServiceAccount, configFindings, installingUser, locationRefusal, type LocationFinding, type ServiceAccount } from './service-guard.ts';

export type InstallDecision = { ok: true; account: ServiceAccount; /** the account for the service texts; undefined: root / SYSTEM */ user?: string } | { ok: false; code: 1 | 2; reason: string };

export function decideServiceInstall(req: {
  configFile: string;
  account?: string;
  system: boolean;
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  node?: string;
  root?: string;
  /** Injected in tests; by default the real checks of this machine. */
  programFindings?: () => LocationFinding[];
}): InstallDecision {
  const platform = req.platform ?? process.platform;
  const chosen = chooseServiceAccount({ platform, installer: installingUser(platform, req.env ?? process.env), account: req.account, system: req.system });
  if (!chosen.ok) return { ok: false, code: 2, reason: chosen.reason };
  const account = chosen.account;
  const who = account.kind === 'system' ? (platform === 'win32' ? 'SYSTEM' : 'root') : account.name;
  const program = req.programFindings?.() ?? checkProgramLocation({ node: req.node ?? process.execPath, packageRoot: req.root ?? packageRoot() }, platform);
  const refusal = locationRefusal(program, who);
  if (refusal) return { ok: false, code: 1, reason: refusal };
  const config = configFindings(req.configFile, account, platform);
  if (config.length > 0) {
    return {
      ok: false,
      code: 1,
      reason: [
        `refusing to install: the config decides what the service reads and where it sends it, and someone other than an administrator or ${who} can change it:`,
        ...config.slice(0, 5).map((f) => `  ${f.path} ${f.why}`),
        'Keep it in a folder only administrators (and the service account) can write, e.g. /etc/ferry (chmod 755 folders, 640 or 600 files).',
      ].join('\n'),
    };
  }
  return { ok: true, account, user: account.kind === 'user' ? account.name : undefined };
}
