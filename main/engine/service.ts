// Headless service install for servers: a launchd daemon (macOS), a boot-time scheduled task with
// restart-on-failure (Windows; a plain Node process cannot answer the Service Control Manager without a
// wrapper such as node-windows or WinSW, so Ferry uses Task Scheduler, which needs none), and a systemd unit
// printed for Linux. Each runs as the account service-guard.ts chose (the installing user, --account, or
// root / SYSTEM with --system) with no more rights than that. The texts are pure functions of the options,
// tested as such.
import path from 'node:path';

export interface ServiceOptions {
  /** Service name / label (default "ferry" → launchd label "com.ferry.agent"). */
  name: string;
  /** Absolute path of the node executable. */
  node: string;
  /** Absolute path of bin/ferry.js. */
  ferryBin: string;
  /** Absolute path of the config file. */
  configFile: string;
  /** Folder for stdout/stderr logs (launchd) – usually <dataDir>/logs. */
  logDir: string;
  /** Working directory (the config file's folder). */
  workingDir: string;
  /** Account to run as (systemd User=, launchd UserName, the task's principal); absent: root / SYSTEM (--system). */
  user?: string;
  /** Extra environment, e.g. FERRY_MASTER_KEY is NOT put here (it would sit in plain text); see docs/secrets.md. */
  env?: Record<string, string>;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

export function launchdLabel(name: string): string {
  return name.includes('.') ? name : `com.${name}.agent`;
}

/** /Library/LaunchDaemons/<label>.plist: starts at boot, restarts when it exits, logs into logDir. */
export function launchdPlist(o: ServiceOptions): string {
  const label = launchdLabel(o.name);
  const args = [o.node, o.ferryBin, 'run', '--config', o.configFile];
  const env = Object.entries(o.env ?? {});
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(label)}</string>
  <key>ProgramArguments</key>
  <array>
${args.map((a) => `    <string>${xml(a)}</string>`).join('\n')}
  </array>
  <key>WorkingDirectory</key>
  <string>${xml(o.workingDir)}</string>
${o.user ? `  <key>UserName</key>\n  <string>${xml(o.user)}</string>\n` : ''}  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>10</integer>
  <key>ExitTimeOut</key>
  <integer>30</integer>
  <key>ProcessType</key>
  <string>Background</string>
  <key>StandardOutPath</key>
  <string>${xml(path.join(o.logDir, 'service.out.log'))}</string>
  <key>StandardErrorPath</key>
  <string>${xml(path.join(o.logDir, 'service.err.log'))}</string>
${env.length ? `  <key>EnvironmentVariables</key>\n  <dict>\n${env.map(([k, v]) => `    <key>${xml(k)}</key>\n    <string>${xml(v)}</string>`).join('\n')}\n  </dict>\n` : ''}</dict>
</plist>
`;
}

const sysq = (s: string) => (/[\s"'\\$]/.test(s) ? `"${s.replace(/(["\\$`])/g, '\\$1')}"` : s);

/** /etc/systemd/system/<name>.service */
export function systemdUnit(o: ServiceOptions): string {
  const env = Object.entries(o.env ?? {}).map(([k, v]) => `Environment=${sysq(`${k}=${v}`)}\n`).join('');
  return `[Unit]
Description=Ferry integration agent (${o.name})
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${[o.node, o.ferryBin, 'run', '--config', o.configFile].map(sysq).join(' ')}
WorkingDirectory=${sysq(o.workingDir)}
${o.user ? `User=${o.user}\n` : '# runs as root: installed with --system\n'}${env}Restart=on-failure
RestartSec=10
# SIGTERM lets deliveries in flight finish; give it time before SIGKILL
KillSignal=SIGTERM
TimeoutStopSec=30
# no more rights than the account has: no setuid gains, its own /tmp, the OS read-only, private files
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
UMask=0077

[Install]
WantedBy=multi-user.target
`;
}

/** Built-in Windows service accounts that need no password (Task Scheduler's ServiceAccount logon). */
const WINDOWS_SERVICE_ACCOUNTS: Record<string, string> = {
  localservice: 'S-1-5-19',
  'nt authority\\localservice': 'S-1-5-19',
  networkservice: 'S-1-5-20',
  'nt authority\\networkservice': 'S-1-5-20',
};

/** The SID of a built-in service account (LocalService, NetworkService), or undefined for other accounts. */
export function windowsServiceAccountSid(user: string): string | undefined {
  return WINDOWS_SERVICE_ACCOUNTS[user.trim().toLowerCase()];
}

