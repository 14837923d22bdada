// The Network settings: the config's `network` block as written (templates, never secret
// values) with what it means now; a change (validated as a whole config, written keeping comments, applied:
// every flow restarts with the new setting); and a test of one URL through the saved setting or through
// unsaved form values, which names the path taken or why it failed.
import { isMap, type Document } from 'yaml';
import { parseNetworkBlock } from '../config/load.ts';
import { assertSecretName } from '../secrets.ts';
import type { Engine } from '../engine.ts';
import { FerryApiError } from './errors.ts';
import { isPlainObject, problemFromLine } from './input.ts';
import { mergeInto, type ConfigFile } from './config-file.ts';
import type { ApplyReport, NetworkTestReply, NetworkTestRequest, NetworkUpdate, NetworkView, RawNetwork } from '../admin/types.ts';

interface Ctx {
  engine: Engine;
  configFile: ConfigFile;
}

function rawNetwork(ctx: Ctx): RawNetwork | null {
  const n = ctx.configFile.raw().network;
  return isPlainObject(n) ? (n as RawNetwork) : null;
}

async function view(ctx: Ctx, applied?: ApplyReport): Promise<NetworkView> {
  return { network: rawNetwork(ctx), effective: await ctx.engine.network.describe(), ...(applied ? { applied } : {}) };
}

export function getNetwork(ctx: Ctx): Promise<NetworkView> {
  return view(ctx);
}

/** Makes the document's `network` hold `block` (an empty block removes it: the defaults apply). */
export function putNetworkBlock(doc: Document.Parsed | Document, block: Record<string, unknown>): string {
  if (Object.keys(block).length === 0) {
    doc.delete('network');
    return 'network';
  }
  const existing = doc.get('network', true);
  if (isMap(existing)) mergeInto(doc, existing, block);
  else doc.set('network', doc.createNode(block));
  return 'network';
}

export async function putNetwork(ctx: Ctx, update: NetworkUpdate): Promise<NetworkView> {
  const { network: block, secrets = {} } = update;
  const store = ctx.engine.secrets;
  if (Object.keys(secrets).length > 0 && !store) throw new FerryApiError(501, 'this engine runs without a secret store: the password cannot be kept');
  for (const name of Object.keys(secrets)) {
    try {
      assertSecretName(name);
    } catch (err) {
      throw new FerryApiError(400, (err as Error).message, [{ path: `secrets.${name}`, message: (err as Error).message }]);
    }
  }
  // the new values count for the validation; they are stored only once the change is valid and written
  const lookup = (name: string) => secrets[name] ?? store?.lookup()(name);
  const applied: ApplyReport = await ctx.configFile.change(
    (doc) => putNetworkBlock(doc, block as Record<string, unknown>),
    (loaded) => {
      for (const [name, value] of Object.entries(secrets)) store!.set(name, value);
      return ctx.engine.applyConfig(loaded);
    },
    lookup,
  );
  ctx.engine.queue.addEvent('config', null, null, { network: 'changed', secrets: Object.keys(secrets) });
  return view(ctx, applied);
}

export async function testNetwork(ctx: Ctx, request: NetworkTestRequest): Promise<NetworkTestReply> {
  const { url, network } = request;
  let net = ctx.engine.network;
  if (network !== undefined) {
    const parsed = parseNetworkBlock(network, ctx.engine.loaded.dir, { secrets: ctx.engine.secrets?.lookup() });
    if (!parsed.ok) return { ok: false, message: 'the network settings are not valid', path: '', setting: [], problems: parsed.problems.map(problemFromLine) };
    net = ctx.engine.networkOf({ network: parsed.config });
  }
  const [result, setting] = await Promise.all([net.probe(url), net.describe()]);
  if (net !== ctx.engine.network) await net.close();
  return { ...result, setting };
}
