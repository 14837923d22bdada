// `ferry dashboard`: a one-time login link to the dashboard of the Ferry running on a config's data dir.
import type { Command } from 'commander';
import { dataDirOfConfigFile } from '../engine/config/load.ts';
import { loginLink, readAdminInfo, readAdminToken } from '../engine/admin/login.ts';
import { isAlive } from './engine-client.ts';
import { err, out } from './output.ts';
import { configOption, needConfig, type Act } from './options.ts';

export function registerDashboardCommand(program: Command, act: Act): void {
  program
    .command('dashboard')
    .description('print a one-time login link to the dashboard of a running Ferry (valid 2 minutes, for a browser on this machine)')
    .addOption(configOption())
    .action(act((opts) => {
      const dataDir = dataDirOfConfigFile(needConfig(opts));
      const info = readAdminInfo(dataDir);
      const token = readAdminToken(dataDir);
      if (!info || !token || !isAlive(info.pid)) {
        err(`ferry: Ferry is not running with data dir ${dataDir} (start it with: ferry run --config ${opts.config})`);
        return 1;
      }
      out(loginLink(info.url, token));
      return 0;
    }));
}
