// What most commands share: the --config and --log-level options, loading the config (its output then
// scrubbed of its credentials), the data dir's secret store, and the wrapper that hands an exit code back.
import { Option } from 'commander';
import { dataDirOfConfigFile, loadConfig, type LoadedConfig } from '../engine/config/load.ts';
import { SecretStore } from '../engine/secrets.ts';
import { scrubberFor } from '../engine/scrub.ts';
import { setOutputScrubber, UsageError } from './output.ts';

/** Wraps an action so its returned exit code reaches main(). */
export type Act = (fn: (opts: any) => number | Promise<number>) => (opts: any) => Promise<void>;

export function configOption(): Option {
  return new Option('-c, --config <file>', 'configuration file (YAML or JSON)').env('FERRY_CONFIG');
}

export function requireConfig(opts: { config?: string }): LoadedConfig {
  if (!opts.config) throw new UsageError('missing --config <file> (or set FERRY_CONFIG)');
  const store = secretStoreFor(opts.config);
  return scrubbingOutput(loadConfig(opts.config, { secrets: store.lookup() }), store);
}

/** For commands that only read or repair the queue: they need no passwords, so missing ones are no problem. */
export function requireConfigForQueue(opts: { config?: string }): LoadedConfig {
  if (!opts.config) throw new UsageError('missing --config <file> (or set FERRY_CONFIG)');
  const store = secretStoreFor(opts.config);
  return scrubbingOutput(loadConfig(opts.config, { secrets: store.lookup(), allowMissingSecrets: true }), store);
}

/** From here on, what the command prints is scrubbed of this config's credentials. */
export function scrubbingOutput(loaded: LoadedConfig, store: SecretStore): LoadedConfig {
  setOutputScrubber(scrubberFor(loaded, store).text);
  return loaded;
}

/** The secret store of the data dir a config file names (${secret:NAME}). */
export function secretStoreFor(configFile: string): SecretStore {
  return new SecretStore(dataDirOfConfigFile(configFile));
}

export const logLevelOption = () =>
  new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']);

/** The --config value, or a usage error naming the option. */
export function needConfig(opts: { config?: string }): string {
  if (!opts.config) throw new UsageError('missing --config <file> (or set FERRY_CONFIG)');
  return opts.config;
}
