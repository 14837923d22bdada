// The Scrubber: every value of ${env:NAME} / ${secret:NAME} becomes [env:NAME] / [secret:NAME] in any text,
// in the spellings a reply or a log may carry it (as is, JSON-escaped, percent- and form-encoded, and the
// base64 user:password of HTTP Basic); config problems quoting a value name its placeholder instead.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Scrubber, scrubberFor } from '../../main/engine/scrub.ts';
import { SecretStore } from '../../main/engine/secrets.ts';
import { parseConfigText } from '../../main/engine/config/load.ts';
import { tempDir } from '../helpers/tmp.ts';

const KEY = 'k3y-Ab+/ c"d&e=7f';
const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

const config = (header: string) => `
dataDir: ./data
integrations:
  - name: i
    flows:
      - name: f
        source: { type: folder, path: ./in }
        destination:
          type: http
          url: https://api.example.com/in
          headers: { X-Api-Key: "${header}" }
          auth: { type: basic, username: ferry, password: "\${secret:PW}" }
`;

describe('Scrubber', () => {
  it('replaces every spelling of a value by its placeholder name', () => {
    const s = new Scrubber({ placeholders: [{ kind: 'env', name: 'CRM_KEY', value: KEY }] });
    expect(s.text(`key ${KEY} again ${KEY}`)).toBe('key [env:CRM_KEY] again [env:CRM_KEY]');
    expect(s.text(JSON.stringify({ echoed: KEY }))).toBe('{"echoed":"[env:CRM_KEY]"}');
    expect(s.text(`https://x/?k=${encodeURIComponent(KEY)}`)).toBe('https://x/?k=[env:CRM_KEY]');
    expect(s.text(`k=${new URLSearchParams({ k: KEY }).toString().slice(2)}`)).toBe('k=[env:CRM_KEY]');
    expect(s.deep({ a: [KEY, { b: `x${KEY}` }], n: 3 })).toEqual({ a: ['[env:CRM_KEY]', { b: 'x[env:CRM_KEY]' }], n: 3 });
  });

  it('leaves values under 4 characters alone and prefers the longest match', () => {
    const s = new Scrubber({ placeholders: [{ kind: 'env', name: 'SHORT', value: 'abc' }, { kind: 'env', name: 'A', value: 'token-1' }, { kind: 'secret', name: 'B', value: 'token-12' }] });
    expect(s.text('abc token-12 token-1')).toBe('abc [secret:B] [env:A]');
  });

  it('follows the secret store: a secret set later is scrubbed as [secret:NAME]', () => {
    const store = new SecretStore(tempDir(), { masterKey: 'm' });
    const s = new Scrubber({ store });
    expect(s.text('value-one here')).toBe('value-one here');
    store.set('FIRST', 'value-one');
    // the store re-reads its file at most every 500 ms; a new store object sees it at once
    const fresh = new Scrubber({ store: new SecretStore(store.dir, { masterKey: 'm' }) });
    expect(fresh.text('value-one here')).toBe('[secret:FIRST] here');
  });

  it('collects the placeholders of a config: env, secret and the Basic credential', () => {
    process.env.CRM_KEY = KEY;
    const dir = tempDir();
    const file = path.join(dir, 'ferry.yaml');
    fs.writeFileSync(file, config('${env:CRM_KEY}'));
    const parsed = parseConfigText(fs.readFileSync(file, 'utf8'), file, { secrets: (n) => (n === 'PW' ? 'hunter2-pw' : undefined) });
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    expect(parsed.value.placeholders).toEqual([
      { kind: 'env', name: 'CRM_KEY', value: KEY },
      { kind: 'secret', name: 'PW', value: 'hunter2-pw' },
    ]);
    const s = scrubberFor(parsed.value);
    expect(s.text(`Authorization: Basic ${Buffer.from('ferry:hunter2-pw').toString('base64')}`)).toBe('Authorization: Basic [secret:PW]');
    expect(s.text('pw hunter2-pw')).toBe('pw [secret:PW]');
  });

  it('config problems that quote a resolved value name its placeholder', () => {
    process.env.BAD_URL = 'ftp://user:s3cret-pass@host/x';
    const text = config('x').replace('https://api.example.com/in', '${env:BAD_URL}');
    const parsed = parseConfigText(text, '/tmp/ferry.yaml', { secrets: () => 'hunter2-pw' });
    expect(parsed.ok).toBe(false);
    const problems = parsed.ok ? [] : parsed.problems;
    expect(problems.join('\n')).toContain('[env:BAD_URL]');
    expect(problems.join('\n')).not.toContain('s3cret-pass');
  });
});
