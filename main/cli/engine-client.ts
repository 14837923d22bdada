// Which engine API a CLI command talks to: the admin API of the Ferry running on the config's data dir (so
// the command acts through the engine), or, when none runs, the database itself (StoreApi).
import type { LoadedConfig } from '../engine/config/load.ts';
import { readAdminInfo, readAdminToken } from '../engine/admin/login.ts';
import { isDataDirLocked } from '../engine/store/datadir.ts';
import type { FerryApi } from '../engine/api/ferry-api.ts';
import { HttpApi } from '../engine/api/http-api.ts';
import { StoreApi } from '../engine/api/store-api.ts';

export interface CliApi {
  api: FerryApi;
  /** Where the answers come from, for --verbose output and errors: "the running Ferry at …" or "the database in …". */
  via: string;
  close(): void;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running engine's admin API when there is one on this data dir, else the database. */
export function engineApiFor(loaded: LoadedConfig): CliApi {
  const info = readAdminInfo(loaded.dataDir);
  const token = readAdminToken(loaded.dataDir);
  if (info && token && isAlive(info.pid) && isDataDirLocked(loaded.dataDir)) {
    return { api: new HttpApi(info.url, token), via: `the running Ferry at ${info.url}`, close: () => undefined };
  }
  const store = new StoreApi(loaded);
  return { api: store, via: `the database in ${loaded.dataDir}`, close: () => store.close() };
}
