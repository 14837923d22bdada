// The encrypted secret store (AES-256-GCM; key from FERRY_MASTER_KEY or a 0600 key file) and the filters
// that keep secret values out of logs.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretError, SecretStore } from '../../main/engine/secrets.ts';
import { Scrubber } from '../../main/engine/scrub.ts';
import { createLogger } from '../../main/engine/logger.ts';
import { listFiles, tempDir, waitFor } from '../helpers/tmp.ts';

const VALUE = 'pa55-word-7c1e0b';

describe('SecretStore', () => {
  it('encrypts with FERRY_MASTER_KEY: values round-trip, the file holds no plain text, the mode is 0600', () => {
    const dir = tempDir();
    const store = new SecretStore(dir, { masterKey: 'correct horse battery staple' });
    store.set('SFTP_PASSWORD', VALUE);
    store.set('API_TOKEN', 'another-value-123');
    expect(store.get('SFTP_PASSWORD')).toBe(VALUE);
    expect(store.list().map((s) => s.name)).toEqual(['API_TOKEN', 'SFTP_PASSWORD']);
    const raw = fs.readFileSync(path.join(dir, 'secrets.enc'), 'utf8');
    expect(raw).not.toContain(VALUE);
    expect(raw).not.toContain('SFTP_PASSWORD');
    expect(JSON.parse(raw).keySource).toBe('env');
    if (process.platform !== 'win32') expect(fs.statSync(path.join(dir, 'secrets.enc')).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(dir, 'secrets.key'))).toBe(false);
    // a fresh process with the same key reads it; with another key it refuses with a clear reason
    expect(new SecretStore(dir, { masterKey: 'correct horse battery staple' }).get('SFTP_PASSWORD')).toBe(VALUE);
    expect(() => new SecretStore(dir, { masterKey: 'wrong' }).get('SFTP_PASSWORD')).toThrow(/wrong key.*FERRY_MASTER_KEY differs/);
    expect(() => new SecretStore(dir, { masterKey: '' }).list()).toThrow(SecretError);
  });

  it('without FERRY_MASTER_KEY creates a random key file with mode 0600', () => {
    const dir = tempDir();
    const saved = process.env.FERRY_MASTER_KEY;
    delete process.env.FERRY_MASTER_KEY;
    try {
      const store = new SecretStore(dir);
      store.set('TOKEN', VALUE);
      const key = path.join(dir, 'secrets.key');
      expect(Buffer.from(fs.readFileSync(key, 'utf8').trim(), 'base64')).toHaveLength(32);
      if (process.platform !== 'win32') expect(fs.statSync(key).mode & 0o777).toBe(0o600);
      expect(new SecretStore(dir).get('TOKEN')).toBe(VALUE);
      expect(store.describeStorage()).toMatch(/key in .*secrets\.key/);
      fs.writeFileSync(key, Buffer.alloc(32, 7).toString('base64'));
      expect(() => new SecretStore(dir).get('TOKEN')).toThrow(/wrong key/);
    } finally {
      if (saved !== undefined) process.env.FERRY_MASTER_KEY = saved;
    }
  });

  it('detects tampering, deletes, and refuses bad names and empty values', () => {
    const dir = tempDir();
    const store = new SecretStore(dir, { masterKey: 'k' });
    store.set('A', VALUE);
    expect(() => store.set('has space', 'x')).toThrow(/secret name "has space"/);
    expect(() => store.set('B', '')).toThrow(/empty/);
    expect(store.delete('A')).toBe(true);
    expect(store.delete('A')).toBe(false);
    expect(store.get('A')).toBeUndefined();
    store.set('C', VALUE);
    const file = path.join(dir, 'secrets.enc');
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
    const data = Buffer.from(parsed.data, 'base64');
    data[0] ^= 1;
    fs.writeFileSync(file, JSON.stringify({ ...parsed, data: data.toString('base64') }));
    expect(() => new SecretStore(dir, { masterKey: 'k' }).get('C')).toThrow(/cannot decrypt/);
    fs.writeFileSync(file, 'garbage');
    expect(() => new SecretStore(dir, { masterKey: 'k' }).get('C')).toThrow(/damaged/);
  });
});

describe('secret filters', () => {

  it('keeps secret values out of the log file', async () => {
    const dir = tempDir();
    const store = new SecretStore(dir, { masterKey: 'k' });
    store.set('TOKEN', VALUE);
    const logDir = path.join(dir, 'logs');
    const log = createLogger({ level: 'info', logDir, stderr: false, scrub: new Scrubber({ store }).text });
    log.info(`connecting with ${VALUE}`);
    log.warn({ reason: `server said: bad key ${VALUE}`, nested: { list: [VALUE] } }, 'delivery failed');
    log.error({ err: new Error(`boom ${VALUE}`) }, 'failed');
    const file = () => path.join(logDir, listFiles(logDir)[0] ?? 'none');
    const text = await waitFor(() => {
      const t = fs.existsSync(file()) ? fs.readFileSync(file(), 'utf8') : '';
      return t.split('\n').filter(Boolean).length >= 3 ? t : undefined;
    }, 'three log lines', 5000);
    expect(text).not.toContain(VALUE);
    expect(text).toContain('connecting with [secret:TOKEN]');
    expect(text).toContain('server said: bad key [secret:TOKEN]');
  });
});
