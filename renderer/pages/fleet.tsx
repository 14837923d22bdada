// Fleet: every agent publishing heartbeats to the broker of `fleet.view`, as `ferry fleet status` lists them.
// Read-only: agents are managed on their own machines (or by their central config).
import type { FleetAgent, FleetReport } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { usePoll } from '../lib/hooks.ts';
import { ago } from '../lib/format.ts';
import { Badge, Notice, PageHeader } from '../components/ui.tsx';

const BADGE: Record<FleetAgent['state'], string> = { ok: 'ok', failing: 'error', silent: 'paused' };

function labelsText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(', ') || '—';
}

export function Fleet() {
  const conn = useConnection();
  const fleet = usePoll<FleetReport>(() => conn.client.fleet(), 5000);
  const r = fleet.data;
  const count = (s: FleetAgent['state']) => r?.agents.filter((a) => a.state === s).length ?? 0;
  return (
    <>
      <PageHeader title="Fleet" />
      {fleet.error ? <Notice kind="error">{fleet.error}</Notice> : null}
      {r?.error ? <Notice kind="warn">Broker {r.broker}: {r.error}</Notice> : null}
      <p class="hint">
        {r ? `${r.agents.length} agent${r.agents.length === 1 ? '' : 's'} on ${r.broker} (exchange ${r.exchange}): ${count('ok')} ok, ${count('failing')} failing, ${count('silent')} silent. Read-only.` : 'Loading…'}
      </p>
      {r && r.agents.length > 0 ? (
        <table class="items fleet">
          <caption>Agents heard in the last 15 minutes</caption>
          <thead>
            <tr>
              <th scope="col">Agent</th><th scope="col">State</th><th scope="col">Labels</th><th scope="col">Version</th><th scope="col">Config</th><th scope="col">Last heard</th><th scope="col">Flows OK / failing</th><th scope="col">Waiting</th><th scope="col">Dead</th><th scope="col">Last delivery</th>
            </tr>
          </thead>
          <tbody>
            {r.agents.map((a) => (
              <tr key={a.agent} data-agent={a.agent}>
                <th scope="row">{a.agent}<span class="hint"> {a.host}</span></th>
                <td data-label="State">
                  <Badge state={BADGE[a.state]}>{a.state}</Badge>
                  {a.flows.filter((f) => !f.ok).map((f) => <div key={f.flow} class="error-cell">{f.flow}: {f.reason}</div>)}
                </td>
                <td data-label="Labels">{labelsText(a.labels)}</td>
                <td data-label="Version">{a.version}</td>
                <td data-label="Config"><code>{a.configVersion}</code></td>
                <td data-label="Last heard">{a.state === 'silent' ? `silent since ${ago(a.silentSince)}` : ago(a.lastHeardAt)}</td>
                <td data-label="Flows">{a.flowsOk} / {a.flowsFailing}</td>
                <td data-label="Waiting">{a.waiting}</td>
                <td data-label="Dead">{a.dead}</td>
                <td data-label="Last delivery">{ago(a.lastDeliveryAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {r && r.agents.length === 0 ? <p class="empty">No agent has published a heartbeat to this broker in the last 15 minutes.</p> : null}
    </>
  );
}
