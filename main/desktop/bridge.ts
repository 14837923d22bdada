// The one object the desktop preload exposes to the dashboard as `window.ferryDesktop` (types only here,
// so the renderer can import them with `import type`).

export interface DesktopConnection {
  /** Engine admin API base URL, e.g. "http://127.0.0.1:7399". */
  baseUrl: string;
  /** Bearer token for the admin API. */
  token: string;
}

export interface FerryDesktopBridge {
  /** Where the engine's admin API listens and its token (asked from the main process once). */
  connection(): Promise<DesktopConnection>;
  /** Native folder picker; resolves to the chosen folder or null when cancelled. */
  pickFolder(options?: { title?: string; defaultPath?: string }): Promise<string | null>;
  /** Registers (or removes) Ferry as a login item; resolves to the new setting. */
  setStartAtLogin(enabled: boolean): Promise<boolean>;
  /** "win32" | "darwin" | "linux". */
  platform: string;
}

/** IPC channels between preload.ts and main.ts (a type, so the sandboxed preload needs no shared module). */
export type IpcChannel = 'ferry:connection' | 'ferry:pick-folder' | 'ferry:set-start-at-login';
