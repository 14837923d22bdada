// `ferry fleet status`: the latest heartbeat of every agent publishing to a broker, as a table or JSON.
// Exit 1 when an agent is failing or silent (or the broker cannot be read), for monitoring scripts.
import { Option, type Command } from 'commander';
import { readFleet, DEFAULT_SINCE_MS } from '../engine/fleet/viewer.ts';
import type { FleetReport } from '../engine/fleet/report.ts';
import { formatTime, out, table, UsageError } from './output.ts';
import { configOption, requireConfig, type Act } from './options.ts';

/** "15m", "2h", "90s", "1d" → ms. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

function labelsText(labels: Record<string, string>): string {
  const s = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  return s || '-';
}

export function printFleet(report: FleetReport): void {
  out(`Fleet on ${report.broker} (exchange ${report.exchange}): ${report.agents.length} agent${report.agents.length === 1 ? '' : 's'}`);
  if (report.agents.length > 0) {
    const rows = [['AGENT', 'STATE', 'LABELS', 'VERSION', 'CONFIG', 'LAST HEARD', 'FLOWS OK/FAILING', 'WAITING', 'DEAD', 'LAST DELIVERY']];
    for (const a of report.agents) {
      const heard = a.state === 'silent' ? `silent since ${formatTime(a.silentSince)} (last heard ${formatTime(a.lastHeardAt)})` : formatTime(a.lastHeardAt);
      rows.push([a.agent, a.state, labelsText(a.labels), a.version, a.configVersion, heard, `${a.flowsOk}/${a.flowsFailing}`, String(a.waiting), String(a.dead), formatTime(a.lastDeliveryAt)]);
    }
    out(table(rows));
  }
  for (const a of report.agents) for (const f of a.flows) if (!f.ok) out(`${a.agent}: ${f.flow} failing: ${f.reason}`);
  if (report.error) out(`problem: ${report.error}`);
}

export function registerFleetCommands(program: Command, act: Act): void {
  const fleet = program.command('fleet').description('the agents publishing heartbeats to a broker (see docs/fleet.md)');
  fleet
    .command('status')
    .description('every agent heard recently: state, labels, versions, last heard, flows, waiting and dead items; exit 1 when one is failing or silent')
    .addOption(new Option('--amqp <url>', 'broker URL (default: fleet.view.amqp or fleet.publish.url of --config)').env('FERRY_FLEET_AMQP'))
    .option('--exchange <name>', 'fleet exchange (default: the config\'s, else ferry.fleet)')
    .option('--since <duration>', 'read heartbeats this far back, e.g. 15m, 2h (agents silent for longer are not listed)', '15m')
    .option('--json', 'print JSON: { agents: [{ agent, state: ok|failing|silent, … }] }')
    .addOption(configOption())
    .action(act(async (opts) => {
      let url: string | undefined = opts.amqp;
      let exchange: string | undefined = opts.exchange;
      if (!url && opts.config) {
        const fleetCfg = requireConfig(opts).config.fleet;
        url = fleetCfg?.view?.amqp ?? fleetCfg?.publish?.url;
        exchange ??= fleetCfg?.view?.exchange ?? fleetCfg?.publish?.exchange;
      }
      if (!url) throw new UsageError('missing --amqp <url> (or FERRY_FLEET_AMQP, or --config with fleet.view.amqp)');
      if (!/^amqps?:\/\//.test(url)) throw new UsageError(`--amqp: expected an amqp:// or amqps:// URL, got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}`);
      const sinceMs = parseDuration(opts.since);
      if (sinceMs === undefined) throw new UsageError(`--since: expected a duration like 15m, 2h or 1d, got ${JSON.stringify(opts.since)}`);
      const report = await readFleet({ url, exchange: exchange ?? 'ferry.fleet', sinceMs: sinceMs ?? DEFAULT_SINCE_MS });
      if (opts.json) out(JSON.stringify(report, null, 2));
      else printFleet(report);
      return report.error || report.agents.some((a) => a.state !== 'ok') ? 1 : 0;
    }));
}