/** The task's principal: the account with its own rights only (LeastPrivilege), or SYSTEM with --system. */
function taskPrincipal(o: ServiceOptions): string {
  if (!o.user) return '<UserId>S-1-5-18</UserId>\n      <RunLevel>HighestAvailable</RunLevel>';
  const sid = windowsServiceAccountSid(o.user);
  if (sid) return `<UserId>${sid}</UserId>\n      <LogonType>ServiceAccount</LogonType>\n      <RunLevel>LeastPrivilege</RunLevel>`;
  return `<UserId>${xml(o.user)}</UserId>\n      <LogonType>Password</LogonType>\n      <RunLevel>LeastPrivilege</RunLevel>`;
}

/** Task Scheduler XML (UTF-16 on disk): at boot, as `user` (SYSTEM only with --system), restarted every minute on failure. */
export function windowsTaskXml(o: ServiceOptions): string {
  const args = [o.ferryBin, 'run', '--config', o.configFile].map((a) => (/[\s"]/.test(a) ? `"${a.replace(/"/g, '\\"')}"` : a)).join(' ');
  return `<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.4" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>Ferry integration agent (${xml(o.name)}): ferry run --config ${xml(o.configFile)}</Description>
    <URI>\\${xml(o.name)}</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
    </BootTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      ${taskPrincipal(o)}
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>999</Count>
    </RestartOnFailure>
    <StartWhenAvailable>true</StartWhenAvailable>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>${xml(o.node)}</Command>
      <Arguments>${xml(args)}</Arguments>
      <WorkingDirectory>${xml(o.workingDir)}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
`;
}

export interface InstallPlan {
  platform: 'darwin' | 'win32' | 'linux';
  /** Files to write (path → content). */
  files: Array<{ path: string; content: string; encoding?: 'utf8' | 'utf16le' }>;
  /** Files to delete (uninstall). */
  remove?: string[];
  /** Commands to run, in order (program + args). */
  commands: string[][];
  /** What to tell the admin (Linux: the steps to do by hand). */
  notes: string[];
}

/** What `ferry service install` does on a platform (no side effects). */
export function installPlan(platform: NodeJS.Platform, o: ServiceOptions, tmpDir: string): InstallPlan {
  if (platform === 'darwin') {
    const label = launchdLabel(o.name);
    const file = `/Library/LaunchDaemons/${label}.plist`;
    return {
      platform,
      files: [{ path: file, content: launchdPlist(o) }],
      commands: [['launchctl', 'bootstrap', 'system', file]],
      notes: [`Installed launchd daemon ${label} (${file}), running as ${o.user ?? 'root'}; it starts at boot and restarts when it fails. Logs: ${o.logDir}. Run with sudo.`],
    };
  }
  if (platform === 'win32') {
    const xmlFile = path.join(tmpDir, `${o.name}-task.xml`);
    // an ordinary account's task keeps its password with Task Scheduler: schtasks asks for it (/RP *)
    const runAs = o.user && !windowsServiceAccountSid(o.user) ? ['/RU', o.user, '/RP', '*'] : [];
    return {
      platform,
      files: [{ path: xmlFile, content: `\ufeff${windowsTaskXml(o)}`, encoding: 'utf16le' }],
      commands: [
        ['schtasks.exe', '/Create', '/TN', o.name, '/XML', xmlFile, ...runAs, '/F'],
        ['schtasks.exe', '/Run', '/TN', o.name],
      ],
      notes: [`Registered the boot-time task "${o.name}" (runs as ${o.user ?? 'SYSTEM'}${o.user ? ' with its own rights only' : ''}, restarted every minute on failure). Run from an elevated prompt. Manage it in Task Scheduler or with schtasks.exe.`],
    };
  }
  const unitName = `${o.name}.service`;
  return {
    platform: 'linux',
    files: [],
    commands: [],
    notes: [
      `Ferry does not install system services on Linux by itself. To run it under systemd:`,
      `  1. save the unit below as /etc/systemd/system/${unitName}`,
      `  2. sudo systemctl daemon-reload && sudo systemctl enable --now ${unitName}`,
      `  3. follow it with: journalctl -u ${unitName} -f`,
      '',
      systemdUnit(o),
    ],
  };
}

export function uninstallPlan(platform: NodeJS.Platform, name: string): InstallPlan {
  if (platform === 'darwin') {
    const label = launchdLabel(name);
    const file = `/Library/LaunchDaemons/${label}.plist`;
    return { platform, files: [], commands: [['launchctl', 'bootout', `system/${label}`]], remove: [file], notes: [`Removed launchd daemon ${label} and ${file}.`] };
  }
  if (platform === 'win32') {
    return { platform, files: [], commands: [['schtasks.exe', '/End', '/TN', name], ['schtasks.exe', '/Delete', '/TN', name, '/F']], notes: [`Removed the task "${name}".`] };
  }
  return {
    platform: 'linux',
    files: [],
    commands: [],
    notes: [`On Linux: sudo systemctl disable --now ${name}.service && sudo rm /etc/systemd/system/${name}.service && sudo systemctl daemon-reload`],
  };
}
