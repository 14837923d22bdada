// Runs the real engine in the test process on a config written to a temp folder (for integration tests
// that need to look inside the queue while it runs).
import { loadConfig } from '../../main/engine/config/load.ts';
import { Engine } from '../../main/engine/engine.ts';
import { silentLogger } from '../../main/engine/logger.ts';
import type { ItemState } from '../../main/engine/store/queue.ts';
import { writeConfig } from './cli.ts';

export interface EngineRun {
  engine: Engine;
  count(flow: string, state?: ItemState): number;
  lastError(flow: string): string | undefined;
  stop(): Promise<void>;
}

/** Writes `config` into dir, opens the engine on it and starts it. */
export async function runEngine(dir: string, config: object): Promise<EngineRun> {
  const file = writeConfig(dir, { dataDir: './data', admin: { port: 0 }, minFreeDiskMb: 0, ...config });
  const engine = Engine.open(loadConfig(file), { log: silentLogger, stopGraceMs: 2000 });
  await engine.start();
  return {
    engine,
    count: (flow, state) => engine.queue.count({ flow, state }),
    lastError: (flow) => engine.flow(flow).facts.lastError,
    stop: () => engine.stop(),
  };
}

/** A one-flow integration around a source and a destination block. */
export function oneFlow(source: object, destination: object, extra: object = {}): object {
  return {
    integrations: [
      {
        name: 'remote',
        flows: [{ name: 'f', source, destination, trigger: { schedule: '* * * * * *' }, retry: { initialDelayMs: 200, maxDelayMs: 1000, maxAttempts: 50 }, circuitBreaker: { failureThreshold: 100, cooldownMs: 200 }, ...extra }],
      },
    ],
  };
}
