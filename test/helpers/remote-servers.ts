// The two remote servers the intake tests run against, started once per test file: ftp-srv on 127.0.0.1 and
// Debian's OpenSSH sshd (which needs root, as in CI).
import { afterAll, beforeAll } from 'vitest';
import { startFtpServer, type FtpServerHandle } from './ftp-server.ts';
import { sshdAvailable, startSshd, type SshdHandle } from './sshd.ts';

/** Registers the servers' start (beforeAll) and stop (afterAll); their handles are set once started. */
export function useRemoteServers(): { ftp: FtpServerHandle; sshd: SshdHandle } {
  const servers = {} as { ftp: FtpServerHandle; sshd: SshdHandle };
  beforeAll(async () => {
    if (!sshdAvailable()) throw new Error('these tests need /usr/sbin/sshd (Debian openssh-server) and root, as in CI');
    [servers.ftp, servers.sshd] = await Promise.all([startFtpServer(), startSshd()]);
  });
  afterAll(async () => {
    await Promise.all([servers.ftp?.close(), servers.sshd?.stop()]);
  });
  return servers;
}

/** Registers Debian's sshd alone (beforeAll / afterAll); the handle is set once started. */
export function useSshd(): { sshd: SshdHandle } {
  const servers = {} as { sshd: SshdHandle };
  beforeAll(async () => {
    if (!sshdAvailable()) throw new Error('these tests need /usr/sbin/sshd (Debian openssh-server) and root, as in CI');
    servers.sshd = await startSshd();
  });
  afterAll(async () => {
    await servers.sshd?.stop();
  });
  return servers;
}

/** A connector logger that prints nothing. */
export const quietLog = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
