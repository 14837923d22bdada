// Error words both remote protocols share: failures this library diagnosed itself, and network-level reasons.
import { errorMessage } from '../contract.ts';
import type { RemoteFailure } from './protocol.ts';

/** A failure this library diagnosed itself, already in check's words. */
export class RemoteProblem extends Error {
  readonly kind: RemoteFailure['kind'];
  constructor(kind: RemoteFailure['kind'], message: string) {
    super(message);
    this.kind = kind;
  }
}

/** Network-level reasons common to FTP and SFTP (undefined when the error is not one of them). */
export function networkFailure(err: unknown, where: string): RemoteFailure | undefined {
  if (err instanceof RemoteProblem) return { kind: err.kind, broken: false, reason: err.message };
  const e = err as NodeJS.ErrnoException & { level?: string };
  const code = e?.code;
  const msg = errorMessage(err);
  switch (code) {
    case 'ECONNREFUSED':
      return { kind: 'unreachable', broken: true, reason: `host unreachable: connection refused by ${where}` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { kind: 'unreachable', broken: true, reason: `host unreachable: ${where} not found (DNS)` };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { kind: 'unreachable', broken: true, reason: `host unreachable: no route to ${where}` };
    case 'ECONNRESET':
    case 'EPIPE':
      return { kind: 'dropped', broken: true, reason: `connection to ${where} dropped (${code})` };
    case 'ETIMEDOUT':
      return { kind: 'timeout', broken: true, reason: `timed out talking to ${where}: ${msg}` };
    default:
      return undefined;
  }
}
