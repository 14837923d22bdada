// `ferry service install|uninstall`: Ferry headless at boot (launchd, Task Scheduler, systemd steps).
import fs from 'node:fs';
import path from 'node:path';
import { Option, type Command } from 'commander';
import { dataDirOfConfigFile, loadConfig } from '../engine/config/load.ts';
import { installPlan, uninstallPlan, type ServiceOptions } from '../engine/service.ts';
import { decideServiceInstall } from '../engine/service-install.ts';
import { packageRoot } from '../engine/paths.ts';
import { errorMessage } from '../../connectors/contract.ts';
import { err, out } from './output.ts';
import { configOption, needConfig, secretStoreFor, type Act } from './options.ts';

export function registerServiceCommands(program: Command, act: Act): void {
  const service = program.command('service').description('run Ferry headless at boot (launchd on macOS, Task Scheduler on Windows; systemd steps on Linux)');
  const serviceOpts = (cmd: Command) => cmd.option('--name <name>', 'service name', 'ferry').option('--print', 'only print what would be written and run');
  serviceOpts(
    service
      .command('install')
      .description('install Ferry as a boot-time service for a config, running as you (the user behind sudo), --account, or root/SYSTEM with --system')
      .addOption(configOption())
      .option('--account <name>', 'run as this account (a dedicated low-privilege one is best) instead of the installing user')
      .addOption(new Option('--user <name>', 'the same as --account').hideHelp())
      .option('--system', 'run as root (macOS, Linux) or SYSTEM (Windows): only when Ferry really needs those rights'),
  ).action(
    act((opts) => {
      const file = path.resolve(needConfig(opts));
      loadConfig(file, { secrets: secretStoreFor(file).lookup() }); // refuse to install a config that does not load
      const dataDir = dataDirOfConfigFile(file);
      const decision = decideServiceInstall({ configFile: file, account: opts.account ?? opts.user, system: opts.system === true });
      if (!decision.ok) {
        err(`ferry: ${decision.reason}`);
        return decision.code;
      }
      const o: ServiceOptions = {
        name: opts.name,
        node: process.execPath,
        ferryBin: path.join(packageRoot(), 'bin', 'ferry.js'),
        configFile: file,
        logDir: path.join(dataDir, 'logs'),
        workingDir: path.dirname(file),
        user: decision.user,
      };
      return applyPlan(installPlan(process.platform, o, dataDir), opts.print === true);
    }),
  );
  serviceOpts(service.command('uninstall').description('remove the boot-time service')).action(act((opts) => applyPlan(uninstallPlan(process.platform, opts.name), opts.print === true)));
}

async function applyPlan(plan: ReturnType<typeof installPlan>, printOnly: boolean): Promise<number> {
  const { execFileSync } = await import('node:child_process');
  for (const f of plan.files) {
    if (printOnly) out(`--- would write ${f.path}\n${f.content.replace(/^\ufeff/, '')}`);
    else {
      fs.mkdirSync(path.dirname(f.path), { recursive: true });
      fs.writeFileSync(f.path, f.content, { encoding: f.encoding ?? 'utf8', mode: 0o644 });
    }
  }
  for (const c of plan.commands) {
    if (printOnly) {
      out(`--- would run: ${c.join(' ')}`);
      continue;
    }
    try {
      execFileSync(c[0], c.slice(1), { stdio: 'inherit' });
    } catch (e) {
      err(`ferry: ${c.join(' ')} failed: ${errorMessage(e)}`);
      return 1;
    }
  }
  for (const f of plan.remove ?? []) {
    if (printOnly) out(`--- would delete ${f}`);
    else fs.rmSync(f, { force: true });
  }
  for (const n of plan.notes) out(n);
  return 0;
}
