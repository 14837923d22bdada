// The `ferry` command (headless). Exit codes: 0 ok, 2 bad usage or config, 1 runtime failure.
// Each error is one clear line on stderr. One file per command group in ./cli/.
import fs from 'node:fs';
import { Command, CommanderError } from 'commander';
import { ConfigError } from './engine/config/load.ts';
import { DataDirError } from './engine/store/datadir.ts';
import { errorMessage } from '../connectors/contract.ts';
import { dropOutputWhenReaderCloses, err, UsageError } from './cli/output.ts';
import type { Act } from './cli/options.ts';
import { registerRunCommands } from './cli/run.ts';
import { registerConfigCommands } from './cli/config.ts';
import { registerQueueCommands } from './cli/queue.ts';
import { registerSecretCommands } from './cli/secrets.ts';
import { registerDashboardCommand } from './cli/dashboard.ts';
import { registerServiceCommands } from './cli/service.ts';
import { registerAlertsCommands } from './cli/alerts.ts';
import { registerConnectionCommands } from './cli/connections.ts';
import { registerCentralConfigCommands } from './cli/central-config.ts';
import { registerRelayCommand } from './cli/relay.ts';
import { registerFleetCommands } from './cli/fleet.ts';

export function buildProgram(result: { code: number } = { code: 0 }): Command {
  const act: Act = (fn) => async (opts) => {
    result.code = await fn(opts);
  };
  const program = new Command('ferry')
    .description('Ferry: moves files and records between legacy systems and SaaS APIs, durably.')
    .version(JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run ferry --help for usage)');
  registerRunCommands(program, act);
  registerConfigCommands(program, act);
  registerQueueCommands(program, act);
  registerConnectionCommands(program, act);
  registerSecretCommands(program, act);
  registerDashboardCommand(program, act);
  registerServiceCommands(program, act);
  registerAlertsCommands(program, act);
  registerCentralConfigCommands(program, act);
  registerRelayCommand(program, act);
  registerFleetCommands(program, act);
  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const result = { code: 0 };
  dropOutputWhenReaderCloses();
  const program = buildProgram(result);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; every usage mistake exits 2 (commander already printed the line)
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      err(`ferry: ${e.message}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      err(e.message.split('\n')[0]);
      for (const p of e.problems) err(p);
      return 2;
    }
    if (e instanceof DataDirError) {
      err(`ferry: ${e.message}`);
      return e.message.includes('already running') ? 1 : 2;
    }
    err(`ferry: ${errorMessage(e)}`);
    return 1;
  }
  return result.code;
}
