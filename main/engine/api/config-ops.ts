// The config as a UI edits it (read, validate, change and apply), and what helps write one: a connection
// check, a source's dry run, a schedule's next runs.
import { z } from 'zod';
import { CronSchedule, cronProblem } from '../schedule.ts';
import type { Engine } from '../engine.ts';
import { configSchema } from '../config/schema.ts';
import { parseEndpoint } from '../config/load.ts';
import { connectors, connectorOf } from '../registry.ts';
import { errorMessage, type ConnectorEnv } from '../../../connectors/contract.ts';
import type { CheckReply, CheckRequest, ConfigView, DryRunReply, DryRunRequest, ScheduleReply, ValidateReply, ValidateRequest } from '../admin/types.ts';
import { putFlow, putIntegration, type ConfigFile } from './config-file.ts';
import { FerryApiError } from './errors.ts';
import { isPlainObject, problemFromLine } from './input.ts';
import { knownFlow } from './queue-ops.ts';

let schemaCache: Pick<ConfigView, 'schema' | 'connectors'> | undefined;

export function getConfig(configFile: ConfigFile): ConfigView {
  schemaCache ??= {
    schema: z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
    connectors: connectors.map((c) => ({
      type: c.type,
      source: c.sourceSchema ? (z.toJSONSchema(c.sourceSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : undefined,
      destination: c.destinationSchema ? (z.toJSONSchema(c.destinationSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>) : undefined,
      changeEvents: c.changeEvents === true,
    })),
  };
  return { file: configFile.file, config: configFile.raw(), ...schemaCache };
}

const VALIDATE_SHAPES = 'expected { config } or { integration, flow } or { integration: {…} }';

export function validate(configFile: ConfigFile, body: ValidateRequest | unknown): ValidateReply {
  if (!isPlainObject(body)) throw new FerryApiError(400, VALIDATE_SHAPES);
  let proposal;
  if ('config' in body) proposal = configFile.validateWhole(body.config);
  else if (typeof body.integration === 'string' && 'flow' in body) {
    const flow = body.flow;
    const name = isPlainObject(flow) && typeof flow.name === 'string' && flow.name ? flow.name : '';
    proposal = configFile.propose((doc) => putFlow(doc, body.integration as string, name || '(unnamed)', flow));
  } else if (isPlainObject(body.integration)) {
    const intg = body.integration;
    proposal = configFile.propose((doc) => putIntegration(doc, typeof intg.name === 'string' && intg.name ? intg.name : '(unnamed)', intg));
  } else throw new FerryApiError(400, VALIDATE_SHAPES);
  return proposal.ok ? { ok: true, problems: [], warnings: proposal.warnings } : { ok: false, problems: proposal.problems };
}

async function runCheck(fn: () => Promise<{ ok: boolean; message?: string }>): Promise<CheckReply> {
  try {
    const r = await fn();
    return { ok: r.ok, message: r.message ?? (r.ok ? 'OK' : 'failed') };
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  }
}

const CHECK_SHAPES = 'expected { flow, role } or { source } or { destination }';

/** A configured flow's endpoint, or an unsaved block; never throws for a failed check (`ok: false`, why). */
export async function check(engine: Engine, body: CheckRequest | unknown): Promise<CheckReply> {
  if (!isPlainObject(body)) throw new FerryApiError(400, CHECK_SHAPES);
  let role: 'source' | 'destination';
  let block: unknown;
  if (typeof body.flow === 'string') {
    const name = knownFlow(engine.flowNames(), body.flow);
    if (body.role !== 'source' && body.role !== 'destination') throw new FerryApiError(400, `role: expected "source" or "destination", got ${JSON.stringify(body.role)}`, [{ path: 'role', message: 'expected "source" or "destination"' }]);
    const flow = engine.flows.get(name);
    if (!flow) throw new FerryApiError(409, `flow ${name} is not loaded`);
    const conn = body.role === 'source' ? flow.source : flow.destination;
    return runCheck(() => conn.check());
  }
  if ('source' in body) (role = 'source'), (block = body.source);
  else if ('destination' in body) (role = 'destination'), (block = body.destination);
  else throw new FerryApiError(400, CHECK_SHAPES);
  const parsed = parseEndpoint(role, block, engine.loaded.dir, { secrets: engine.secrets?.lookup() });
  if (!parsed.ok) return { ok: false, message: `the ${role} settings are not valid`, problems: parsed.problems.map(problemFromLine) };
  const def = connectorOf(parsed.type);
  // an unsaved block's OAuth uses the engine's connections (a test of an unsaved form is no flow: held by none)
  const env: ConnectorEnv = { configDir: engine.loaded.dir, log: engine.log.child({ check: parsed.type }), net: engine.network, tokens: (auth) => engine.connections.provider(auth, '(test)', 'source') };
  let conn;
  try {
    conn = role === 'source' ? def.createSource!(parsed.config, env) : def.createDestination!(parsed.config, env);
  } catch (err) {
    return { ok: false, message: errorMessage(err) };
  }
  try {
    return await runCheck(() => conn.check());
  } finally {
    await conn.close?.().catch(() => undefined);
  }
}

/** What a source would take now: matching files, complete or still being written. */
export async function dryRun(engine: Engine, body: DryRunRequest | unknown): Promise<DryRunReply> {
  if (!isPlainObject(body) || !('source' in body)) throw new FerryApiError(400, 'expected { source: { type, … } }');
  const empty = { files: [], complete: 0, writing: 0, truncated: false };
  const parsed = parseEndpoint('source', body.source, engine.loaded.dir, { secrets: engine.secrets?.lookup() });
  if (!parsed.ok) return { ok: false, message: 'the source settings are not valid', problems: parsed.problems.map(problemFromLine), ...empty };
  const def = connectorOf(parsed.type);
  const source = def.createSource!(parsed.config, { configDir: engine.loaded.dir, log: engine.log.child({ dryRun: parsed.type }), net: engine.network });
  try {
    if (!source.dryRun) return { ok: false, message: `${parsed.type} sources have no dry run`, ...empty };
    const r = await source.dryRun({ maxFiles: 1000, maxWaitMs: 3000 });
    if (!r.ok) return { ok: false, message: r.message, ...empty };
    const complete = r.files.filter((f) => f.state === 'complete').length;
    const writing = r.files.length - complete;
    const n = r.files.length;
    const message =
      n === 0 ? 'no existing files match' : `${n}${r.truncated ? '+' : ''} existing file${n === 1 ? '' : 's'} match${n === 1 ? 'es' : ''}${writing > 0 ? `; ${writing} ${writing === 1 ? 'is' : 'are'} still being written` : ''}`;
    return { ok: true, message, files: r.files, complete, writing, truncated: r.truncated };
  } catch (err) {
    return { ok: false, message: errorMessage(err), ...empty };
  } finally {
    await source.close?.().catch(() => undefined);
  }
}

/** The next `count` runs of a cron expression in a time zone (the schedule's own interpretation). */
export function nextRuns(expr: string, timezone = Intl.DateTimeFormat().resolvedOptions().timeZone, count = 5): ScheduleReply {
  const problems = [];
  const problem = expr ? cronProblem(expr) : 'required (expected a cron expression like "*/5 * * * *")';
  if (problem) problems.push({ path: 'cron', message: problem });
  if (!Number.isInteger(count) || count < 1 || count > 50) problems.push({ path: 'count', message: `expected a whole number from 1 to 50, got ${count}` });
  let fmt: Intl.DateTimeFormat | undefined;
  try {
    fmt = new Intl.DateTimeFormat('sv-SE', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  } catch {
    problems.push({ path: 'timezone', message: `expected an IANA time zone like "Europe/Berlin", got ${JSON.stringify(timezone)}` });
  }
  if (problems.length > 0 || !fmt) return { ok: false, times: [], local: [], timezone, problems };
  const times = new CronSchedule(expr, timezone).nextRuns(new Date(), count).map((d) => d.toISOString());
  return { ok: true, times, local: times.map((t) => fmt.format(new Date(t))), timezone, problems: [] };
}
