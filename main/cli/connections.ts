// `ferry connect` and `ferry disconnect`: an OAuth connection's consent and its withdrawal, through the
// running engine when there is one, else on their own (./connect.ts).
import type { Command } from 'commander';
import { ConnectError, connectCommand, disconnectCommand, type ConnectIo } from './connect.ts';
import { err, out, UsageError } from './output.ts';
import { configOption, requireConfig, type Act } from './options.ts';

export function registerConnectionCommands(program: Command, act: Act): void {
  const connectIo = (): ConnectIo => ({ out, err, input: process.stdin, interactive: process.stdin.isTTY === true });
  const connectErrors = (fn: () => Promise<number>) => async () => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ConnectError && e.usage) throw new UsageError(e.message);
      throw e;
    }
  };
  program
    .command('connect <name>')
    .description("give an OAuth connection its consent: opens the provider's page in the system browser (headless: prints the address and reads back the one the browser ended on, or the code)")
    .addOption(configOption())
    .option('--no-browser', 'only print the consent address')
    .option('--port <port>', 'without a running Ferry: the loopback port the provider sends the browser back to (default: admin.port)')
    .action(async (name: string, opts: any) =>
      act(connectErrors(() => {
        if (opts.port !== undefined && !/^\d{1,5}$/.test(opts.port)) throw new UsageError(`--port: expected a port number, got "${opts.port}"`);
        return connectCommand(requireConfig(opts), name, { browser: opts.browser !== false, port: opts.port === undefined ? undefined : Number(opts.port) }, connectIo());
      }))(opts));
  program
    .command('disconnect <name>')
    .description('withdraw an OAuth connection: revokes its tokens where the provider can, and forgets them (flows using it wait for a new consent)')
    .addOption(configOption())
    .action(async (name: string, opts: any) => act(connectErrors(() => disconnectCommand(requireConfig(opts), name, connectIo())))(opts));
}
