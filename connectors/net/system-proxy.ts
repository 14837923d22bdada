// The OS's proxy settings for `proxy: system` when Ferry runs headless: Windows' Internet Settings
// (registry, per user), macOS' network configuration (`scutil --proxy`). Linux has no system-wide setting
// beyond the environment, so there `system` means the HTTPS_PROXY/HTTP_PROXY/NO_PROXY variables. A PAC file
// (or WPAD auto-detection) needs a JavaScript engine with the browser's PAC functions: the desktop app asks
// Electron, which evaluates it per URL; headless Ferry says so and uses the static proxy, if any.
import { execFile } from 'node:child_process';
import { splitRuleList } from './no-proxy.ts';

export interface SystemProxy {
  /** "host:port" per scheme (Windows may give one for all, or one per scheme). */
  http?: string;
  https?: string;
  bypass: string[];
  /** A PAC file the OS uses, which only the desktop app evaluates. */
  pac?: string;
  autoDetect?: boolean;
  source: string;
  problem?: string;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 15_000, windowsHide: true }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

/** Parses `reg query "HKCU\…\Internet Settings"` output. */
export function parseWindowsInternetSettings(text: string): SystemProxy {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s+(\S+)\s+REG_\w+\s+(.*)$/.exec(line);
    if (m) values[m[1]] = m[2].trim();
  }
  const out: SystemProxy = { bypass: [], source: 'Windows Internet Settings' };
  if (values.AutoConfigURL) out.pac = values.AutoConfigURL;
  if (Number(values.ProxyEnable) === 1 && values.ProxyServer) {
    const server = values.ProxyServer;
    if (server.includes('=')) {
      // "http=proxy:3128;https=proxy:3129;ftp=…"
      for (const part of server.split(';')) {
        const [scheme, addr] = part.split('=').map((s) => s.trim());
        if (scheme?.toLowerCase() === 'http') out.http = addr;
        if (scheme?.toLowerCase() === 'https') out.https = addr;
      }
    } else out.http = out.https = server;
    out.bypass = splitRuleList(values.ProxyOverride);
  }
  return out;
}

/** Parses `scutil --proxy` output. */
export function parseScutilProxy(text: string): SystemProxy {
  const values: Record<string, string> = {};
  const exceptions: string[] = [];
  let inExceptions = false;
  for (const line of text.split(/\r?\n/)) {
    if (/ExceptionsList\s*:\s*<array>/.test(line)) {
      inExceptions = true;
      continue;
    }
    if (inExceptions) {
      if (/^\s*\}/.test(line)) inExceptions = false;
      else {
        const m = /^\s*\d+\s*:\s*(.+)$/.exec(line);
        if (m) exceptions.push(m[1].trim());
      }
      continue;
    }
    const m = /^\s*(\w+)\s*:\s*(.+)$/.exec(line);
    if (m) values[m[1]] = m[2].trim();
  }
  const out: SystemProxy = { bypass: exceptions, source: 'macOS network settings' };
  if (values.HTTPEnable === '1' && values.HTTPProxy) out.http = `${values.HTTPProxy}:${values.HTTPPort ?? 80}`;
  if (values.HTTPSEnable === '1' && values.HTTPSProxy) out.https = `${values.HTTPSProxy}:${values.HTTPSPort ?? 443}`;
  if (values.ProxyAutoConfigEnable === '1' && values.ProxyAutoConfigURLString) out.pac = values.ProxyAutoConfigURLString;
  if (values.ProxyAutoDiscoveryEnable === '1') out.autoDetect = true;
  if (values.ExcludeSimpleHostnames === '1') out.bypass.push('<local>');
  return out;
}

/** Reads the OS settings; undefined on Linux (and other systems), where `system` means the environment. */
export async function readSystemProxy(): Promise<SystemProxy | undefined> {
  try {
    if (process.platform === 'win32') {
      return parseWindowsInternetSettings(await run('reg', ['query', 'HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings']));
    }
    if (process.platform === 'darwin') return parseScutilProxy(await run('/usr/sbin/scutil', ['--proxy']));
  } catch (err) {
    return { bypass: [], source: process.platform === 'win32' ? 'Windows Internet Settings' : 'macOS network settings', problem: `cannot read the system proxy settings: ${(err as Error).message.split('\n')[0]}` };
  }
  return undefined;
}

/**
 * Parses a PAC-style answer ("PROXY p:3128; DIRECT", "HTTPS p:443", "DIRECT") as Electron's
 * session.resolveProxy gives it: the first entry Ferry can use, or DIRECT. SOCKS entries are skipped.
 */
export function parsePacAnswer(answer: string): { kind: 'direct' } | { kind: 'proxy'; url: string } | { kind: 'unsupported'; entry: string } {
  let unsupported: string | undefined;
  for (const raw of answer.split(';')) {
    const entry = raw.trim();
    if (!entry) continue;
    const [type, addr] = entry.split(/\s+/);
    const t = type.toUpperCase();
    if (t === 'DIRECT') return { kind: 'direct' };
    if ((t === 'PROXY' || t === 'HTTP') && addr) return { kind: 'proxy', url: `http://${addr}` };
    if (t === 'HTTPS' && addr) return { kind: 'proxy', url: `https://${addr}` };
    unsupported ??= entry;
  }
  return unsupported ? { kind: 'unsupported', entry: unsupported } : { kind: 'direct' };
}
