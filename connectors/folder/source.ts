// Folder source: takes a file only once it is complete (size and mtime unchanged for settleMs across two
// observations, or its ready marker exists), queues it, and moves/deletes it only after delivery. The
// deciding, taking and after-delivery are the intake core's (connectors/intake); this folder supplies the
// reader (reader.ts) and the change events (events.ts).
import fs from 'node:fs';
import { errorMessage, type CheckResult, type ConnectorEnv, type DryRunOptions, type DryRunResult, type SettledItem, type Source, type SourceContext } from '../contract.ts';
import type { IntakeActivity } from '../intake/activity.ts';
import { FileIntake } from '../intake/core.ts';
import { dryRun } from '../intake/dry-run.ts';
import { watchFiles } from '../intake/watch.ts';
import { nativeFeed, pollingFeed, type FolderFeedOptions } from './events.ts';
import { FolderReader } from './reader.ts';
import type { FolderSourceConfig } from './schema.ts';

export class FolderSource implements Source {
  private readonly cfg: FolderSourceConfig;
  private readonly reader: FolderReader;
  private readonly intake: FileIntake;
  private readonly feed: FolderFeedOptions;
  /**
   * Moves or deletes the original once delivered. Left out when files stay (keep): then a delivery has no step
   * to run or record afterwards.
   */
  readonly afterDelivery?: (item: SettledItem) => Promise<void>;

  constructor(cfg: FolderSourceConfig, env: ConnectorEnv) {
    this.cfg = cfg;
    const archive = cfg.afterDelivery.action === 'move' ? cfg.afterDelivery.to : undefined;
    this.reader = new FolderReader(cfg.path, { archive, usePolling: cfg.usePolling, log: env.log });
    const ignoredDir = this.reader.archiveInsideRoot();
    this.intake = new FileIntake(this.reader, {
      include: cfg.include,
      exclude: cfg.exclude,
      recursive: cfg.recursive,
      depth: cfg.depth,
      readyMarker: cfg.readyMarker,
      ignoredDir,
      settleMs: cfg.settleMs,
      afterDelivery: cfg.afterDelivery.action,
      existingFiles: cfg.existingFiles,
    });
    this.feed = { recursive: cfg.recursive, depth: cfg.depth, ignoredDir, pollIntervalMs: cfg.pollIntervalMs };
    if (cfg.afterDelivery.action !== 'keep') this.afterDelivery = (item) => this.intake.afterDelivery(item);
  }

  /** What the intake looked at and decided. */
  get activity(): IntakeActivity {
    return this.intake.activity;
  }

  async check(): Promise<CheckResult> {
    const root = this.reader.root;
    try {
      const st = await fs.promises.stat(root);
      if (!st.isDirectory()) return { ok: false, message: `${root} is not a folder` };
      await fs.promises.access(root, fs.constants.R_OK | (this.cfg.afterDelivery.action === 'keep' ? 0 : fs.constants.W_OK));
      if (this.cfg.afterDelivery.action === 'move') {
        await fs.promises.mkdir(this.cfg.afterDelivery.to, { recursive: true });
        await fs.promises.access(this.cfg.afterDelivery.to, fs.constants.W_OK);
      }
      return { ok: true, message: `folder ${root} is readable` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { ok: false, message: `folder missing: ${root}` };
      if (code === 'EACCES' || code === 'EPERM') return { ok: false, message: `permission denied: ${(err as NodeJS.ErrnoException).path ?? root}` };
      return { ok: false, message: errorMessage(err) };
    }
  }

  dryRun(opts: DryRunOptions = {}): Promise<DryRunResult> {
    return dryRun(this.reader, this.intake.rules, this.cfg.settleMs, opts);
  }

  async scan(ctx: SourceContext): Promise<void> {
    this.reader.chooseFileOps();
    await this.intake.scan(ctx);
  }

  async watch(ctx: SourceContext): Promise<() => Promise<void>> {
    this.reader.chooseFileOps();
    return watchFiles(this.intake, ctx, {
      reconcileMs: this.cfg.reconcileMs,
      startFeed: async (sink) => (this.cfg.usePolling ? pollingFeed(this.reader, this.feed, sink) : nativeFeed(this.reader, this.feed, sink)),
      poll: this.cfg.usePolling ? { everyMs: this.cfg.pollIntervalMs, perFileUpTo: this.cfg.pollFilesUpTo, stampsOf: (rels) => this.reader.folderStamps(rels) } : undefined,
    });
  }
}
