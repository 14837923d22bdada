// Auto-update through electron-updater. The feed is configurable: FERRY_UPDATE_URL (a generic HTTPS feed
// holding latest.yml / latest-mac.yml and beta.yml / beta-mac.yml), else the `publish` settings
// electron-builder baked into the app (app-update.yml). The channel: FERRY_UPDATE_CHANNEL, else the app's own
// (a 1.4.0-beta.2 build follows `beta`, which also carries the stable releases). Only a packaged app updates;
// a failed check is logged, never fatal. Each check first points the updater's session at the current network
// setting (proxy, credentials, network.tls.ca).
import electronUpdater from 'electron-updater';
import type { Logger } from '../engine/index.ts';
import type { NetworkConfig } from '../engine/index.ts';
import { followNetworkSetting, type UpdaterNet } from './update-network.ts';

/** The update channel of an app version: its pre-release tag ("beta" of 1.4.0-beta.2), else "latest". */
export function updateChannel(version: string, env: NodeJS.ProcessEnv = process.env): string {
  const forced = env.FERRY_UPDATE_CHANNEL?.trim();
  if (forced && /^[a-z][a-z0-9-]*$/.test(forced)) return forced;
  const pre = /^\d+\.\d+\.\d+-([a-z]+)/i.exec(version);
  return pre ? pre[1].toLowerCase() : 'latest';
}

export function startAutoUpdate(opts: { packaged: boolean; log: Logger; version: string; feedUrl?: string; channel?: string; network?: () => NetworkConfig }): void {
  if (!opts.packaged) return;
  const { autoUpdater } = electronUpdater;
  const channel = opts.channel ?? updateChannel(opts.version);
  // setting a channel also allows a downgrade (a beta user going back to the stable line): only when not latest
  if (channel !== 'latest') autoUpdater.channel = channel;
  const feed = opts.feedUrl ?? process.env.FERRY_UPDATE_URL;
  if (feed) {
    if (!/^https:\/\//.test(feed)) {
      opts.log.warn({ feed }, 'update feed ignored: expected an https:// URL');
      return;
    }
    autoUpdater.setFeedURL({ provider: 'generic', url: feed, channel });
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
