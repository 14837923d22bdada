// Auto-update through electron-updater. The feed is configurable: FERRY_UPDATE_URL (a generic HTTPS feed
// holding latest.yml / latest-mac.yml), else the `publish` settings electron-builder baked into the app
// (app-update.yml). Only a packaged app updates; a failed check is logged, never fatal. Each check first
// points the updater's session at the current network setting (proxy, credentials, network.tls.ca).
import electronUpdater from 'electron-updater';
import type { Logger } from '../engine/logger.ts';
import type { NetworkConfig } from '../../connectors/net/schema.ts';
import { followNetworkSetting, type UpdaterNet } from './update-network.ts';

export function startAutoUpdate(opts: { packaged: boolean; log: Logger; feedUrl?: string; channel?: string; network?: () => NetworkConfig }): void {
  if (!opts.packaged) return;
  const { autoUpdater } = electronUpdater;
  const feed = opts.feedUrl ?? process.env.FERRY_UPDATE_URL;
  if (feed) {
    if (!/^https:\/\//.test(feed)) {
      opts.log.warn({ feed }, 'update feed ignored: expected an https:// URL');
      return;
    }
    autoUpdater.setFeedURL({ provider: 'generic', url: feed, channel: opts.channel });
  }
  autoUpdater.autoDownload = true;
  autoUpdater.autoInstallOnAppQuit = true;
  autoUpdater.on('error', (err) => opts.log.warn({ err: err.message }, 'update check failed'));
  autoUpdater.on('update-downloaded', (info) => opts.log.info({ version: info.version }, 'update downloaded; it installs when Ferry quits'));
  const check = async () => {
    try {
      if (opts.network) await followNetworkSetting(autoUpdater as unknown as UpdaterNet, opts.network());
      await autoUpdater.checkForUpdates();
    } catch (err) {
      opts.log.warn({ err: (err as Error).message }, 'update check failed');
    }
  };
  void check();
  setInterval(check, 6 * 3600_000).unref();
}
