// Formatting for people: relative times, sizes, and errors in plain words.

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const ms = now - Date.parse(iso);
  if (ms < 0) return inFuture(iso, now);
  if (ms < 45_000) return 'just now';
  if (ms < 3_600_000) return `${Math.max(1, Math.round(ms / 60_000))} min ago`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return new Date(iso).toLocaleString();
}

export function inFuture(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const ms = Date.parse(iso) - now;
  if (ms <= 0) return 'now';
  if (ms < 60_000) return `in ${Math.ceil(ms / 1000)} s`;
  if (ms < 3_600_000) return `in ${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `in ${Math.round(ms / 3_600_000)} h`;
  return new Date(iso).toLocaleString();
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

const PLAIN: Array<[RegExp, (m: RegExpMatchArray) => string]> = [
  [/ECONNREFUSED\s*([\d.:\[\]a-z]*)/i, (m) => `The destination refused the connection${m[1] ? ` (${m[1]})` : ''}: is the service running?`],
  [/ENOTFOUND\s*(\S*)/i, (m) => `The server name ${m[1] || ''} could not be found (DNS): check the address.`],
  [/ETIMEDOUT|timed? ?out/i, () => 'The destination did not answer in time.'],
  [/ECONNRESET|socket hang up/i, () => 'The connection was dropped before the answer arrived.'],
  [/EACCES|EPERM|permission denied/i, () => 'Ferry is not allowed to read or write there (permissions).'],
  [/ENOSPC|disk nearly full/i, () => 'The disk is (nearly) full.'],
  [/ENOENT/i, () => 'A file or folder does not exist (any more).'],
  [/\bHTTP (401|403)\b/, (m) => `The destination rejected Ferry's credentials (HTTP ${m[1]}).`],
  [/\bHTTP 404\b/, () => 'The destination address was not found (HTTP 404): check the URL.'],
  [/\bHTTP 429\b/, () => 'The destination asked Ferry to slow down (HTTP 429); it retries later.'],
  [/\bHTTP (5\d\d)\b/, (m) => `The destination had an internal problem (HTTP ${m[1]}).`],
  [/\bHTTP (4\d\d)\b/, (m) => `The destination refused the data (HTTP ${m[1]}).`],
];

/** A one-line explanation of a technical error, followed by the original text for support. */
export function plainError(raw: string | null | undefined): { plain: string; raw: string } | null {
  if (!raw) return null;
  for (const [re, say] of PLAIN) {
    const m = raw.match(re);
    if (m) return { plain: say(m), raw };
  }
  return { plain: raw, raw };
}
