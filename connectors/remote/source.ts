// The remote-folder source (FTP, SFTP): scheduled scans through the intake core (connectors/intake), with the
// remote stream reader (reader.ts) over a per-host connection pool. Servers send no change events.
import type { CheckResult, ConnectorLogger, SettledItem, Source, SourceContext } from '../contract.ts';
import type { IntakeActivity } from '../intake/activity.ts';
import { FileIntake } from '../intake/core.ts';
import { RemoteProblem } from './errors.ts';
import type { RemoteFs } from './protocol.ts';
import { RemoteReader } from './reader.ts';
import type { RemoteSourceConfig } from './schemas.ts';
import { SessionPool } from './session-pool.ts';

export class RemoteSource implements Source {
  private readonly cfg: RemoteSourceConfig;
  private readonly fs: RemoteFs;
  private readonly pool: SessionPool;
  private readonly reader: RemoteReader;
  private readonly intake: FileIntake;
  /**
   * Moves or deletes the original once delivered. Left out when files stay (keep): then a delivery has no step
   * to run or record afterwards.
   */
  readonly afterDelivery?: (item: SettledItem) => Promise<void>;

  constructor(cfg: RemoteSourceConfig, fs: RemoteFs, _log: ConnectorLogger) {
    this.cfg = cfg;
    this.fs = fs;
    this.pool = new SessionPool(fs, cfg.maxConnections);
    const archive = cfg.afterDelivery.action === 'move' ? cfg.afterDelivery.to : undefined;
    this.reader = new RemoteReader(fs, this.pool, { path: cfg.path, timeoutMs: cfg.timeoutMs, archive });
    this.intake = new FileIntake(this.reader, {
      include: cfg.include,
      exclude: cfg.exclude,
      tempNames: cfg.tempNames,
      recursive: cfg.recursive,
      readyMarker: cfg.readyMarker,
      ignoredDir: this.reader.archiveInsideRoot(),
      settleMs: cfg.settleMs,
      afterDelivery: cfg.afterDelivery.action,
    });
    if (cfg.afterDelivery.action !== 'keep') this.afterDelivery = (item) => this.intake.afterDelivery(item);
  }

  /** What the intake looked at and decided. */
  get activity(): IntakeActivity {
    return this.intake.activity;
  }

  async prepare(): Promise<void> {
    await this.fs.load?.();
  }

  async check(): Promise<CheckResult> {
    const root = this.reader.root;
    const pool = new SessionPool(this.fs, 1);
    try {
      const n = await pool.use(async (s) => {
        const st = await s.stat(root);
        if (!st) throw new RemoteProblem('missing', `folder missing: ${this.fs.label}${root}`);
        if (st.type !== 'dir') throw new RemoteProblem('missing', `folder missing: ${this.fs.label}${root} is not a folder`);
        const entries = await s.list(root);
        if (this.cfg.afterDelivery.action === 'move') await s.mkdirp(this.cfg.afterDelivery.to);
        return entries.length;
      });
      const note = this.fs.checkNote?.();
      return { ok: true, message: `${this.fs.label}${root} is readable (${n} entries)${note ? `; ${note}` : ''}` };
    } catch (err) {
      return { ok: false, message: this.fs.classify(err, root).reason };
    } finally {
      await pool.close();
    }
  }

  scan(ctx: SourceContext): Promise<void> {
    return this.intake.scan(ctx);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
