// Where the desktop's secret-store key comes from; Linux's basic_text fallback is refused.
import { describe, expect, it } from 'vitest';
import { chooseKeySource } from '../../../main/desktop/secret-key.ts';

describe('chooseKeySource', () => {
  it('uses safeStorage where the OS protects it', () => {
    expect(chooseKeySource({ envKey: undefined, platform: 'win32', backend: undefined, encryptionAvailable: true })).toEqual({ kind: 'safeStorage' });
    expect(chooseKeySource({ envKey: undefined, platform: 'darwin', backend: undefined, encryptionAvailable: true })).toEqual({ kind: 'safeStorage' });
    expect(chooseKeySource({ envKey: undefined, platform: 'linux', backend: 'gnome_libsecret', encryptionAvailable: true })).toEqual({ kind: 'safeStorage' });
    expect(chooseKeySource({ envKey: undefined, platform: 'linux', backend: 'kwallet5', encryptionAvailable: true })).toEqual({ kind: 'safeStorage' });
  });

  it("refuses Linux's basic_text backend and unavailable encryption, saying why", () => {
    const basic = chooseKeySource({ envKey: undefined, platform: 'linux', backend: 'basic_text', encryptionAvailable: true });
    expect(basic.kind).toBe('refuse');
    expect(basic.kind === 'refuse' && basic.reason).toContain('basic_text');
    const none = chooseKeySource({ envKey: undefined, platform: 'win32', backend: undefined, encryptionAvailable: false });
    expect(none).toEqual({ kind: 'refuse', reason: 'OS encryption (safeStorage) is not available; set FERRY_MASTER_KEY to store secrets.' });
  });

  it('lets FERRY_MASTER_KEY win, even on basic_text', () => {
    expect(chooseKeySource({ envKey: 'k', platform: 'linux', backend: 'basic_text', encryptionAvailable: false })).toEqual({ kind: 'env' });
  });
});
