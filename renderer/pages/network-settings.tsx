// Settings → Network: how Ferry reaches the internet (proxy mode, URL, credentials kept as a secret,
// no-proxy rules), what it trusts (extra CA files, the system store), and a Test that sends one request
// through these settings, saved or not, and says which way it went or why it failed.
import { useEffect, useState } from 'preact/hooks';
import type { NetworkTestReply, NetworkView, RawNetwork } from '../api/client.ts';
import { ApiRequestError } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText, usePoll } from '../lib/hooks.ts';
import { Notice } from '../components/ui.tsx';

type Mode = 'env' | 'system' | 'url' | 'none';

interface Form {
  mode: Mode;
  url: string;
  username: string;
  /** A new password typed here (stored as a secret on save); '' keeps the current one. */
  password: string;
  noProxy: string;
  ca: string;
  systemCa: boolean;
}

const SECRET_TEMPLATE = /^\$\{secret:([A-Za-z_][A-Za-z0-9_.-]*)\}$/;
const DEFAULT_SECRET = 'PROXY_PASSWORD';
const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean);

function proxyObject(n: RawNetwork | null): { url?: string; username?: string; password?: string; noProxy?: string[] } {
  const p = n?.proxy;
  if (p === undefined) return {};
  return typeof p === 'string' ? { url: p } : p;
}

function formOf(n: RawNetwork | null): Form {
  const p = proxyObject(n);
  const url = p.url ?? 'env';
  const mode: Mode = url === 'env' || url === 'system' || url === 'none' ? url : 'url';
  return {
    mode,
    url: mode === 'url' ? url : '',
    username: p.username ?? '',
    password: '',
    noProxy: (p.noProxy ?? []).join('\n'),
    ca: (n?.tls?.ca ?? []).join('\n'),
    systemCa: n?.tls?.systemCa !== false,
  };
}

/** The block to write (or to test: then a typed password is sent as it is, never stored). */
function blockOf(form: Form, saved: RawNetwork | null, secretName: string, forTest: boolean): RawNetwork {
  const current = proxyObject(saved);
  const password = form.password ? (forTest ? form.password : `\${secret:${secretName}}`) : form.username ? current.password : undefined;
  const noProxy = lines(form.noProxy);
  const url = form.mode === 'url' ? form.url.trim() : form.mode;
  const detailed = form.mode !== 'none' && (form.username.trim() || noProxy.length);
  const proxy: RawNetwork['proxy'] = detailed
    ? { url, ...(form.username.trim() ? { username: form.username.trim() } : {}), ...(password !== undefined && form.username.trim() ? { password } : {}), ...(noProxy.length ? { noProxy } : {}) }
    : url;
  // keys this form does not edit (a client certificate) are kept as written
  const { ca: _ca, systemCa: _systemCa, ...otherTls } = saved?.tls ?? {};
  const ca = lines(form.ca);
  const tls = { ...otherTls, ...(ca.length ? { ca } : {}), ...(form.systemCa ? {} : { systemCa: false }) };
  return { proxy, ...(Object.keys(tls).length ? { tls } : {}) };
}

/** Maps a problem's key (relative to `network`) to the form field showing it. */
function fieldOf(path: string): keyof Form | 'general' {
  if (path === 'proxy' || path.startsWith('proxy.url')) return 'url';
  if (path.startsWith('proxy.username')) return 'username';
  if (path.startsWith('proxy.password')) return 'password';
  if (path.startsWith('proxy.noProxy')) return 'noProxy';
  if (path.startsWith('tls.ca')) return 'ca';
  return 'general';
}

