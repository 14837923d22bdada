// A TCP proxy on 127.0.0.1 in front of a real server: it can slow traffic down and cut every connection
// at once, so a test can drop a transfer in the middle deterministically.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Bytes forwarded in either direction so far. */
  bytes: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Limit on bytes per second in each direction of each connection (0: none). */
  bytesPerSecond: number;
  /** Resets every open connection (both sides). */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, bytesPerSecond = 0): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: TcpProxy = {
    port: 0,
    bytes: 0,
    accepted: 0,
    bytesPerSecond,
    dropAll: () => {
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
    },
    close: () =>
      new Promise((resolve) => {
        proxy.dropAll();
        server.close(() => resolve());
      }),
  };
  const pump = (from: net.Socket, to: net.Socket) => {
    const started = Date.now();
    let sent = 0;
    from.on('data', (chunk: Buffer) => {
      proxy.bytes += chunk.length;
      sent += chunk.length;
      const ok = to.write(chunk);
      let wait = 0;
      if (proxy.bytesPerSecond > 0) wait = started + (sent / proxy.bytesPerSecond) * 1000 - Date.now();
      if (!ok || wait > 0) {
        from.pause();
        const resume = () => setTimeout(() => from.resume(), Math.max(0, wait));
        if (!ok) to.once('drain', resume);
        else resume();
      }
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
    from.on('close', () => to.destroy());
  };
  const server = net.createServer((client) => {
    proxy.accepted++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('close', () => sockets.delete(client));
    upstream.on('close', () => sockets.delete(upstream));
    pump(client, upstream);
    pump(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.port = (server.address() as net.AddressInfo).port;
  return proxy;
}
