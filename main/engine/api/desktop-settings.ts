// Settings that are not part of the config file: start-at-login, stored for the desktop shell (which
// registers the login item) in <dataDir>/settings.json.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../secrets.ts';

export interface DesktopSettings {
  startAtLogin: boolean;
}

const FILE = 'settings.json';

export function readDesktopSettings(dataDir: string): DesktopSettings {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dataDir, FILE), 'utf8')) as Partial<DesktopSettings>;
    return { startAtLogin: parsed.startAtLogin === true };
  } catch {
    return { startAtLogin: false };
  }
}

export function writeDesktopSettings(dataDir: string, patch: Partial<DesktopSettings>): DesktopSettings {
  const next = { ...readDesktopSettings(dataDir), ...patch };
  writeFileAtomic(path.join(dataDir, FILE), JSON.stringify(next, null, 2), 0o600);
  return next;
}
