// Which hosts bypass the proxy. One rule language for network.proxy.noProxy, NO_PROXY and the OS's bypass
// lists: "*" (everything), host names ("corp.local" also covers its subdomains), globs ("*.corp.local",
// "api-*.example.com", Windows' "10.*"), IP addresses, CIDR ranges ("10.0.0.0/8", "fd00::/8", macOS' short
// "169.254/16"), an optional ":port" on any of them, "localhost" (also 127.0.0.0/8 and ::1) and Windows'
// "<local>" (names without a dot). Rules match the URL's host as written: a name is not resolved to test it
// against a range, as browsers do. Loopback (localhost, 127.0.0.0/8, ::1) always goes direct, as in browsers:
// a proxy's 127.0.0.1 is the proxy itself; the rule "<-loopback>" (Chrome's) sends loopback through it too.
import net from 'node:net';

interface Rule {
  text: string;
  port?: number;
  test(host: string, isIp: 4 | 6 | 0): boolean;
}

/** Expands macOS' short ranges ("169.254/16") to a full address. */
function fullIpv4(prefix: string): string {
  const parts = prefix.split('.');
  while (parts.length < 4) parts.push('0');
  return parts.join('.');
}

function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 'i');
}

/** Chrome's rule that takes away the implicit direct route of loopback addresses. */
const LOOPBACK_THROUGH_PROXY = '<-loopback>';

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Splits "host:port", "[v6]:port" and bare IPv6 ("fd00::1", which has no port). */
function splitPort(entry: string): { host: string; port?: number } {
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracket) return { host: bracket[1], port: bracket[2] ? Number(bracket[2]) : undefined };
  const colons = entry.split(':').length - 1;
  if (colons === 1) {
    const [host, port] = entry.split(':');
    if (!/^\d{1,5}$/.test(port)) throw new Error(`expected a port after ":" in ${JSON.stringify(entry)}`);
    return { host, port: Number(port) };
  }
  return { host: entry };
}

/** Parses one rule; throws a one-line reason for a rule that cannot be understood. */
export function parseNoProxyRule(raw: string): Rule {
  const text = raw.trim();
  if (text === '') throw new Error('empty rule');
  if (text === '*') return { text, test: () => true };
  if (text.toLowerCase() === LOOPBACK_THROUGH_PROXY) return { text, test: () => false };
  if (text.toLowerCase() === '<local>') return { text, test: (host, ip) => ip === 0 && !host.includes('.') };
  const slash = text.indexOf('/');
  if (slash >= 0) {
    const [addr, bitsText] = [text.slice(0, slash), text.slice(slash + 1)];
    const bits = Number(bitsText);
    const family = addr.includes(':') ? 'ipv6' : 'ipv4';
    const base = family === 'ipv4' ? fullIpv4(addr) : addr;
    const max = family === 'ipv4' ? 32 : 128;
    if (!net.isIP(base) || !/^\d+$/.test(bitsText) || bits > max) {
      throw new Error(`expected an address range like 10.0.0.0/8, got ${JSON.stringify(text)}`);
    }
    const list = new net.BlockList();
    list.addSubnet(base, bits, family);
    return { text, test: (host, ip) => ip !== 0 && list.check(host, ip === 4 ? 'ipv4' : 'ipv6') };
  }
  const { host, port } = splitPort(text);
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`expected a port between 1 and 65535 in ${JSON.stringify(text)}`);
  if (net.isIP(host)) {
    const want = host.toLowerCase();
    return { text, port, test: (h) => h.toLowerCase() === want };
  }
  if (!/^[A-Za-z0-9*._-]+$/.test(host)) throw new Error(`expected a host name, *.domain, an address, a range like 10.0.0.0/8 or host:port, got ${JSON.stringify(text)}`);
  const name = host.toLowerCase();
  if (name === 'localhost') return { text, port, test: (h, ip) => (ip === 0 ? h === 'localhost' || h.endsWith('.localhost') : LOOPBACK.check(h, ip === 4 ? 'ipv4' : 'ipv6')) };
  // ".corp.local" and "*.corp.local" cover corp.local and everything under it, as "corp.local" does
  const domain = name.replace(/^\*?\./, '');
  if (!domain.includes('*')) return { text, port, test: (h) => h === domain || h.endsWith(`.${domain}`) };
  const re = globToRegExp(name);
  return { text, port, test: (h) => re.test(h) };
}

/** Splits a NO_PROXY / ProxyOverride value ("a, b;c d") into rules. */
export function splitRuleList(value: string | undefined): string[] {
  return (value ?? '').split(/[,;\s]+/).filter(Boolean);
}

export class NoProxy {
  private readonly rules: Rule[];
  /** Rules that could not be understood (from the environment or the OS; config rules are validated earlier). */
  readonly ignored: Array<{ rule: string; reason: string }> = [];

  constructor(rules: string[]) {
    this.rules = [];
    for (const r of rules) {
      try {
        this.rules.push(parseNoProxyRule(r));
      } catch (err) {
        this.ignored.push({ rule: r, reason: (err as Error).message });
      }
    }
  }

  /** True when the rules include "<-loopback>": loopback addresses go through the proxy too. */
  get loopbackThroughProxy(): boolean {
    return this.rules.some((r) => r.text.toLowerCase() === LOOPBACK_THROUGH_PROXY);
  }

  /** The rules as written (the understood ones). */
  get texts(): string[] {
    return this.rules.map((r) => r.text);
  }

  /** The rule that sends this host (and port) direct, or undefined. */
  match(hostname: string, port: number): string | undefined {
    const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
    const ip = net.isIP(host) as 4 | 6 | 0;
    for (const r of this.rules) if ((r.port === undefined || r.port === port) && r.test(host, ip)) return r.text;
    return undefined;
  }
}

/** Whether a URL host is this machine's loopback (localhost, *.localhost, 127.0.0.0/8, ::1). */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const ip = net.isIP(host);
  return ip === 0 ? host === 'localhost' || host.endsWith('.localhost') : LOOPBACK.check(host, ip === 4 ? 'ipv4' : 'ipv6');
}
