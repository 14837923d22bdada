// Spaces requests to one host so at most maxRequestsPerMinute start per minute (process-wide, so flows
// polling the same API share the budget).
const nextSlot = new Map<string, number>();

/** Waits for this host's next request slot; resolves false when aborted. */
export async function takeSlot(host: string, perMinute: number | undefined, signal: AbortSignal): Promise<boolean> {
  if (!perMinute) return !signal.aborted;
  const gap = 60_000 / perMinute;
  const now = Date.now();
  const at = Math.max(now, nextSlot.get(host) ?? 0);
  nextSlot.set(host, at + gap);
  return sleep(at - now, signal);
}

/** Sleeps; resolves false when aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
