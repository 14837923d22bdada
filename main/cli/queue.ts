// `ferry status` and `ferry queue list|show|retry|discard`: through the engine API, the running Ferry's when
// one runs on the data dir, else the database's. --json keeps the snake_case shape these commands always printed.
import { Option, type Command } from 'commander';
import type { LoadedConfig } from '../engine/config/load.ts';
import { ITEM_STATES, type ItemState } from '../engine/store/queue.ts';
import type { StatusReport } from '../engine/status.ts';
import type { ItemDetail, ItemView, QueueActionRequest } from '../engine/admin/types.ts';
import { FerryApiError } from '../engine/api/errors.ts';
import { queueFlowNames } from '../engine/alerts/names.ts';
import { engineApiFor, type CliApi } from './engine-client.ts';
import { connectionLines, connectionNotes } from './connect.ts';
import { err, formatTime, out, table, UsageError } from './output.ts';
import { configOption, requireConfigForQueue, type Act } from './options.ts';

function printStatus(report: StatusReport): void {
  out(`Ferry is ${report.running ? 'running' : 'not running'} (${report.generatedAt})`);
  const rows = [['FLOW', 'STATE', 'QUEUED', 'RETRYING', 'IN-FLIGHT', 'DEAD', 'DELIVERED', 'LAST DELIVERY', 'DESTINATION']];
  for (const f of report.flows) {
    const state = !f.enabled ? 'disabled' : f.paused ? 'paused' : f.waitingFor ? 'waiting' : f.source.intakeBlocked ? 'blocked' : 'active';
    const dest = f.destination.health === 'unreachable' ? `unreachable since ${formatTime(f.destination.unreachableSince)}` : f.destination.health;
    rows.push([f.flow, state, String(f.counts.queued), String(f.counts.retrying), String(f.counts.inflight), String(f.counts.dead), String(f.counts.delivered), formatTime(f.lastDeliveryAt), `${f.destination.type}: ${dest}`]);
  }
  out(table(rows));
  for (const f of report.flows) {
    if (f.nextRunAt) out(`${f.flow}: ${f.trigger}, last run ${formatTime(f.lastRunAt)}, next run ${f.nextRunAt.slice(0, 19).replace('T', ' ')}Z`);
    if (f.source.intakeBlocked) out(`${f.flow}: intake paused: ${f.source.intakeBlocked}`);
    if (f.source.failingSince) out(`${f.flow}: source failing since ${formatTime(f.source.failingSince)}: ${f.source.problem}`);
    if (f.waitingFor) out(`${f.flow}: deliveries wait: ${f.waitingFor} (items stay queued)`);
    if (f.lastError) out(`${f.flow}: last error ${formatTime(f.lastErrorAt)}: ${f.lastError}`);
    for (const w of f.warnings ?? []) out(`${f.flow}: warning: ${w}`);
  }
  if (report.connections?.length) {
    out('');
    out(table([['CONNECTION', 'PROVIDER', 'STATE', 'LAST REFRESH', 'USED BY'], ...connectionLines(report.connections, formatTime)]));
    for (const line of connectionNotes(report.connections)) out(line);
  }
  for (const a of report.alerts ?? []) {
    const waiting = a.counts.queued + a.counts.inflight + a.counts.retrying;
    const state = a.health === 'failing' ? `FAILING (${waiting} waiting, ${a.counts.dead} failed): ${a.lastError ?? 'see ferry queue list --flow'}` : a.lastSentAt ? `OK, last sent ${formatTime(a.lastSentAt)}` : 'nothing sent yet';
    out(`alerts[${a.rule}] ${a.channel} (${a.on.join(', ')}): ${state}`);
  }
}

interface ItemSelection {
  flow?: string;
  state?: ItemState;
  id?: number;
  limit?: number;
}

function selectionFrom(opts: { flow?: string; state?: string; id?: string; limit?: string }, loaded: LoadedConfig): ItemSelection {
  const f: ItemSelection = {};
  if (opts.flow) {
    const known = queueFlowNames(loaded.config);
    if (!known.includes(opts.flow)) throw new UsageError(`--flow: no flow named "${opts.flow}" (flows: ${known.join(', ') || 'none'})`);
    f.flow = opts.flow;
  }
  if (opts.state) f.state = opts.state as ItemState;
  if (opts.id !== undefined) {
    if (!/^\d+$/.test(opts.id)) throw new UsageError(`--id: expected an item number, got "${opts.id}"`);
    f.id = Number(opts.id);
  }
  if (opts.limit !== undefined) {
    if (!/^\d+$/.test(opts.limit) || Number(opts.limit) < 1) throw new UsageError(`--limit: expected a positive whole number, got "${opts.limit}"`);
    f.limit = Number(opts.limit);
  }
  return f;
}

/** The most items one API call lists. */
const PAGE = 1000;

const ms = (iso: string | null) => (iso ? Date.parse(iso) : null);

/** An item as `queue list --json` and `queue show --json` have always printed it (the queue's column names). */
function itemJson(i: ItemView): Record<string, unknown> {
  return {
    id: i.id,
    flow: i.flow,
    state: i.state,
    idem_key: i.idempotencyKey,
    source_key: i.sourceKey,
    name: i.name,
    attrs: i.attributes,
    size: i.size,
    sha256: i.sha256,
    grp: i.group,
    attempts: i.attempts,
    next_at: ms(i.nextAttemptAt),
    last_error: i.lastError,
    last_status: i.lastStatus,
    last_response: i.lastResponse,
    created_at: ms(i.createdAt),
    updated_at: ms(i.updatedAt),
    settled_at: ms(i.settledAt),
    after_pending: i.afterDeliveryPending ? 1 : 0,
  };
}

