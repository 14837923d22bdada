// What the `ferry` command prints: lines on stdout and stderr, scrubbed of the config's credentials, tables,
// times; and the one error a usage mistake throws (exit code 2).
export class UsageError extends Error {}

/** Set once stdout's reader went away (`ferry status | head -3`): the rest of the output is dropped, not an error. */
let stdoutGone = false;
/**
 * What is printed passes through the loaded config's scrubber: a value of ${env:…} / ${secret:…} shows as
 * [env:NAME] / [secret:NAME], also in texts an older version stored unscrubbed.
 */
let scrubOutput = (text: string) => text;

export function setOutputScrubber(scrub: (text: string) => string): void {
  scrubOutput = scrub;
}

export const out = (line = '') => {
  if (!stdoutGone) process.stdout.write(`${scrubOutput(line)}\n`);
};

export const err = (line: string) => process.stderr.write(`${scrubOutput(line)}\n`);

export function dropOutputWhenReaderCloses(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutGone = true;
  });
}

export function formatTime(iso: string | null): string {
  if (!iso) return '-';
  const ms = Date.now() - Date.parse(iso);
  const ago = ms < 60_000 ? `${Math.round(ms / 1000)} s ago` : ms < 3600_000 ? `${Math.round(ms / 60_000)} min ago` : ms < 86_400_000 ? `${Math.round(ms / 3600_000)} h ago` : iso.slice(0, 16).replace('T', ' ');
  return ms < 0 ? iso.slice(0, 19).replace('T', ' ') : ago;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}
