// `ferry run` and `ferry start`: the engine until SIGINT/SIGTERM, with the admin API (the dashboard) on top.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { ConfigError, loadConfig, type LoadedConfig } from '../engine/config/load.ts';
import { Engine } from '../engine/engine.ts';
import { startWithAdmin, type AdminServer } from '../engine/admin/server.ts';
import { createLogger, type LogLevel } from '../engine/logger.ts';
import { SecretStore } from '../engine/secrets.ts';
import { scrubberFor } from '../engine/scrub.ts';
import { packageRoot } from '../engine/paths.ts';
import { errorMessage } from '../../connectors/contract.ts';
import { loadStartConfig, startConfigFile } from '../start-config.ts';
import { decideDesktop, probeDesktop, runDesktop, type DesktopDecision } from '../desktop/launch.ts';
import { err, out, setOutputScrubber } from './output.ts';
import { configOption, logLevelOption, requireConfig, type Act } from './options.ts';

/** Runs the engine until SIGINT/SIGTERM, then stops it cleanly. */
export async function runEngine(loaded: LoadedConfig, logLevel?: LogLevel, banner?: (engine: Engine) => void): Promise<number> {
  const level = logLevel ?? loaded.config.logLevel;
  const secrets = new SecretStore(loaded.dataDir);
  const scrubber = scrubberFor(loaded, secrets);
  setOutputScrubber(scrubber.text);
  const log = createLogger({ level, logDir: path.join(loaded.dataDir, 'logs'), scrub: scrubber.text });
  const engine = Engine.open(loaded, { log, secrets, scrubber });
  let stopping: Promise<void> | undefined;
  const done = new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      if (stopping) {
        err(`${signal} again: exiting now`);
        process.exit(1);
      }
      log.info({ signal }, 'signal received');
      stopping = engine.stop().then(
        () => resolve(0),
        (e) => {
          err(`stopping failed: ${errorMessage(e)}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', () => onSignal('SIGINT'));
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    if (process.platform !== 'win32') {
      // `kill -HUP` re-reads the config file (as the admin API's edits do)
      process.on('SIGHUP', () => {
        engine.reload().then(
          (r) => log.info(r, 'configuration reloaded (SIGHUP)'),
          (e) => log.error({ err: e instanceof ConfigError ? e.problems.join('; ') : errorMessage(e) }, 'configuration not reloaded: the running flows are unchanged'),
        );
      });
    }
  });
  // FERRY_ADMIN=off runs without the admin API (a machine where nobody may reach the dashboard)
  let admin: AdminServer | undefined;
  if (process.env.FERRY_ADMIN === 'off') await engine.start();
  else admin = await startWithAdmin(engine);
  banner?.(engine);
  if (admin) {
    out(`Dashboard: ${admin.url}/ (admin API token in ${path.join(loaded.dataDir, 'admin-token')}; \`ferry dashboard --config ${loaded.file}\` prints a login link)`);
  }
  return done;
}

export function registerRunCommands(program: Command, act: Act): void {
  program
    .command('run')
    .description('run the engine until SIGINT/SIGTERM')
    .addOption(configOption())
    .addOption(logLevelOption())
    .action(act(async (opts) => {
      const loaded = requireConfig(opts);
      return runEngine(loaded, opts.logLevel, () => out(`Ferry is running: ${loaded.config.integrations.reduce((n, i) => n + i.flows.length, 0)} flows; data in ${loaded.dataDir}; Ctrl+C stops`));
    }));

  program
    .command('start')
    .description('open the desktop app (tray and window) where Electron can run, else run headless with the dashboard URL; uses the given config or a default one in the app-data folder (created on first start)')
    .addOption(configOption())
    .addOption(logLevelOption())
    .option('--headless', 'never open the desktop app')
    .action(act(async (opts) => {
      const file = startConfigFile(opts.config as string | undefined, out);
      const decision: DesktopDecision = opts.headless ? { desktop: false, reason: '--headless given' } : decideDesktop(probeDesktop());
      if (decision.desktop) {
        loadConfig(file); // fail here, in the terminal, on a bad config
        out('Starting the Ferry desktop app…');
        return runDesktop(decision.electron, ['--config', path.resolve(file), ...(opts.logLevel ? ['--log-level', opts.logLevel] : [])]);
      }
      const { loaded } = loadStartConfig(file);
      return runEngine(loaded, opts.logLevel, () => {
        out(`Ferry is running headless (no tray: ${decision.reason}).`);
        if (!fs.existsSync(path.join(packageRoot(), 'dist/renderer/index.html'))) out('  the dashboard is not built yet: npm run build:renderer');
        out(`  config:  ${loaded.file}`);
        out(`  data:    ${loaded.dataDir}`);
        for (const i of loaded.config.integrations) {
          for (const f of i.flows) {
            const src = f.source as { type: string; path?: string };
            const dst = f.destination as { type: string; path?: string; url?: string };
            out(`  flow ${f.name}: ${src.type} ${src.path ?? ''} -> ${dst.type} ${dst.path ?? dst.url ?? ''}`);
          }
        }
        out('Ctrl+C stops.');
      });
    }));
}
