// `ferry validate`, `ferry check` and `ferry preview`: a config, its connections and its process steps
// tried out before (or beside) a running engine.
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { connectorOf } from '../engine/registry.ts';
import { createLogger } from '../engine/logger.ts';
import { previewLines, previewProcess } from '../engine/process/preview.ts';
import { Network } from '../../connectors/net/index.ts';
import type { ConnectorEnv } from '../../connectors/contract.ts';
import { standaloneManager } from './connect.ts';
import { out, UsageError } from './output.ts';
import { configOption, requireConfig, type Act } from './options.ts';

export function registerConfigCommands(program: Command, act: Act): void {
  program
    .command('validate')
    .description('check a configuration file; prints every problem')
    .addOption(configOption())
    .action(act((opts) => {
      const loaded = requireConfig(opts);
      const flows = loaded.config.integrations.reduce((n, i) => n + i.flows.length, 0);
      const warnings = loaded.warnings ?? [];
      out(`${loaded.file}: valid (${loaded.config.integrations.length} integrations, ${flows} flows)${warnings.length ? `, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}` : ''}`);
      for (const w of warnings) out(`warning: ${w}`);
      return 0;
    }));

  program
    .command('check')
    .description('test each source and destination: connect, authenticate, list or write a probe')
    .addOption(configOption())
    .option('--flow <name>', 'only this flow')
    .option('--url <url>', "only the network path to this URL: proxy, TLS and the server's answer")
    .action(act(async (opts) => {
      const loaded = requireConfig(opts);
      const silent = createLogger({ level: 'silent', stderr: false });
      const net = new Network(loaded.config.network, { log: silent });
      for (const line of await net.describe()) out(`network ${line}`);
      if (opts.url) {
        const r = await net.probe(opts.url);
        out(`${opts.url}: ${r.ok ? 'OK' : 'FAILED'} - ${r.message}${r.path ? `; ${r.path}` : ''}`);
        return r.ok ? 0 : 1;
      }
      let failures = 0;
      let checked = 0;
      let oauth: ReturnType<typeof standaloneManager> | undefined; // opened only for flows with OAuth
      for (const integration of loaded.config.integrations) {
        for (const flow of integration.flows) {
          if (opts.flow && flow.name !== opts.flow) continue;
          checked++;
          for (const role of ['source', 'destination'] as const) {
            const { type, ...cfg } = flow[role] as { type: string } & Record<string, unknown>;
            const def = connectorOf(type);
            const env: ConnectorEnv = { configDir: loaded.dir, log: silent, net, tokens: (auth) => (oauth ??= standaloneManager(loaded)).manager.provider(auth, flow.name, role) };
            const conn = role === 'source' ? def.createSource!(cfg, env) : def.createDestination!(cfg, env);
            const result = await conn.check();
            await conn.close?.();
            if (!result.ok) failures++;
            out(`${flow.name} ${role} (${type}): ${result.ok ? 'OK' : 'FAILED'}${result.message ? ` - ${result.message}` : ''}`);
          }
        }
      }
      oauth?.close();
      if (opts.flow && checked === 0) throw new UsageError(`--flow: no flow named "${opts.flow}"`);
      return failures > 0 ? 1 : 0;
    }));

  program
    .command('preview')
    .description("run a flow's process steps on a sample file: the first records after every step, each bad record, the items it would queue")
    .addOption(configOption())
    .requiredOption('--flow <name>', 'the flow whose process: steps to run')
    .requiredOption('--file <file>', 'sample input file')
    .option('--limit <n>', 'records shown per step', '5')
    .option('--json', 'print JSON')
    .action(act(async (opts) => {
      const loaded = requireConfig(opts);
      const flows = loaded.config.integrations.flatMap((i) => i.flows);
      const flow = flows.find((f) => f.name === opts.flow);
      if (!flow) throw new UsageError(`--flow: no flow named "${opts.flow}" (flows: ${flows.map((f) => f.name).join(', ') || 'none'})`);
      if (!flow.process) throw new UsageError(`flow ${flow.name} has no process: steps to preview`);
      if (!/^\d+$/.test(opts.limit) || Number(opts.limit) < 1) throw new UsageError(`--limit: expected a positive number, got "${opts.limit}"`);
      const file = path.resolve(opts.file);
      if (!fs.existsSync(file)) throw new UsageError(`--file: ${file} not found`);
      const report = await previewProcess(flow.process, flow.onRecordError, file, Number(opts.limit));
      if (opts.json) out(JSON.stringify(report, null, 2));
      else for (const line of previewLines(report, flow.name, file, Number(opts.limit))) out(line);
      return report.errors.length > 0 ? 1 : 0;
    }));
}
