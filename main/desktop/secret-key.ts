// The key of the engine's secret store, protected by the OS through Electron's safeStorage (DPAPI on
// Windows, Keychain on macOS, libsecret/kwallet on Linux). On Linux without a keyring, safeStorage falls back
// to "basic_text" (a hard-coded password): then secrets set in the UI are refused rather than stored weakly.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SafeStorage } from 'electron';

export type KeySource = { kind: 'env' } | { kind: 'safeStorage' } | { kind: 'refuse'; reason: string };

/** Which protection the secret store's key gets. FERRY_MASTER_KEY (the admin's explicit choice) wins. */
export function chooseKeySource(p: { envKey: string | undefined; platform: NodeJS.Platform; backend: string | undefined; encryptionAvailable: boolean }): KeySource {
  if (p.envKey) return { kind: 'env' };
  if (p.platform === 'linux' && (p.backend === 'basic_text' || p.backend === undefined)) {
    return { kind: 'refuse', reason: 'no OS keyring: Electron safeStorage would use the "basic_text" backend, which does not protect secrets. Unlock or install a keyring (GNOME Keyring, KWallet) or set FERRY_MASTER_KEY.' };
  }
  if (!p.encryptionAvailable) return { kind: 'refuse', reason: 'OS encryption (safeStorage) is not available; set FERRY_MASTER_KEY to store secrets.' };
  return { kind: 'safeStorage' };
}

export const KEY_FILE = 'secret-store-key.bin';

/**
 * The secret store's master key: read from `<userData>/secret-store-key.bin` (encrypted with safeStorage),
 * or created there on first use. Returns undefined (and why) when secrets cannot be protected here.
 */
export async function desktopMasterKey(safeStorage: SafeStorage, userData: string): Promise<{ key?: string; source: KeySource }> {
  const backend = process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : undefined;
  const source = chooseKeySource({ envKey: process.env.FERRY_MASTER_KEY || undefined, platform: process.platform, backend, encryptionAvailable: await safeStorage.isAsyncEncryptionAvailable() });
  if (source.kind !== 'safeStorage') return { source };
  const file = path.join(userData, KEY_FILE);
  if (fs.existsSync(file)) {
    const { result, shouldReEncrypt } = await safeStorage.decryptStringAsync(fs.readFileSync(file));
    if (shouldReEncrypt) fs.writeFileSync(file, await safeStorage.encryptStringAsync(result), { mode: 0o600 });
    return { key: result, source };
  }
  const key = crypto.randomBytes(32).toString('base64url');
  fs.mkdirSync(userData, { recursive: true });
  fs.writeFileSync(file, await safeStorage.encryptStringAsync(key), { mode: 0o600, flag: 'wx' });
  return { key, source };
}
