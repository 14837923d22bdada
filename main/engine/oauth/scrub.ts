// Every OAuth token value this process has seen (issued, refreshed or read from the token store), so that
// whatever Ferry writes (logs, the database, API replies) can be scrubbed of them, as of secret values.
const MAX_REMEMBERED = 512;
const known = new Set<string>();

/** Notes a token value to scrub (values shorter than 8 characters are not tokens worth hiding). */
export function rememberToken(value: string | undefined): void {
  if (!value || value.length < 8 || known.has(value)) return;
  known.add(value);
  // oldest first out: a rotated-away token is dead long before 512 newer ones came
  if (known.size > MAX_REMEMBERED) known.delete(known.values().next().value as string);
}

/** Replaces every known token value in a text with "[token]". */
export function scrubTokens(text: string): string {
  if (known.size === 0 || text.length < 8) return text;
  let out = text;
  for (const v of known) if (out.includes(v)) out = out.split(v).join('[token]');
  return out;
}
