// What an SFTP session sends in one turn of the event loop leaves together: the SFTP requests go out as few SSH
// packets (each packet is framed, encrypted and authenticated on its own, here and by the server, and the
// server hands each one to its SFTP process with a write of its own), and the packets leave in one write to
// the socket. An SFTP channel is a byte stream: requests may share a packet as they may share a TCP segment.
import type { Socket } from 'node:net';
import type { SFTPWrapper } from 'ssh2';

/** The part of ssh2's protocol object its SFTP channel calls (lib/protocol/SFTP.js: channelData, channelClose). */
interface ChannelProtocol {
  channelData(channel: number, data: Buffer): void;
  channelClose(channel: number): void;
}

/** ssh2's SFTP channel, as far as it is used here (its own fields). */
interface SftpChannelInternals {
  _protocol: ChannelProtocol;
  outgoing: { packetSize: number; state: string };
}

export class TurnWriter {
  private readonly protocol: ChannelProtocol;
  private readonly channel: SftpChannelInternals;
  private readonly socket: () => Socket | undefined;
  /** Set while this turn's writes are held (until setImmediate). */
  private holding = false;
  private held?: Socket;
  /** Channel data held this turn, for one channel (an SFTP session has one). */
  private data: Buffer[] = [];
  private bytes = 0;
  private dataChannel = -1;
  /** SSH packets of channel data sent (tests count them). */
  packets = 0;

  constructor(sftp: SFTPWrapper, socket: () => Socket | undefined) {
    this.channel = sftp as unknown as SftpChannelInternals;
    this.protocol = this.channel._protocol;
    this.socket = socket;
    const protocol = this.protocol;
    // the channel sends through this object from now on; the connection's other users are not touched
    this.channel._protocol = {
      channelData: (channel, data) => this.channelData(channel, data),
      channelClose: (channel) => {
        this.flush();
        protocol.channelClose(channel);
      },
    };
  }

  /** Holds what is sent from now until this turn of the event loop ends, then sends it together. */
  hold(): void {
    if (this.holding) return;
    const socket = this.socket();
    if (!socket || socket.destroyed) return;
    this.holding = true;
    this.held = socket;
    socket.cork();
    setImmediate(() => this.release());
  }

  private release(): void {
    this.holding = false;
    const socket = this.held;
    this.held = undefined;
    try {
      this.flush();
    } catch {
      // the connection went away meanwhile (ssh2 throws once its cipher is gone): dropping the socket fails
      // the requests under way, as a lost connection does
      socket?.destroy();
    }
    socket?.uncork();
  }

  private channelData(channel: number, data: Buffer): void {
    if (!this.holding) {
      this.flush();
      this.send(channel, data);
      return;
    }
    // ssh2 cuts what it sends to the server's packet size; held data is joined up to that size
    if (this.bytes > 0 && (channel !== this.dataChannel || this.bytes + data.length > this.channel.outgoing.packetSize)) this.flush();
    this.dataChannel = channel;
    this.data.push(data);
    this.bytes += data.length;
  }

  /** Sends the data held as one packet. */
  private flush(): void {
    if (this.bytes === 0) return;
    const parts = this.data;
    const joined = parts.length === 1 ? parts[0] : Buffer.concat(parts, this.bytes);
    this.data = [];
    this.bytes = 0;
    this.send(this.dataChannel, joined);
  }

  private send(channel: number, data: Buffer): void {
    // a channel closed since its requests were held: their callbacks fail with the channel (ssh2 ends them)
    if (this.channel.outgoing.state !== 'open') return;
    this.packets++;
    this.protocol.channelData(channel, data);
  }
}
