// Runs an Engine in-process on a config object (written as YAML, loaded like the CLI does).
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { writeConfig } from './cli.ts';
import { tempDir } from './tmp.ts';

export { freePort } from './net.ts';

export interface RunningEngine {
  engine: Engine;
  dir: string;
  stop(): Promise<void>;
}

/** Writes `config` (dataDir defaults to <dir>/data) into a temp folder and starts an engine on it. */
export async function startEngine(config: Record<string, unknown>, dir = tempDir('ferry-engine-')): Promise<RunningEngine> {
  const file = writeConfig(dir, { dataDir: './data', ...config });
  const engine = Engine.open(loadConfig(file), { stopGraceMs: 2000 });
  await engine.start();
  return { engine, dir, stop: () => engine.stop() };
}
