// Small files from a real OpenSSH server (Debian's sshd, started here on 127.0.0.1): many files spread over
// every connection of the pool, a server that stops answering mid-batch, and a connection dropped mid-batch
// under the real engine. Each file is taken once, none is lost.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { sftpConnector } from '../../connectors/sftp/index.ts';
import { sftpSourceSchema } from '../../connectors/sftp/schema.ts';
import type { Source } from '../../connectors/contract.ts';
import type { RemoteFs, RemoteSession } from '../../connectors/remote/protocol.ts';
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import { writeConfig } from '../helpers/cli.ts';
import { oneFlow, runEngine } from '../helpers/remote-engine.ts';
import { recordingContext } from '../helpers/source-context.ts';
import { quietLog, useSshd } from '../helpers/remote-servers.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const env = { configDir: '/', log: quietLog };
const servers = useSshd();
const conn = () => {
  const { sshd } = servers;
  return { host: '127.0.0.1', port: sshd.port, username: sshd.user, privateKey: sshd.clientKey, hostKey: sshd.hostKey };
};

/** A fresh folder on the server holding `n` small files of random content; returns it and the contents. */
function smallFiles(name: string, n: number): { remote: string; files: Map<string, Buffer> } {
  const remote = path.join(servers.sshd.root, `${name}-${crypto.randomBytes(3).toString('hex')}`);
  fs.mkdirSync(remote, { recursive: true });
  const files = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const body = crypto.randomBytes(1 + ((i * 7919) % 40_000));
    const file = `s-${String(i).padStart(4, '0')}.dat`;
    fs.writeFileSync(path.join(remote, file), body);
    files.set(file, body);
  }
  return { remote, files };
}

/**
 * Counts the small reads each connection of the source's pool carried (the sessions the pool opened), and
 * records the errors they failed with.
 */
function countReadsPerConnection(source: unknown, errors: string[] = []): number[] {
  const remoteFs = (source as { fs: RemoteFs }).fs;
  const perConnection: number[] = [];
  const connect = remoteFs.connect.bind(remoteFs);
  remoteFs.connect = async () => {
    const s: RemoteSession = await connect();
    const i = perConnection.push(0) - 1;
    const readSmall = s.readSmall!.bind(s);
    s.readSmall = (file, size) => {
      perConnection[i]++;
      return readSmall(file, size).catch((err: Error) => {
        errors.push(err.message);
        throw err;
      });
    };
    return s;
  };
  return perConnection;
}

/** One scan of the source, closed after: every file taken once, intact, with no problem reported. */
async function scanTakesAll(source: Source, files: Map<string, Buffer>): Promise<void> {
  const rec = recordingContext();
  try {
    await source.scan(rec.ctx);
  } finally {
    await source.close?.();
  }
  expect(rec.problems).toEqual([]);
  expect(rec.names()).toEqual([...files.keys()].sort());
  for (const e of rec.emitted) expect(e.bytes.equals(files.get(e.item.name)!), e.item.name).toBe(true);
}

