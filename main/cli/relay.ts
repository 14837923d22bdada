// `ferry relay --config relay.yaml`: runs the webhook relay until SIGINT/SIGTERM.
import path from 'node:path';
import type { Command } from 'commander';
import { dataDirOfConfigFile } from '../engine/config/load.ts';
import { createLogger, type LogLevel } from '../engine/logger.ts';
import { SecretStore } from '../engine/secrets.ts';
import { loadRelayConfig } from '../relay/config.ts';
import { RelayServer } from '../relay/server.ts';
import { out } from './output.ts';
import type { Act } from './options.ts';

export function registerRelayCommand(program: Command, act: Act): void {
  program
    .command('relay')
    .description('run the webhook relay: receives webhooks on /hooks/<queue>, stores them durably, agents long-poll /queues/<queue> (see docs/fleet.md)')
    .requiredOption('-c, --config <file>', 'relay configuration (relay.yaml)')
    .option('--log-level <level>', 'log level', 'info')
    .action(act(async (opts: { config: string; logLevel: LogLevel }) => {
      const secrets = new SecretStore(dataDirOfConfigFile(opts.config));
      const loaded = loadRelayConfig(opts.config, secrets.lookup());
      const log = createLogger({ level: opts.logLevel, logDir: path.join(loaded.config.dataDir, 'logs'), scrub: loaded.scrubber.text });
      const relay = new RelayServer(loaded.config, log);
      const url = await relay.start();
      out(`Ferry relay listening on ${url}: webhooks to ${url}/hooks/<queue>, agents poll ${url}/queues/<queue>; queues ${loaded.config.queues.map((q) => q.name).join(', ')}; data in ${loaded.config.dataDir}`);
      return new Promise<number>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'stopping the relay');
          relay.stop().then(() => resolve(0), () => resolve(1));
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    }));
}