export function NetworkSettings() {
  const conn = useConnection();
  const saved = usePoll<NetworkView>(() => conn.client.network(), 0);
  const [form, setForm] = useState<Form>();
  const [problems, setProblems] = useState<Partial<Record<keyof Form | 'general', string>>>({});
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string }>();
  const [testUrl, setTestUrl] = useState('');
  const [testing, setTesting] = useState(false);
  const [result, setResult] = useState<NetworkTestReply>();
  const raw = saved.data?.network ?? null;
  useEffect(() => {
    if (saved.data && !form) setForm(formOf(saved.data.network));
  }, [saved.data]);
  const storedPassword = proxyObject(raw).password;
  const secretName = SECRET_TEMPLATE.exec(storedPassword ?? '')?.[1] ?? DEFAULT_SECRET;

  const showProblems = (err: unknown) => {
    if (err instanceof ApiRequestError && err.problems) {
      const byField: Partial<Record<keyof Form | 'general', string>> = {};
      for (const p of err.problems) {
        const rel = p.path.replace(/^network\.?/, '');
        const f = fieldOf(rel);
        // a list typed one per line: say which line
        const line = /\[(\d+)\]$/.exec(rel);
        const text = f === 'general' ? `${rel ? `${rel}: ` : ''}${p.message}` : line ? `line ${Number(line[1]) + 1}: ${p.message}` : p.message;
        byField[f] = byField[f] ? `${byField[f]}; ${text}` : text;
      }
      setProblems(byField);
    }
  };

  const save = async (e: Event) => {
    e.preventDefault();
    if (!form) return;
    setMessage(undefined);
    setProblems({});
    try {
      // the typed password is stored as a secret by the engine, only if the whole change is valid
      const secrets = form.password && form.username.trim() ? { [secretName]: form.password } : undefined;
      const reply = await conn.client.updateNetwork({ network: blockOf(form, raw, secretName, false), ...(secrets ? { secrets } : {}) });
      const restarted = reply.applied ? reply.applied.restarted.length : 0;
      setMessage({ kind: 'ok', text: `Saved.${restarted ? ` ${restarted} flow${restarted === 1 ? '' : 's'} restarted with the new setting.` : ''}` });
      setForm({ ...form, password: '' });
      saved.reload();
    } catch (err) {
      showProblems(err);
      setMessage({ kind: 'error', text: `Not saved: ${errorText(err)}` });
    }
  };

  const test = async () => {
    if (!form) return;
    setTesting(true);
    setResult(undefined);
    try {
      const r = await conn.client.testNetwork({ url: testUrl.trim(), network: blockOf(form, raw, secretName, true) });
      setResult(r);
      if (r.problems) showProblems(new ApiRequestError(400, { error: r.message, problems: r.problems }));
    } catch (err) {
      setResult({ ok: false, message: errorText(err), path: '', setting: [] });
    } finally {
      setTesting(false);
    }
  };

  const set = (patch: Partial<Form>) => setForm({ ...form!, ...patch });
  const err = (key: keyof Form) => (problems[key] ? <p class="field-error" id={`n-${key}-error`}>{problems[key]}</p> : null);
  const inv = (key: keyof Form) => (problems[key] ? { 'aria-invalid': true as const, 'aria-describedby': `n-${key}-error` } : {});
  const mode = (m: Mode, label: string) => (
    <label><input type="radio" name="proxy-mode" checked={form!.mode === m} onChange={() => set({ mode: m })} /> {label}</label>
  );

  return (
    <form class="panel" onSubmit={save} aria-labelledby="h-network">
      <h2 id="h-network">Network</h2>
      <p class="help intro">How Ferry reaches APIs and webhooks (every HTTP destination, API polling, sign-in token requests, update checks). A connector can still set its own proxy or tls.</p>
      {saved.error ? <Notice kind="error">{saved.error}</Notice> : null}
      {!form ? (!saved.error ? <p aria-busy="true">Loading…</p> : null) : (
        <>
          <fieldset class="choice" id="n-mode">
            <legend>Proxy</legend>
            {mode('env', 'From the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)')}
            {mode('system', "The system's proxy settings (PAC files in the desktop app)")}
            {mode('url', 'This proxy server')}
            {mode('none', 'No proxy: connect directly')}
          </fieldset>
          {form.mode === 'url' ? (
            <div class="field">
              <label for="n-url">Proxy URL</label>
              <input id="n-url" type="text" spellcheck={false} placeholder="http://proxy.corp.local:3128" value={form.url} {...inv('url')} onInput={(e) => set({ url: (e.currentTarget as HTMLInputElement).value })} />
              {err('url')}
            </div>
          ) : err('url')}
          {form.mode !== 'none' ? (
            <>
              <div class="field">
                <label for="n-username">Proxy user</label>
                <input id="n-username" type="text" spellcheck={false} autoComplete="off" value={form.username} {...inv('username')} onInput={(e) => set({ username: (e.currentTarget as HTMLInputElement).value })} />
                <p class="help">For proxies that ask for credentials (HTTP Basic). Leave empty when the proxy needs none.</p>
                {err('username')}
              </div>
              <div class="field">
                <label for="n-password">Proxy password</label>
                <input id="n-password" type="password" autoComplete="new-password" value={form.password} disabled={!form.username.trim()} {...inv('password')} onInput={(e) => set({ password: (e.currentTarget as HTMLInputElement).value })} />
                <p class="help">Kept encrypted as the secret <code>{secretName}</code>, never in the config file.{storedPassword ? ' A password is stored; type a new one to replace it.' : ''}</p>
                {err('password')}
              </div>
              <div class="field">
                <label for="n-noProxy">Reach these directly</label>
                <textarea id="n-noProxy" rows={3} spellcheck={false} placeholder={'*.corp.local\n10.0.0.0/8'} value={form.noProxy} {...inv('noProxy')} onInput={(e) => set({ noProxy: (e.currentTarget as HTMLTextAreaElement).value })} />
                <p class="help">One per line: host names, *.domain, address ranges (10.0.0.0/8), host:port. This machine (localhost, 127.0.0.1) is always reached directly.</p>
                {err('noProxy')}
              </div>
            </>
          ) : null}
          <div class="field">
            <label for="n-ca">Trusted certificate files</label>
            <textarea id="n-ca" rows={2} spellcheck={false} placeholder="C:\certs\corp-root.pem" value={form.ca} {...inv('ca')} onInput={(e) => set({ ca: (e.currentTarget as HTMLTextAreaElement).value })} />
            <p class="help">One file per line (PEM or .cer): extra root certificates, such as the one a TLS-inspecting proxy signs with. Relative paths start at the config file's folder.</p>
            {err('ca')}
          </div>
          <div class="field field-check">
            <input id="n-systemCa" type="checkbox" checked={form.systemCa} onChange={(e) => set({ systemCa: (e.currentTarget as HTMLInputElement).checked })} />
            <label for="n-systemCa">Also trust this computer's certificate store</label>
            <p class="help">Where IT installs a company root (Windows certificate store, macOS keychains, the Linux CA bundle).</p>
          </div>
          {problems.general ? <Notice kind="error">{problems.general}</Notice> : null}
          {saved.data?.effective.length ? (
            <div class="help" id="n-effective"><p>In use now:</p><ul>{saved.data.effective.map((l) => <li key={l}><code>{l}</code></li>)}</ul></div>
          ) : null}
          {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
          <div class="form-actions"><button type="submit">Save network settings</button></div>

          <div class="field network-test">
            <label for="n-test-url">Test a connection</label>
            <div class="with-button">
              <input id="n-test-url" type="text" spellcheck={false} placeholder="https://api.example.com/" value={testUrl} onInput={(e) => setTestUrl((e.currentTarget as HTMLInputElement).value)} />
              <button type="button" class="secondary" disabled={!testUrl.trim() || testing} onClick={test}>{testing ? 'Testing…' : 'Test'}</button>
            </div>
            <p class="help">Sends one HEAD request with the settings above (saved or not) and shows the way it took.</p>
          </div>
          {result ? (
            <div id="n-test-result">
              <Notice kind={result.ok ? 'ok' : 'error'}>{result.ok ? `Reached: ${result.message}` : `Failed: ${result.message}`}</Notice>
              {result.path ? <p class="help">Path: <code>{result.path}</code></p> : null}
            </div>
          ) : null}
        </>
      )}
    </form>
  );
}