describe('sftp small files', () => {
  it('many files go over every connection of maxConnections at once, each taken once and intact', async () => {
    // enough files that the connections opened last (slow to log in on a busy machine) still find work: the
    // first one carries 8 at once meanwhile
    const { remote, files } = smallFiles('spread', 1000);
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...conn(), path: remote, settleMs: 0, maxConnections: 3 }), env);
    const perConnection = countReadsPerConnection(source);
    await scanTakesAll(source, files);
    // every connection the flow may open was opened and carried a share of the files, and no more were opened
    expect(perConnection).toHaveLength(3);
    for (const n of perConnection) expect(n).toBeGreaterThan(20);
    expect(perConnection.reduce((a, b) => a + b, 0)).toBe(files.size);
  });

  it("files read at once share SSH packets: their OPEN, READ and CLOSE requests of a turn leave in one packet, not one packet each", async () => {
    const { remote, files } = smallFiles('packets', 300);
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...conn(), path: remote, settleMs: 0, maxConnections: 1 }), env);
    // the SSH packets of channel data the connection sends (ssh2's protocol object frames and encrypts each one)
    let packets = 0;
    let connections = 0;
    const remoteFs = (source as unknown as { fs: RemoteFs }).fs;
    const connect = remoteFs.connect.bind(remoteFs);
    remoteFs.connect = async () => {
      const s = await connect();
      connections++;
      const protocol = (s as unknown as { sftp: { client: { _protocol: { channelData(id: number, data: Buffer): void } } } }).sftp.client._protocol;
      const channelData = protocol.channelData.bind(protocol);
      protocol.channelData = (id, data) => {
        packets++;
        channelData(id, data);
      };
      return s;
    };
    await scanTakesAll(source, files);
    expect(connections).toBe(1);
    // three requests a file (OPEN, READ, CLOSE) and a few for the listing: one packet each is over 3 a file.
    // Held to the end of a turn, a file's READ and CLOSE share a packet, and the next file's OPEN goes with the
    // turn its predecessor's data came in: at most 2 a file even when every answer comes alone (under load,
    // answers come several at a time and their requests share packets: 0.6-0.9 a file here)
    expect(packets / files.size).toBeLessThan(2.5);
  });

  it('a server that stops answering mid-batch: the reads in flight fail after timeoutMs (one watchdog per connection), the connection is dropped, they are read again over a new one; every file taken once', async () => {
    const { remote, files } = smallFiles('stall', 120);
    const source = sftpConnector.createSource!(sftpSourceSchema.parse({ ...conn(), path: remote, settleMs: 0, maxConnections: 1, timeoutMs: 1000 }), env);
    const errors: string[] = [];
    const perConnection = countReadsPerConnection(source, errors);
    // once 30 files were read, the session serving them hangs (its processes stopped: no answer, no goodbye)
    const reader = (source as unknown as { reader: { read: (f: unknown, take: unknown) => Promise<void> } }).reader;
    const read = reader.read.bind(reader);
    let done = 0;
    let release: (() => void) | undefined;
    reader.read = async (f, take) => {
      await read(f, take);
      if (++done === 30) release = servers.sshd.freezeSessions();
    };
    const rec = recordingContext();
    try {
      await source.scan(rec.ctx);
    } finally {
      release?.();
      await source.close?.();
    }
    // the reads under way on the hung connection failed together, by the session's watchdog (ssh2's keepalive
    // would have given up only after 3 s), and were read again over a fresh connection in the same scan
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(8); // transfersPerConnection
    for (const e of errors) expect(e).toMatch(/^no progress for 1000 ms: the server answered none of \d reads$/);
    expect(perConnection).toHaveLength(2);
    expect(perConnection[0] + perConnection[1]).toBe(files.size + errors.length);
    expect(rec.problems).toEqual([]);
    expect(rec.names()).toEqual([...files.keys()].sort());
    for (const e of rec.emitted) expect(e.bytes.equals(files.get(e.item.name)!), e.item.name).toBe(true);
  });

  it('keep (engine): a delivered file leaves no after-delivery step to record, none is run; move still records and runs one', async () => {
    for (const action of ['keep', 'move'] as const) {
      const { remote, files } = smallFiles(`after-${action}`, 40);
      const dir = tempDir();
      const dest = path.join(dir, 'dest');
      const afterDelivery = action === 'keep' ? { action } : { action, to: `${remote}-archive` };
      const file = writeConfig(dir, { dataDir: './data', admin: { port: 0 }, minFreeDiskMb: 0, ...oneFlow({ type: 'sftp', ...conn(), path: remote, settleMs: 0, afterDelivery }, { type: 'folder', path: dest }) });
      const engine = Engine.open(loadConfig(file), { log: silentLogger, stopGraceMs: 2000 });
      // what the engine records of each delivery: whether an after-delivery step is pending, and the marks of done steps
      const pending: boolean[] = [];
      let marked = 0;
      const settle = engine.queue.settle.bind(engine.queue);
      engine.queue.settle = (settlements, now) => {
        for (const x of settlements) if (x.kind === 'delivered') pending.push(x.afterPending);
        settle(settlements, now);
      };
      const markIn = engine.queue.markAfterDoneIn.bind(engine.queue);
      engine.queue.markAfterDoneIn = (ids) => {
        marked += ids.length;
        markIn(ids);
      };
      await engine.start();
      try {
        await waitFor(() => engine.queue.count({ flow: 'f', state: 'delivered' }) === files.size && (action === 'keep' || marked === files.size), `${action}: every file delivered`, 30_000);
        expect(listFiles(dest)).toEqual([...files.keys()].sort());
        expect(pending).toHaveLength(files.size);
        if (action === 'keep') {
          expect(pending.every((p) => !p)).toBe(true);
          expect(marked).toBe(0);
          expect(fs.readdirSync(remote).sort()).toEqual([...files.keys()].sort()); // the files stay
        } else {
          expect(pending.every((p) => p)).toBe(true);
          expect(fs.readdirSync(remote)).toEqual([]);
          expect(fs.readdirSync(`${remote}-archive`).sort()).toEqual([...files.keys()].sort());
        }
      } finally {
        await engine.stop();
      }
    }
  });

  it('a connection dropped mid-batch (engine): nothing lost, nothing taken twice', async () => {
    const { remote, files } = smallFiles('drop', 300);
    const proxy = await startTcpProxy(servers.sshd.port);
    const dir = tempDir();
    const dest = path.join(dir, 'dest');
    const run = await runEngine(dir, oneFlow({ type: 'sftp', ...conn(), port: proxy.port, path: remote, settleMs: 0, maxConnections: 2 }, { type: 'folder', path: dest }));
    try {
      await waitFor(() => run.count('f') >= 40, 'the batch under way', 30_000, 5);
      proxy.dropAll();
      const atDrop = run.count('f');
      expect(atDrop).toBeLessThan(files.size); // dropped in the middle
      await waitFor(() => run.count('f', 'delivered') === files.size, 'every file delivered after the drop', 60_000);
      expect(proxy.accepted).toBeGreaterThan(2); // connections opened again after the drop
      // one item per file (a file taken twice would be a second item, and land as "name (1).dat")
      expect(run.count('f')).toBe(files.size);
      const landed = listFiles(dest);
      expect(landed).toEqual([...files.keys()].sort());
      for (const name of landed) expect(fs.readFileSync(path.join(dest, name)).equals(files.get(name)!), name).toBe(true);
    } finally {
      await run.stop();
      await proxy.close();
    }
  });
});
