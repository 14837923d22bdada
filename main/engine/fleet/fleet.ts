// The engine's fleet part: the heartbeat publisher (`fleet.publish`) and the dashboard's reader
// (`fleet.view`), started, changed and stopped with the config.
import type { Engine } from '../engine.ts';
import { FleetPublisher } from './publisher.ts';
import { FleetWatcher } from './viewer.ts';
import type { FleetReport } from './report.ts';
import { FerryApiError } from '../api/errors.ts';

export class Fleet {
  private readonly engine: Engine;
  publisher?: FleetPublisher;
  watcher?: FleetWatcher;

  constructor(engine: Engine) {
    this.engine = engine;
  }

  /** Makes the running parts match the engine's config (a change restarts the part that changed). */
  async apply(): Promise<void> {
    const fleet = this.engine.config.fleet;
    const wantPublish = fleet?.publish ? JSON.stringify([fleet.agent, fleet.labels, fleet.publish]) : undefined;
    if (wantPublish !== this.publishKey) {
      await this.publisher?.stop();
      this.publisher = undefined;
      if (fleet?.publish) {
        this.publisher = new FleetPublisher(this.engine, fleet);
        this.publisher.start();
      }
      this.publishKey = wantPublish;
    }
    const view = fleet?.view;
    const wantView = view ? JSON.stringify(view) : undefined;
    if (wantView !== this.viewKey) {
      await this.watcher?.stop();
      this.watcher = undefined;
      if (view) {
        this.watcher = new FleetWatcher({ url: view.amqp, exchange: view.exchange }, this.engine.log.child({ component: 'fleet-view' }));
        this.watcher.start();
      }
      this.viewKey = wantView;
    }
  }

  private publishKey?: string;
  private viewKey?: string;

  /** GET /api/fleet: what the Fleet page shows. */
  view(): FleetReport {
    if (!this.watcher) throw new FerryApiError(404, 'no fleet view: set fleet.view.amqp in the config to list the agents publishing to a broker');
    return this.watcher.report();
  }

  async stop(): Promise<void> {
    await this.publisher?.stop();
    await this.watcher?.stop();
    this.publisher = undefined;
    this.watcher = undefined;
    this.publishKey = this.viewKey = undefined;
  }
}
