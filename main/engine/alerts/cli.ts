// `ferry alerts test`: a test alert through every channel, right now and not through the queue, so the admin
// sees at once whether each channel works (its address, its login, its webhook URL).
import { createLogger } from '../logger.ts';
import type { LoadedConfig } from '../config/load.ts';
import { readAdminInfo } from '../admin/login.ts';
import { packageVersion } from '../paths.ts';
import { AlertService } from './service.ts';
import { Network } from '../../../connectors/net/index.ts';

/** Sends the test alerts and prints one line per rule; the exit code: 0 when all went out, 1 otherwise, 2 with no rules. */
export async function alertsTestCommand(loaded: LoadedConfig, out: (line: string) => void): Promise<number> {
  if (loaded.config.alerts.length === 0) {
    out(`${loaded.file} has no alerts: block (see docs/alerts.md)`);
    return 2;
  }
  const log = createLogger({ level: 'silent', stderr: false });
  // the channels send through the config's network setting, as the running engine's do
  const net = new Network(loaded.config.network, { log });
  const results = await AlertService.sendTest(loaded.config, loaded.dir, { log, net, version: packageVersion(), dashboardUrl: readAdminInfo(loaded.dataDir)?.url }).finally(() => net.close());
  for (const r of results) out(`alerts[${r.rule}] ${r.channel}: ${r.ok ? 'OK' : 'FAILED'} - ${r.message}`);
  return results.every((r) => r.ok) ? 0 : 1;
}
