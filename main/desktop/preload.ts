// The desktop window's preload (sandboxed, context-isolated): exposes one small typed object,
// `window.ferryDesktop`, and nothing else. Compiled to CommonJS (dist/desktop/preload.cjs): a sandboxed
// preload may only require('electron').
import { contextBridge, ipcRenderer } from 'electron';
import type { DesktopConnection, FerryDesktopBridge, IpcChannel } from './bridge.ts';

const invoke = <T>(channel: IpcChannel, ...args: unknown[]) => ipcRenderer.invoke(channel, ...args) as Promise<T>;

const bridge: FerryDesktopBridge = {
  connection: () => invoke<DesktopConnection>('ferry:connection'),
  pickFolder: (options) => invoke<string | null>('ferry:pick-folder', { title: options?.title, defaultPath: options?.defaultPath }),
  setStartAtLogin: (enabled) => invoke<boolean>('ferry:set-start-at-login', enabled === true),
  platform: process.platform,
};

contextBridge.exposeInMainWorld('ferryDesktop', bridge);
