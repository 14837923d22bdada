// Connections: the OAuth accounts flows use, their health (connected, refresh failing, consent needed), and
// Connect / Disconnect. Connect opens the provider's consent page in a new tab (the system browser in the
// desktop app); the provider sends it back to the engine, and this page follows the consent until it is done.
// Where the browser runs on another machine, the address it ended on can be pasted here.
import { useEffect, useState } from 'preact/hooks';
import type { ConnectionView, ConnectionsReply } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText, usePoll } from '../lib/hooks.ts';
import { ago, inFuture } from '../lib/format.ts';
import { Badge, Notice, PageHeader } from '../components/ui.tsx';

export const CONNECTION_LABEL: Record<ConnectionView['state'], string> = {
  connected: 'Connected',
  refresh_failing: 'Refresh failing',
  consent_needed: 'Consent needed',
};

const BADGE: Record<ConnectionView['state'], string> = { connected: 'ok', refresh_failing: 'attention', consent_needed: 'error' };

export function Connections() {
  const conn = useConnection();
  const list = usePoll<ConnectionsReply>(() => conn.client.connections(), 2000);
  return (
    <>
      <PageHeader title="Connections" />
      <p class="help intro">
        Accounts at SaaS providers that flows use (<code>auth: {'{ type: oauth2, connection: NAME }'}</code>). Ferry keeps their tokens encrypted and
        renews them itself; a connection only needs you again when the provider asks for new consent.
      </p>
      {list.data ? <p class="help intro">Tokens: {list.data.storage}.</p> : null}
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      {list.data && list.data.connections.length === 0 ? <p class="empty">No connections yet. Add one under <code>connections:</code> in the configuration (see docs/connections.md).</p> : null}
      <ul class="cards" aria-label="Connections">
        {list.data?.connections.map((c) => <ConnectionCard key={c.name} c={c} reload={list.reload} />)}
      </ul>
    </>
  );
}

function ConnectionCard({ c, reload }: { c: ConnectionView; reload: () => void }) {
  const conn = useConnection();
  const [waiting, setWaiting] = useState<{ id: string; url: string }>();
  const [message, setMessage] = useState<{ kind: 'ok' | 'error' | 'info'; text: string }>();
  const [pasted, setPasted] = useState('');
  const now = Date.now();
  const titleId = `conn-${c.name}`;

  // a consent started here ends when the browser comes back to the engine (or the paste below completes it)
  useEffect(() => {
    if (!waiting || !c.consent || c.consent.id !== waiting.id || c.consent.state === 'pending') return;
    setWaiting(undefined);
    setMessage(c.consent.state === 'connected' ? { kind: 'ok', text: `${c.name} is connected.` } : { kind: 'error', text: c.consent.reason ?? 'the consent failed' });
  }, [c.consent?.id, c.consent?.state, waiting?.id]);

  const connect = async () => {
    setMessage(undefined);
    try {
      const start = await conn.client.startConsent(c.name);
      setWaiting({ id: start.consentId, url: start.authorizeUrl });
      window.open(start.authorizeUrl, '_blank', 'noopener');
      reload();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };
  const complete = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await conn.client.completeConsent(c.name, pasted.trim());
      setWaiting(undefined);
      setPasted('');
      setMessage({ kind: 'ok', text: `${r.message[0].toUpperCase()}${r.message.slice(1)}.` });
      reload();
    } catch (err) {
      setMessage({ kind: 'error', text: errorText(err) });
    }
  };
  const disconnect = async () => {
    if (!confirm(`Disconnect ${c.name}? Its tokens are revoked where the provider allows it, and ${c.usedBy.length ? `the flows ${c.usedBy.join(', ')} wait` : 'flows using it wait'} until you connect it again.`)) return;
    try {
      const r = await conn.client.disconnect(c.name);
      setMessage({ kind: r.revoked ? 'ok' : 'info', text: `${r.message[0].toUpperCase()}${r.message.slice(1)}.` });
      reload();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };

  return (
    <li class={`card card-${BADGE[c.state]}`} aria-labelledby={titleId} data-connection={c.name} data-state={c.state}>
      <div class="card-head">
        <h2 id={titleId}>{c.name}</h2>
        <Badge state={BADGE[c.state]}>{CONNECTION_LABEL[c.state]}</Badge>
      </div>
      <p class="card-sub">{c.provider} · {c.grant.replace('_', ' ')}{c.usedBy.length ? ` · used by ${c.usedBy.join(', ')}` : ' · used by no flow'}</p>
      {c.reason ? <p class={c.state === 'connected' ? 'help' : 'last-error'} data-fact="reason">{c.reason}</p> : null}
      <dl class="facts">
        <div><dt>Connected</dt><dd>{ago(c.connectedAt, now)}</dd></div>
        <div><dt>Last token</dt><dd>{ago(c.refreshedAt, now)}</dd></div>
        {c.accessExpiresAt && c.state === 'connected' ? <div><dt>Token renewed</dt><dd>{inFuture(c.accessExpiresAt, now)}</dd></div> : null}
        {c.consentExpiresAt ? <div><dt>Consent expires</dt><dd>{inFuture(c.consentExpiresAt, now)}</dd></div> : null}
        {c.scopes.length ? <div><dt>Scopes</dt><dd>{c.scopes.join(' ')}</dd></div> : null}
        {Object.entries(c.details).map(([k, v]) => <div key={k}><dt>{k}</dt><dd><code>{v}</code></dd></div>)}
      </dl>
      {c.consentable && c.redirectUri ? <p class="help">Redirect URI to register at the provider: <code>{c.redirectUri}</code></p> : null}
      {waiting ? (
        <div class="notice notice-info" role="status" aria-live="polite">
          <p>Waiting for your consent in the browser tab that opened. If none opened, <a href={waiting.url} target="_blank" rel="noopener noreferrer">open the provider's page</a>.</p>
          <form class="inline-form" onSubmit={complete} aria-label={`Complete the consent of ${c.name}`}>
            <div class="field">
              <label for={`paste-${c.name}`}>Browser on another machine? Paste the address it ended on (or the code)</label>
              <input id={`paste-${c.name}`} type="text" spellcheck={false} autoComplete="off" value={pasted} onInput={(e) => setPasted((e.currentTarget as HTMLInputElement).value)} />
            </div>
            <button type="submit" class="secondary" disabled={!pasted.trim()}>Complete</button>
          </form>
        </div>
      ) : null}
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      <div class="card-actions">
        {c.consentable ? (
          <button type="button" class={c.state === 'connected' ? 'secondary' : undefined} onClick={connect}>
            {c.state === 'connected' ? 'Reconnect' : 'Connect'}<span class="visually-hidden"> {c.name}</span>
          </button>
        ) : null}
        {c.consentable && c.connectedAt ? (
          <button type="button" class="secondary danger" onClick={disconnect}>Disconnect<span class="visually-hidden"> {c.name}</span></button>
        ) : null}
      </div>
    </li>
  );
}
