// The `ferry` command (headless). Exit codes: 0 ok, 2 bad usage or config, 1 runtime failure.
// Each error is one clear line on stderr.
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, dataDirOfConfigFile, loadConfig, type LoadedConfig } from './engine/config/load.ts';
import { Engine, openStore } from './engine/engine.ts';
import { createLogger, type LogLevel } from './engine/logger.ts';
import { DataDirError, isDataDirLocked } from './engine/store/datadir.ts';
import { ITEM_STATES, type ItemFilter, type ItemState, type ItemSummary } from './engine/store/queue.ts';
import { readStatus, type StatusReport } from './engine/status.ts';
import { connectorOf } from './engine/registry.ts';
import { loadStartConfig, startConfigFile } from './start-config.ts';
import { decideDesktop, probeDesktop, runDesktop, type DesktopDecision } from './desktop/launch.ts';
import { errorMessage } from '../connectors/contract.ts';
import { assertSecretName, SecretError, SecretStore } from './engine/secrets.ts';
import { scrubberFor } from './engine/scrub.ts';
import { loginLink, readAdminInfo, readAdminToken } from './engine/admin/login.ts';
import { installPlan, uninstallPlan, type ServiceOptions } from './engine/service.ts';
import { decideServiceInstall } from './engine/service-install.ts';
import { packageRoot } from './engine/paths.ts';
import { previewLines, previewProcess } from './engine/process/preview.ts';
import { Network } from '../connectors/net/index.ts';
import { registerFleetCommands } from './fleet-cli.ts';

class UsageError extends Error {}

/** Set once stdout's reader went away (`ferry status | head -3`): the rest of the output is dropped, not an error. */
let stdoutGone = false;
/**
 * What is printed passes through the loaded config's scrubber: a value of ${env:…} / ${secret:…} shows as
 * [env:NAME] / [secret:NAME], also in texts an older version stored unscrubbed.
 */
let scrubOutput = (text: string) => text;
const out = (line = '') => {
  if (!stdoutGone) process.stdout.write(`${scrubOutput(line)}\n`);
};

function dropOutputWhenReaderCloses(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stdoutGone = true;
  });
}
const err = (line: string) => process.stderr.write(`${scrubOutput(line)}\n`);

function configOption(): Option {
  return new Option('-c, --config <file>', 'configuration file (YAML or JSON)').env('FERRY_CONFIG');
}

function requireConfig(opts: { config?: string }): LoadedConfig {
  if (!opts.config) throw new UsageError('missing --config <file> (or set FERRY_CONFIG)');
  const store = secretStoreFor(opts.config);
  return scrubbingOutput(loadConfig(opts.config, { secrets: store.lookup() }), store);
}

/** For commands that only read or repair the queue: they need no passwords, so missing ones are no problem. */
function requireConfigForQueue(opts: { config?: string }): LoadedConfig {
  if (!opts.config) throw new UsageError('missing --config <file> (or set FERRY_CONFIG)');
  const store = secretStoreFor(opts.config);
  return scrubbingOutput(loadConfig(opts.config, { secrets: store.lookup(), allowMissingSecrets: true }), store);
}

/** From here on, what the command prints is scrubbed of this config's credentials. */
function scrubbingOutput(loaded: LoadedConfig, store: SecretStore): LoadedConfig {
  scrubOutput = scrubberFor(loaded, store).text;
  return loaded;
}

/** The secret store of the data dir a config file names (issue 6: ${secret:NAME}). */
function secretStoreFor(configFile: string): SecretStore {
  return new SecretStore(dataDirOfConfigFile(configFile));
}

const logLevelOption = () =>
  new Option('--log-level <level>', 'log level').choices(['trace', 'debug', 'info', 'warn', 'error', 'silent']);

