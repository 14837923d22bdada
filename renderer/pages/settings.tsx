// Settings: start at login, data folder, log level, port; the network (proxy, trusted CAs); and the secrets
// configs refer to as ${secret:NAME}.
import { useState } from 'preact/hooks';
import type { LogLevelName, SecretsReply, SettingsReply, SettingsUpdate } from '../api/client.ts';
import { ApiRequestError } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText, usePoll } from '../lib/hooks.ts';
import { ago } from '../lib/format.ts';
import { Notice, PageHeader } from '../components/ui.tsx';
import { NetworkSettings } from './network-settings.tsx';

const LEVELS: LogLevelName[] = ['error', 'warn', 'info', 'debug', 'trace'];

export function Settings() {
  const conn = useConnection();
  const settings = usePoll<SettingsReply>(() => conn.client.settings(), 0);
  // the admin's edits, over the values the engine reported
  const [edits, setEdits] = useState<SettingsUpdate>({});
  const [message, setMessage] = useState<{ kind: 'ok' | 'error' | 'warn'; text: string }>();
  const [problems, setProblems] = useState<Record<string, string>>({});
  const s = settings.data;
  const form: SettingsUpdate = s ? { startAtLogin: s.startAtLogin, dataDir: s.dataDir, logLevel: s.logLevel, adminPort: s.adminPort, ...edits } : edits;
  // keep only what differs from the engine's values, so saving sends just the changes
  const setForm = (next: SettingsUpdate) => setEdits(Object.fromEntries(Object.entries(next).filter(([k, v]) => !s || (s as unknown as Record<string, unknown>)[k] !== v)) as SettingsUpdate);

  const save = async (e: Event) => {
    e.preventDefault();
    setMessage(undefined);
    setProblems({});
    try {
      const reply = await conn.client.updateSettings(edits);
      if (conn.desktop && form.startAtLogin !== undefined) await conn.desktop.setStartAtLogin(form.startAtLogin);
      setMessage(reply.restartRequired.length ? { kind: 'warn', text: `Saved. Restart Ferry to apply: ${reply.restartRequired.join(', ')}.` } : { kind: 'ok', text: 'Saved.' });
      setEdits({});
      settings.reload();
    } catch (err) {
      if (err instanceof ApiRequestError && err.problems) setProblems(Object.fromEntries(err.problems.map((p) => [p.path, p.message])));
      setMessage({ kind: 'error', text: `Not saved: ${errorText(err)}` });
    }
  };
  const err = (key: string) => (problems[key] ? <p class="field-error" id={`s-${key}-error`}>{problems[key]}</p> : null);
  const inv = (key: string) => (problems[key] ? { 'aria-invalid': true as const, 'aria-describedby': `s-${key}-error` } : {});
  return (
    <>
      <PageHeader title="Settings" />
      {settings.error ? <Notice kind="error">{settings.error}</Notice> : null}
      {s ? (
        <form class="panel" onSubmit={save} aria-labelledby="h-general-settings">
          <h2 id="h-general-settings">General</h2>
          <p class="help intro">Configuration file: <code>{s.configFile}</code></p>
          <div class="field field-check">
            <input id="s-startAtLogin" type="checkbox" checked={!!form.startAtLogin} onChange={(e) => setForm({ ...form, startAtLogin: (e.currentTarget as HTMLInputElement).checked })} />
            <label for="s-startAtLogin">Start Ferry when I log in</label>
            {!conn.desktop ? <p class="help">Applied by the desktop app; a server runs Ferry as a service instead (see <code>ferry service install</code>).</p> : null}
          </div>
          <div class="field">
            <label for="s-dataDir">Data folder</label>
            <div class="with-button">
              <input id="s-dataDir" type="text" spellcheck={false} value={form.dataDir ?? ''} {...inv('dataDir')} onInput={(e) => setForm({ ...form, dataDir: (e.currentTarget as HTMLInputElement).value })} />
              {conn.desktop ? <button type="button" class="secondary" onClick={async () => {
                const p = await conn.desktop!.pickFolder({ defaultPath: form.dataDir });
                if (p) setForm({ ...form, dataDir: p });
              }}>Browse…</button> : null}
            </div>
            <p class="help">Queue, content and logs. Must be a local disk; takes effect after a restart.</p>
            {err('dataDir')}
          </div>
          <div class="field">
            <label for="s-logLevel">Log level</label>
            <select id="s-logLevel" value={form.logLevel} {...inv('logLevel')} onChange={(e) => setForm({ ...form, logLevel: (e.currentTarget as HTMLSelectElement).value as LogLevelName })}>
              {LEVELS.map((l) => <option key={l} value={l}>{l}</option>)}
            </select>
            {err('logLevel')}
          </div>
          <div class="field">
            <label for="s-adminPort">Dashboard port</label>
            <input id="s-adminPort" type="number" min={0} max={65535} value={form.adminPort ?? ''} {...inv('adminPort')} onInput={(e) => setForm({ ...form, adminPort: Number((e.currentTarget as HTMLInputElement).value) })} />
            <p class="help">Local only (127.0.0.1). 0 picks a free port. Takes effect after a restart.</p>
            {err('adminPort')}
          </div>
          {s.restartRequired.length ? <Notice kind="warn">Waiting for a restart: {s.restartRequired.join(', ')}.</Notice> : null}
          {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
          <div class="form-actions"><button type="submit">Save settings</button></div>
        </form>
      ) : !settings.error ? <p aria-busy="true">Loading…</p> : null}
      <NetworkSettings />
      <Secrets />
    </>
  );
}

function Secrets() {
  const conn = useConnection();
  const list = usePoll<SecretsReply>(() => conn.client.secrets(), 0);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string }>();
  const add = async (e: Event) => {
    e.preventDefault();
    try {
      await conn.client.setSecret(name.trim(), value);
      setMessage({ kind: 'ok', text: `Secret ${name.trim()} saved. Refer to it as \${secret:${name.trim()}}.` });
      setName('');
      setValue('');
      list.reload();
    } catch (err) {
      setMessage({ kind: 'error', text: errorText(err) });
    }
  };
  const remove = async (n: string) => {
    if (!confirm(`Delete the secret ${n}? Flows that use it will fail to start.`)) return;
    try {
      await conn.client.deleteSecret(n);
      list.reload();
    } catch (err) {
      setMessage({ kind: 'error', text: errorText(err) });
    }
  };
  return (
    <section class="panel" aria-labelledby="h-secrets">
      <h2 id="h-secrets">Secrets</h2>
      <p class="help">Passwords and tokens are kept encrypted and never shown again. In a flow, write <code>{'${secret:NAME}'}</code>.{list.data ? <> Stored in: {list.data.storage}</> : null}</p>
      {list.error ? <Notice kind="warn">Secrets are not available: {list.error}. Run Ferry with a secret store (the desktop app, or FERRY_MASTER_KEY for the headless engine).</Notice> : null}
      {list.data && list.data.secrets.length > 0 ? (
        <table class="compact">
          <thead><tr><th scope="col">Name</th><th scope="col">Updated</th><th scope="col">Used by</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
          <tbody>{list.data.secrets.map((s) => (
            <tr key={s.name}><td><code>{s.name}</code></td><td>{ago(s.updatedAt)}</td><td>{s.usedBy.join(', ') || '—'}</td>
              <td><button type="button" class="secondary danger" onClick={() => remove(s.name)}>Delete<span class="visually-hidden"> {s.name}</span></button></td></tr>
          ))}</tbody>
        </table>
      ) : <p>No secrets yet.</p>}
      <form class="inline-form" onSubmit={add} aria-label="Add or replace a secret">
        <div class="field"><label for="sec-name">Name</label><input id="sec-name" type="text" spellcheck={false} autoComplete="off" value={name} onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)} /></div>
        <div class="field"><label for="sec-value">Value</label><input id="sec-value" type="password" autoComplete="new-password" value={value} onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)} /></div>
        <button type="submit" disabled={!name.trim() || !value}>Save secret</button>
      </form>
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
    </section>
  );
}
