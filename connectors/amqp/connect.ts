import type { ChannelModel } from 'amqplib';

/** Opens a broker connection; amqplib loads on first use, so Ferry processes without an AMQP flow never pay its memory. */
export async function connect(url: string, opts: { timeout: number }): Promise<ChannelModel> {
  const amqp = await import('amqplib');
  return amqp.connect(url, opts);
}
