// `ferry relay` as a real process on a free 127.0.0.1 port, and a sender of signed webhooks.
import crypto from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'undici';
import { ferryBin } from './cli.ts';

export interface RunningRelay {
  child: ChildProcess;
  url: string;
  output(): string;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export async function startRelay(configFile: string): Promise<RunningRelay> {
  const child = spawn(process.execPath, [ferryBin, 'relay', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`ferry relay did not start:\n${out}`)), 30_000);
    const look = () => {
      const m = /listening on (https?:\/\/[^\s:]+:\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', look);
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`ferry relay exited (${code}):\n${out}`));
    });
  });
  return {
    child,
    url,
    output: () => out,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A Standard Webhooks sender with its own secret (`whsec_…`). */
export function webhookSender(key = crypto.randomBytes(32)) {
  const secret = `whsec_${key.toString('base64')}`;
  return {
    secret,
    headers(id: string, body: string, t = Math.floor(Date.now() / 1000)): Record<string, string> {
      const sig = crypto.createHmac('sha256', key).update(`${id}.${t}.${body}`).digest('base64');
      return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${sig}` };
    },
    async send(url: string, id: string, body: string): Promise<{ status: number; json: any }> {
      const res = await request(url, { method: 'POST', headers: this.headers(id, body), body });
      const text = await res.body.text();
      return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
    },
  };
}