function itemLine(i: ItemView): string[] {
  return [String(i.id), i.flow, i.state, String(i.attempts), i.name, i.lastError ?? ''];
}

/** Runs `fn` against the engine API for the config, closing it after; an API refusal is one line, exit 1. */
async function withApi(loaded: LoadedConfig, fn: (c: CliApi) => Promise<number>): Promise<number> {
  const c = engineApiFor(loaded);
  try {
    return await fn(c);
  } catch (e) {
    if (e instanceof FerryApiError && e.status < 500 && e.status !== 409) throw new UsageError(e.message);
    if (e instanceof FerryApiError) {
      err(`ferry: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    c.close();
  }
}

/** The items a selection names, as the API's retry/discard request. */
function actionRequest(f: ItemSelection): QueueActionRequest {
  return { ids: f.id !== undefined ? [f.id] : undefined, flow: f.flow, state: f.state };
}

function printItem(d: ItemDetail): void {
  const item = d.item;
  out(`item ${item.id} (${item.flow}): ${item.state}`);
  out(`  name:            ${item.name}`);
  out(`  size:            ${item.size} bytes, sha256 ${item.sha256}`);
  out(`  idempotency key: ${item.idempotencyKey}`);
  out(`  attempts:        ${item.attempts}`);
  out(`  queued:          ${item.createdAt}`);
  if (item.settledAt) out(`  settled:         ${item.settledAt}`);
  if (item.nextAttemptAt) out(`  next attempt:    ${item.nextAttemptAt}`);
  if (item.lastError) out(`  last error:      ${item.lastError}`);
  if (d.lastResponse) out(`  response:        ${d.lastResponse.slice(0, 500)}`);
  out('  attributes:');
  for (const [k, v] of Object.entries(item.attributes)) out(`    ${k}: ${String(v)}`);
  for (const a of d.attempts) out(`  attempt at ${a.at}: ${a.outcome}${a.status ? ` (${a.status})` : ''} ${a.error ?? ''}`);
}

export function registerQueueCommands(program: Command, act: Act): void {
  program
    .command('status')
    .description('per flow: counts by state, last delivery, last error, destination health')
    .addOption(configOption())
    .option('--json', 'print JSON')
    .action(act(async (opts) => {
      const loaded = requireConfigForQueue(opts);
      return withApi(loaded, async ({ api }) => {
        const report = await api.status();
        if (opts.json) out(JSON.stringify(report, null, 2));
        else printStatus(report);
        return 0;
      });
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
    .action(act(async (opts) => {
      const loaded = requireConfigForQueue(opts);
      const f = selectionFrom(opts, loaded);
      return withApi(loaded, async ({ api }) => {
        let items: ItemView[];
        let total: number;
        if (f.id !== undefined) {
          const found = await api.showItem(f.id).then((d) => [d.item], (e) => (e instanceof FerryApiError && e.status === 404 ? [] : Promise.reject(e)));
          items = found.filter((i) => (!f.flow || i.flow === f.flow) && (!f.state || i.state === f.state));
          total = items.length;
        } else {
          // the API pages at most 1,000 items at a time; a larger --limit reads page after page
          const want = f.limit ?? 50;
          items = [];
          total = 0;
          while (items.length < want) {
            const page = await api.listQueue({ flow: f.flow, state: f.state, limit: Math.min(PAGE, want - items.length), offset: items.length });
            items.push(...page.items);
            total = page.total;
            if (page.items.length === 0 || items.length >= page.total) break;
          }
        }
        if (opts.json) out(JSON.stringify(items.map(itemJson), null, 2));
        else if (items.length === 0) out('no items match');
        else {
          out(table([['ID', 'FLOW', 'STATE', 'ATTEMPTS', 'NAME', 'LAST ERROR'], ...items.map(itemLine)]));
          if (total > items.length) out(`(${items.length} of ${total}; use --limit)`);
        }
        return 0;
      });
    }));

  queueCmd('show', 'show one item with its attributes, attempts and errors')
    .option('--json', 'print JSON')
    .action(act(async (opts) => {
      const loaded = requireConfigForQueue(opts);
      if (!opts.id) throw new UsageError('queue show needs --id <id>');
      const id = selectionFrom(opts, loaded).id!;
      return withApi(loaded, async ({ api }) => {
        let d: ItemDetail;
        try {
          d = await api.showItem(id);
        } catch (e) {
          if (e instanceof FerryApiError && e.status === 404) {
            err(`no item ${id}`);
            return 1;
          }
          throw e;
        }
        if (opts.json) {
          const attempts = d.attempts.map((a) => ({ at: Date.parse(a.at), outcome: a.outcome, error: a.error, status: a.status }));
          out(JSON.stringify({ ...itemJson(d.item), attempts }, null, 2));
        } else printItem(d);
        return 0;
      });
    }));

  queueCmd('retry', 'queue dead or retrying items again (a fresh attempt budget)').action(act(async (opts) => {
    const loaded = requireConfigForQueue(opts);
    const f = selectionFrom(opts, loaded);
    if (f.id === undefined && !f.flow && !f.state) throw new UsageError('queue retry needs --id, --flow or --state (use --state dead to retry every dead item)');
    return withApi(loaded, async ({ api }) => {
      out(`requeued ${(await api.retry(actionRequest(f))).count} items`);
      return 0;
    });
  }));

  queueCmd('discard', 'drop waiting or dead items (they are not taken again)').action(act(async (opts) => {
    const loaded = requireConfigForQueue(opts);
    const f = selectionFrom(opts, loaded);
    if (f.id === undefined && !f.flow && !f.state) throw new UsageError('queue discard needs --id, --flow or --state');
    return withApi(loaded, async ({ api }) => {
      out(`discarded ${(await api.discard(actionRequest(f))).count} items`);
      return 0;
    });
  }));
}
