// Transfers that stop making progress are cut: a server that hangs mid-file must not hold a connection forever.

/** Fails a transfer that makes no progress for `ms` (the caller drops the connection). */
export function stallGuard(ms: number, onStall: () => void): { tick(): void; stop(): void } {
  let last = Date.now();
  const t = setInterval(() => {
    if (Date.now() - last > ms) {
      clearInterval(t);
      onStall();
    }
  }, Math.min(1000, Math.max(50, Math.floor(ms / 4))));
  return { tick: () => (last = Date.now()), stop: () => clearInterval(t) };
}

/** A transfer cut for making no progress (classified as a timeout). */
export class StallError extends Error {
  readonly code = 'ETIMEDOUT';
}
