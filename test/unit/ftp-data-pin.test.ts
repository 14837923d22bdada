// FTPS data connections are held to the pinned certificate (connectors/ftp/client.ts): a real TLS server on
// 127.0.0.1 stands in for a data port, and basic-ftp's own FTPContext receives the socket as it would.
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { FTPContext } from 'basic-ftp';
import { pinDataConnections } from '../../connectors/ftp/client.ts';
import { selfSignedCert } from '../helpers/ftp-server.ts';
import { waitFor } from '../helpers/tmp.ts';

const pinned = selfSignedCert();
const other = selfSignedCert('other');
const servers: net.Server[] = [];
afterAll(() => servers.forEach((s) => s.close()));

async function dataServer(cert: { key: string; cert: string }): Promise<number> {
  const server = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => s.end('listing\r\n'));
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

/** A control connection: a TCP server that holds its connections open. */
async function controlSocket(): Promise<net.Socket> {
  const server = net.createServer(() => undefined);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = net.connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/** A context with a pinned data connection to a server presenting `cert`; what the socket received. */
async function connectData(cert: { key: string; cert: string }): Promise<{ ftp: FTPContext; socket: tls.TLSSocket; received: string }> {
  const port = await dataServer(cert);
  const ftp = new FTPContext();
  ftp.socket = await controlSocket();
  pinDataConnections(ftp, pinned.fingerprint.replace(/^SHA256:/, '').replace(/:/g, ''), '127.0.0.1:21');
  // as basic-ftp makes it: the data socket is a TLS client socket, verification left to the pin
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  ftp.dataSocket = socket;
  let received = '';
  socket.on('data', (d) => (received += d));
  // basic-ftp takes its listeners off a socket it closes, so the end is watched, not awaited
  await waitFor(() => socket.destroyed || socket.readableEnded, 'the data connection ended or cut', 10_000);
  return { ftp, socket, received };
}

describe('pinned FTPS data connections', () => {
  it('a data connection presenting the pinned certificate is used', async () => {
    const r = await connectData(pinned);
    expect(r.received).toBe('listing\r\n');
    expect(r.ftp.closed).toBe(false);
  });

  it('a data connection presenting another certificate is cut before any byte, and the client is closed', async () => {
    const r = await connectData(other);
    expect(r.received).toBe('');
    expect(r.ftp.closed).toBe(true);
    expect(r.socket.destroyed).toBe(true);
  });
});