/** Runs the engine until SIGINT/SIGTERM, then stops it cleanly. */
async function runEngine(loaded: LoadedConfig, logLevel?: LogLevel, banner?: (engine: Engine) => void): Promise<number> {
  const level = logLevel ?? loaded.config.logLevel;
  const secrets = new SecretStore(loaded.dataDir);
  const scrubber = scrubberFor(loaded, secrets);
  scrubOutput = scrubber.text;
  const log = createLogger({ level, logDir: path.join(loaded.dataDir, 'logs'), scrub: scrubber.text });
  const engine = Engine.open(loaded, { log, secrets, scrubber, admin: process.env.FERRY_ADMIN === 'off' ? false : {} });
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
      // issue 6: `kill -HUP` re-reads the config file (as the admin API's edits do)
      process.on('SIGHUP', () => {
        engine.reload().then(
          (r) => log.info(r, 'configuration reloaded (SIGHUP)'),
          (e) => log.error({ err: e instanceof ConfigError ? e.problems.join('; ') : errorMessage(e) }, 'configuration not reloaded: the running flows are unchanged'),
        );
      });
    }
  });
  await engine.start();
  banner?.(engine);
  if (engine.admin) {
    out(`Dashboard: ${engine.admin.url}/ (admin API token in ${path.join(loaded.dataDir, 'admin-token')}; \`ferry dashboard --config ${loaded.file}\` prints a login link)`);
  }
  return done;
}

