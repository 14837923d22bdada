// A flow's after-delivery steps (move or delete the source original once its delivery is confirmed), at most
// one run per item at a time, and the promises stop() waits for so nothing runs against a closed database.
import { errorMessage, type Source } from '../../connectors/contract.ts';
import type { Batcher } from './batcher.ts';
import type { Logger } from './logger.ts';
import type { FlowCounters } from './telemetry.ts';

export interface AfterDeliveryItem {
  id?: number;
  sourceKey: string;
  name: string;
  attributes: Record<string, any>;
}

export class AfterDeliveryRuns {
  private readonly running = new Set<string>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly source: Source,
    private readonly afterDone: Batcher<number, void>,
    private readonly counters: FlowCounters,
    private readonly log: Logger,
    private readonly noteError: (message: string) => void,
  ) {}

  /**
   * Moves/deletes the source original after a confirmed delivery; a failure is retried by maintenance.
   * At most one run per item at a time (delivery, duplicate detection and the retry sweep may all ask).
   */
  run(item: AfterDeliveryItem): void {
    const key = item.id ? `id:${item.id}` : `src:${item.sourceKey}`;
    if (this.running.has(key)) return;
    this.running.add(key);
    const p = (async () => {
      try {
        await this.source.afterDelivery!({ id: item.id ?? 0, sourceKey: item.sourceKey, name: item.name, attributes: item.attributes, outcome: 'delivered' });
        if (item.id) await this.afterDone.push(item.id);
      } catch (err) {
        this.counters.errors['after-delivery']++;
        const msg = `after-delivery step for ${item.name} failed: ${errorMessage(err)} (will retry)`;
        this.log.warn(msg);
        this.noteError(msg);
      } finally {
        this.running.delete(key);
      }
    })();
    this.track(p);
  }

  /** How many steps run now (the retry sweep leaves a busy flow alone). */
  get runningCount(): number {
    return this.running.size;
  }

  /** Keeps a promise until it settles, so drain() can wait for outcome commits and after-delivery steps. */
  track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Waits until nothing tracked is left, including what the ones awaited started meanwhile. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
