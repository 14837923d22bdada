// The central configuration's state on the overview (version, when applied, a refused version and why) and
// the read-only notice the editors show while configSource manages the integrations.
import { useState } from 'preact/hooks';
import type { ConfigSourceStatus, ManagedBy } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText } from '../lib/hooks.ts';
import { ago } from '../lib/format.ts';
import { Notice } from './ui.tsx';

export function ConfigSourcePanel({ source, now, onChecked }: { source: ConfigSourceStatus; now: number; onChecked(): void }) {
  const conn = useConnection();
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ kind: 'ok' | 'error' | 'warn'; text: string }>();
  const checkNow = async () => {
    setBusy(true);
    try {
      const r = await conn.client.checkConfigSource();
      setResult(r.result === 'applied' ? { kind: 'ok', text: `Version ${r.version} applied.` } : r.result === 'unchanged' ? { kind: 'ok', text: 'No new version.' } : { kind: 'warn', text: `Refused: ${r.reason}` });
      onChecked();
    } catch (e) {
      setResult({ kind: 'error', text: errorText(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="panel config-source" aria-labelledby="h-config-source" data-config-source>
      <h2 id="h-config-source">Central configuration</h2>
      <dl class="facts">
        <div><dt>From</dt><dd><code>{source.url}</code></dd></div>
        <div><dt>Version</dt><dd data-fact="config-version">{source.version ?? 'none yet: no flows run until a version verifies'}</dd></div>
        {source.appliedAt ? <div><dt>Applied</dt><dd>{ago(source.appliedAt, now)}</dd></div> : null}
        {source.checkedAt ? <div><dt>Last checked</dt><dd>{ago(source.checkedAt, now)}</dd></div> : null}
        {source.refused ? (
          <div class="bad" data-fact="config-refused"><dt>Refused{source.refused.version ? ` version ${source.refused.version}` : ''}</dt><dd>{ago(source.refused.at, now)}: {source.refused.reason}</dd></div>
        ) : null}
      </dl>
      <div class="row-actions"><button type="button" class="secondary" disabled={busy} onClick={checkNow}>{busy ? 'Checking…' : 'Check for a new version now'}</button></div>
      {result ? <Notice kind={result.kind}>{result.text}</Notice> : null}
    </section>
  );
}

export function ManagedNotice({ managed }: { managed: ManagedBy }) {
  return <Notice kind="info" id="managed-notice"><strong>Read-only.</strong> {managed.reason}</Notice>;
}
