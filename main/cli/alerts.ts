// `ferry alerts test`: a test message to every channel of the config's alerts: block.
import type { Command } from 'commander';
import { alertsTestCommand } from '../engine/alerts/cli.ts';
import { out } from './output.ts';
import { configOption, requireConfig, type Act } from './options.ts';

export function registerAlertsCommands(program: Command, act: Act): void {
  const alerts = program.command('alerts').description('messages to the admin when something fails (the alerts: block)');
  alerts
    .command('test')
    .description('send a test alert to every channel of alerts: (not queued) and print what each did')
    .addOption(configOption())
    .action(act(async (opts) => alertsTestCommand(requireConfig(opts), out)));
}