function formatTime(iso: string | null): string {
  if (!iso) return '-';
  const ms = Date.now() - Date.parse(iso);
  const ago = ms < 60_000 ? `${Math.round(ms / 1000)} s ago` : ms < 3600_000 ? `${Math.round(ms / 60_000)} min ago` : ms < 86_400_000 ? `${Math.round(ms / 3600_000)} h ago` : iso.slice(0, 16).replace('T', ' ');
  return ms < 0 ? iso.slice(0, 19).replace('T', ' ') : ago;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

function printStatus(report: StatusReport): void {
  out(`Ferry is ${report.running ? 'running' : 'not running'} (${report.generatedAt})`);
  const rows = [['FLOW', 'STATE', 'QUEUED', 'RETRYING', 'IN-FLIGHT', 'DEAD', 'DELIVERED', 'LAST DELIVERY', 'DESTINATION']];
  for (const f of report.flows) {
    const state = !f.enabled ? 'disabled' : f.paused ? 'paused' : f.source.intakeBlocked ? 'blocked' : 'active';
    const dest = f.destination.health === 'unreachable' ? `unreachable since ${formatTime(f.destination.unreachableSince)}` : f.destination.health;
    rows.push([f.flow, state, String(f.counts.queued), String(f.counts.retrying), String(f.counts.inflight), String(f.counts.dead), String(f.counts.delivered), formatTime(f.lastDeliveryAt), `${f.destination.type}: ${dest}`]);
  }
  out(table(rows));
  for (const f of report.flows) {
    if (f.nextRunAt) out(`${f.flow}: ${f.trigger}, last run ${formatTime(f.lastRunAt)}, next run ${f.nextRunAt.slice(0, 19).replace('T', ' ')}Z`);
    if (f.source.intakeBlocked) out(`${f.flow}: intake paused: ${f.source.intakeBlocked}`);
    if (f.source.failingSince) out(`${f.flow}: source failing since ${formatTime(f.source.failingSince)}: ${f.source.problem}`);
    if (f.lastError) out(`${f.flow}: last error ${formatTime(f.lastErrorAt)}: ${f.lastError}`);
    for (const w of f.warnings ?? []) out(`${f.flow}: warning: ${w}`);
  }
}

function filterFrom(opts: { flow?: string; state?: string; id?: string; limit?: string }, loaded: LoadedConfig): ItemFilter {
  const f: ItemFilter = {};
  if (opts.flow) {
    const known = loaded.config.integrations.flatMap((i) => i.flows.map((fl) => fl.name));
    if (!known.includes(opts.flow)) throw new UsageError(`--flow: no flow named "${opts.flow}" (flows: ${known.join(', ') || 'none'})`);
    f.flow = opts.flow;
  }
  if (opts.state) f.state = opts.state as ItemState;
  if (opts.id !== undefined) {
    if (!/^\d+$/.test(opts.id)) throw new UsageError(`--id: expected an item number, got "${opts.id}"`);
    f.id = Number(opts.id);
  }
  if (opts.limit !== undefined) f.limit = Number(opts.limit);
  return f;
}

function itemLine(i: ItemSummary): string[] {
  return [String(i.id), i.flow, i.state, String(i.attempts), i.name, i.last_error ?? ''];
}

export function buildProgram(result: { code: number } = { code: 0 }): Command {
  /** Wraps an action so its returned exit code reaches main(). */
  const act =
    (fn: (opts: any) => number | Promise<number>) =>
    async (opts: any) => {
      result.code = await fn(opts);
    };
  const program = new Command('ferry')
    .description('Ferry: moves files and records between legacy systems and SaaS APIs, durably.')
    .version(JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .showHelpAfterError('(run ferry --help for usage)');

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
    .command('status')
    .description('per flow: counts by state, last delivery, last error, destination health')
    .addOption(configOption())
    .option('--json', 'print JSON')
    .action(act(async (opts) => {
      const loaded = requireConfigForQueue(opts);
      const store = openStore(loaded.dataDir, { create: false });
      try {
        const report = readStatus(loaded.config, store.queue, store.flowStates, isDataDirLocked(loaded.dataDir));
        if (opts.json) out(JSON.stringify(report, null, 2));
        else printStatus(report);
      } finally {
        store.close();
      }
      return 0;
    }));

  const queue = program.command('queue').description('inspect and repair the queue');
  const queueCmd = (name: string, description: string) =>
    queue
      .command(name)
      .description(description)
      .addOption(configOption())
      .option('--flow <name>', 'only this flow')
      .addOption(new Option('--state <state>', 'only items in this state').choices(ITEM_STATES))
      .option('--id <id>', 'only this item');

  queueCmd('list', 'list items (newest first)')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'print JSON')
    .action(act((opts) => {
      const loaded = requireConfigForQueue(opts);
      const f = filterFrom(opts, loaded);
      const store = openStore(loaded.dataDir, { create: false });
      try {
        const items = store.queue.list(f);
        if (opts.json) out(JSON.stringify(items.map((i) => ({ ...i, attrs: JSON.parse(i.attrs) })), null, 2));
        else if (items.length === 0) out('no items match');
        else {
          out(table([['ID', 'FLOW', 'STATE', 'ATTEMPTS', 'NAME', 'LAST ERROR'], ...items.map(itemLine)]));
          const total = store.queue.count({ ...f, limit: undefined });
          if (total > items.length) out(`(${items.length} of ${total}; use --limit)`);
        }
      } finally {
        store.close();
      }
      return 0;
    }));

  queueCmd('show', 'show one item with its attributes, attempts and errors')
    .option('--json', 'print JSON')
    .action(act((opts) => {
      const loaded = requireConfigForQueue(opts);
      if (!opts.id) throw new UsageError('queue show needs --id <id>');
      const id = filterFrom(opts, loaded).id!;
      const store = openStore(loaded.dataDir, { create: false });
      try {
        const item = store.queue.list({ id })[0];
        if (!item) {
          err(`no item ${id}`);
          return 1;
        }
        const attempts = store.queue.attemptsOf(id);
        const view = { ...item, attrs: JSON.parse(item.attrs), attempts };
        if (opts.json) out(JSON.stringify(view, null, 2));
        else {
          out(`item ${item.id} (${item.flow}): ${item.state}`);
          out(`  name:            ${item.name}`);
          out(`  size:            ${item.size} bytes, sha256 ${item.sha256}`);
          out(`  idempotency key: ${item.idem_key}`);
          out(`  attempts:        ${item.attempts}`);
          out(`  queued:          ${new Date(item.created_at).toISOString()}`);
          if (item.settled_at) out(`  settled:         ${new Date(item.settled_at).toISOString()}`);
          if (item.state === 'retrying') out(`  next attempt:    ${new Date(item.next_at).toISOString()}`);
          if (item.last_error) out(`  last error:      ${item.last_error}`);
          if (item.last_response) out(`  response:        ${item.last_response.slice(0, 500)}`);
          out('  attributes:');
          for (const [k, v] of Object.entries(view.attrs)) out(`    ${k}: ${String(v)}`);
          for (const a of attempts) out(`  attempt at ${new Date(a.at).toISOString()}: ${a.outcome}${a.status ? ` (${a.status})` : ''} ${a.error ?? ''}`);
        }
      } finally {
        store.close();
      }
      return 0;
    }));

  queueCmd('retry', 'queue dead or retrying items again (a fresh attempt budget)').action(act((opts) => {
    const loaded = requireConfigForQueue(opts);
    const f = filterFrom(opts, loaded);
    if (f.id === undefined && !f.flow && !f.state) throw new UsageError('queue retry needs --id, --flow or --state (use --state dead to retry every dead item)');
    const store = openStore(loaded.dataDir, { create: false });
    try {
      out(`requeued ${store.queue.retry(f)} items`);
    } finally {
      store.close();
    }
    return 0;
  }));

  queueCmd('discard', 'drop waiting or dead items (they are not taken again)').action(act(async (opts) => {
    const loaded = requireConfigForQueue(opts);
    const f = filterFrom(opts, loaded);
    if (f.id === undefined && !f.flow && !f.state) throw new UsageError('queue discard needs --id, --flow or --state');
    const store = openStore(loaded.dataDir, { create: false });
    try {
      const rows = store.queue.discard(f);
      for (const r of rows) if (r.bodyFile) await store.content.remove(r.bodyFile);
      out(`discarded ${rows.length} items`);
    } finally {
      store.close();
    }
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
      for (const integration of loaded.config.integrations) {
        for (const flow of integration.flows) {
          if (opts.flow && flow.name !== opts.flow) continue;
          checked++;
          for (const role of ['source', 'destination'] as const) {
            const { type, ...cfg } = flow[role] as { type: string } & Record<string, unknown>;
            const def = connectorOf(type);
            const env = { configDir: loaded.dir, log: silent, net };
            const conn = role === 'source' ? def.createSource!(cfg, env) : def.createDestination!(cfg, env);
            const result = await conn.check();
            await conn.close?.();
            if (!result.ok) failures++;
            out(`${flow.name} ${role} (${type}): ${result.ok ? 'OK' : 'FAILED'}${result.message ? ` - ${result.message}` : ''}`);
          }
        }
      }
      if (opts.flow && checked === 0) throw new UsageError(`--flow: no flow named "${opts.flow}"`);
      return failures > 0 ? 1 : 0;
    }));

  // ---------------------------------------------------------------- issue 6: secrets, dashboard link, service
  addIssue6Commands(program, act);

  // ---- issue 4 (records and APIs): preview a flow's process steps on a sample file
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

  return program;
}

/** Reads a secret's value: piped stdin (one trailing newline dropped), or a hidden prompt on a terminal. */
async function readSecretValue(name: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of stdin as AsyncIterable<Buffer>) chunks.push(c);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  process.stderr.write(`Value for ${name} (not shown): `);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new UsageError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Issue 6: `ferry secret set|list|delete`, `ferry dashboard`, `ferry service install|uninstall`. */
function addIssue6Commands(program: Command, act: (fn: (opts: any) => number | Promise<number>) => (opts: any) => Promise<void>): void {
  const needConfig = (opts: { config?: string }) => {
    if (!opts.config) throw new UsageError('missing --config <file> (or set FERRY_CONFIG)');
    return opts.config;
  };
  const withStore = (opts: { config?: string }) => secretStoreFor(needConfig(opts));
  const secretErrors = (fn: () => number | Promise<number>) => async () => {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof SecretError) throw new UsageError(e.message);
      throw e;
    }
  };

  registerFleetCommands(program, { act, out, table, formatTime, loadConfig: requireConfig, usage: (m) => new UsageError(m) });

  const secret = program.command('secret').description('secrets for ${secret:NAME} in configs (encrypted in the data dir; see docs/secrets.md)');
  secret
    .command('set <name>')
    .description('store a secret; the value is read from stdin or a hidden prompt, never from the command line')
    .addOption(configOption())
    .action(async (name: string, opts: any) =>
      act(secretErrors(async () => {
        assertSecretName(name);
        const store = withStore(opts);
        const value = await readSecretValue(name);
        if (!value) throw new UsageError(`no value given for ${name} (pipe it in: printf %s "$VALUE" | ferry secret set ${name} --config …)`);
        store.set(name, value);
        out(`secret ${name} stored (${store.describeStorage()}); refer to it as \${secret:${name}}; a running Ferry picks it up on its next config change or restart`);
        return 0;
      }))(opts));
  secret
    .command('list')
    .description('list secret names (never values)')
    .addOption(configOption())
    .action(async (opts: any) =>
      act(secretErrors(() => {
        const store = withStore(opts);
        const list = store.list();
        if (list.length === 0) out('no secrets stored');
        else out(table([['NAME', 'UPDATED'], ...list.map((s) => [s.name, new Date(s.updatedAt).toISOString()])]));
        out(`storage: ${store.describeStorage()}`);
        return 0;
      }))(opts));
  secret
    .command('delete <name>')
    .description('delete a secret')
    .addOption(configOption())
    .action(async (name: string, opts: any) =>
      act(secretErrors(() => {
        const store = withStore(opts);
        if (!store.delete(name)) {
          err(`no secret named ${name}`);
          return 1;
        }
        out(`secret ${name} deleted`);
        return 0;
      }))(opts));

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
