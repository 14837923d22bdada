// Queue: filter by flow and state, inspect an item, retry or discard one or many, download a body.
import { useState } from 'preact/hooks';
import type { ItemDetail, ItemState, QueueList, StatusReply } from '../api/client.ts';
import { downloadBody, useConnection } from '../lib/api.ts';
import { errorText, usePoll } from '../lib/hooks.ts';
import { ago, bytes, inFuture, plainError } from '../lib/format.ts';
import { href, navigate } from '../lib/router.ts';
import { Badge, Notice, PageHeader } from '../components/ui.tsx';

const STATES: ItemState[] = ['queued', 'inflight', 'retrying', 'dead', 'delivered', 'discarded'];
const PAGE = 50;

export function Queue({ query }: { query: URLSearchParams }) {
  const conn = useConnection();
  const flow = query.get('flow') ?? '';
  const state = (query.get('state') ?? '') as ItemState | '';
  const offset = Number(query.get('offset') ?? 0) || 0;
  const list = usePoll<QueueList>(() => conn.client.queue({ flow: flow || undefined, state: state || undefined, limit: PAGE, offset }), 3000, [flow, state, offset]);
  const status = usePoll<StatusReply>(() => conn.client.status(), 0);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string }>();

  const setFilter = (next: { flow?: string; state?: string }) => {
    setSelected(new Set());
    navigate(href('/queue', { flow: next.flow ?? flow, state: next.state ?? state }));
  };
  const items = list.data?.items ?? [];
  const allSelected = items.length > 0 && items.every((i) => selected.has(i.id));
  const toggle = (id: number) => setSelected((s) => {
    const n = new Set(s);
    if (n.has(id)) n.delete(id);
    else n.add(id);
    return n;
  });

  const act = async (kind: 'retry' | 'discard', req: { ids?: number[]; flow?: string; state?: ItemState }, what: string) => {
    if (kind === 'discard' && !confirm(`Discard ${what}? Discarded items are not delivered.`)) return;
    try {
      const r = kind === 'retry' ? await conn.client.retry(req) : await conn.client.discard(req);
      setMessage({ kind: 'ok', text: `${kind === 'retry' ? 'Queued again' : 'Discarded'}: ${r.count} item${r.count === 1 ? '' : 's'}.` });
      setSelected(new Set());
      list.reload();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };
  const ids = [...selected];
  const total = list.data?.total ?? 0;
  return (
    <>
      <PageHeader title="Queue" />
      <form class="filters" role="search" aria-label="Filter the queue" onSubmit={(e) => e.preventDefault()}>
        <div class="field">
          <label for="q-flow">Flow</label>
          <select id="q-flow" value={flow} onChange={(e) => setFilter({ flow: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">All flows</option>
            {status.data?.flows.map((f) => <option key={f.flow} value={f.flow}>{f.flow}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="q-state">State</label>
          <select id="q-state" value={state} onChange={(e) => setFilter({ state: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">Any state</option>
            {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </div>
      </form>
      {list.error ? <Notice kind="error">{list.error}</Notice> : null}
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      <div class="bulk" role="group" aria-label="Actions on selected items">
        <button type="button" disabled={ids.length === 0} onClick={() => act('retry', { ids }, `${ids.length} items`)}>Retry selected ({ids.length})</button>
        <button type="button" class="secondary danger" disabled={ids.length === 0} onClick={() => act('discard', { ids }, `${ids.length} selected items`)}>Discard selected</button>
        {(state === 'dead' || state === 'retrying') && total > 0 ? (
          <button type="button" class="secondary" onClick={() => act('retry', { flow: flow || undefined, state }, `all ${total}`)}>Retry all {total} {state}</button>
        ) : null}
      </div>
      <table class="items">
        <caption>{list.data ? `${total} item${total === 1 ? '' : 's'}${flow ? ` in ${flow}` : ''}${state ? `, ${state}` : ''}` : 'Loading…'}</caption>
        <thead>
          <tr>
            <th scope="col"><input type="checkbox" aria-label="Select all items on this page" checked={allSelected} onChange={() => setSelected(allSelected ? new Set() : new Set(items.map((i) => i.id)))} /></th>
            <th scope="col">Item</th><th scope="col">Flow</th><th scope="col">State</th><th scope="col">Attempts</th><th scope="col">Size</th><th scope="col">Updated</th><th scope="col">Last error</th>
          </tr>
        </thead>
        <tbody>
          {items.map((i) => (
            <tr key={i.id} data-item={i.id} class={selected.has(i.id) ? 'selected' : undefined}>
              <td><input type="checkbox" aria-label={`Select item ${i.id} ${i.name}`} checked={selected.has(i.id)} onChange={() => toggle(i.id)} /></td>
              <td><a href={`#/queue/${i.id}`}>#{i.id} {i.name}</a></td>
              <td data-label="Flow">{i.flow}</td>
              <td data-label="State"><Badge state={i.state}>{i.state}</Badge>{i.state === 'retrying' && i.nextAttemptAt ? <span class="hint"> next {inFuture(i.nextAttemptAt)}</span> : null}</td>
              <td data-label="Attempts">{i.attempts}</td>
              <td data-label="Size">{bytes(i.size)}</td>
              <td data-label="Updated">{ago(i.updatedAt)}</td>
              <td class="error-cell" data-label={i.lastError ? 'Last error' : undefined}>{plainError(i.lastError)?.plain ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && list.data ? <p class="empty">No items match.</p> : null}
      {total > PAGE ? (
        <nav class="pager" aria-label="Pages">
          <a class="button secondary" aria-disabled={offset === 0} href={href('/queue', { flow, state, offset: String(Math.max(0, offset - PAGE)) })}>Newer</a>
          <span>{offset + 1}–{Math.min(total, offset + PAGE)} of {total}</span>
          <a class="button secondary" aria-disabled={offset + PAGE >= total} href={href('/queue', { flow, state, offset: String(offset + PAGE) })}>Older</a>
        </nav>
      ) : null}
    </>
  );
}

export function QueueItem({ id }: { id: number }) {
  const conn = useConnection();
  const detail = usePoll<ItemDetail>(() => conn.client.item(id), 3000, [id]);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string }>();
  const d = detail.data;
  const act = async (kind: 'retry' | 'discard') => {
    if (kind === 'discard' && !confirm(`Discard item ${id}? It will not be delivered.`)) return;
    try {
      await (kind === 'retry' ? conn.client.retry({ ids: [id] }) : conn.client.discard({ ids: [id] }));
      setMessage({ kind: 'ok', text: kind === 'retry' ? 'Queued again.' : 'Discarded.' });
      detail.reload();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };
  const err = plainError(d?.item.lastError);
  return (
    <>
      <PageHeader title={d ? `Item #${d.item.id}: ${d.item.name}` : `Item #${id}`}>
        <a class="button secondary" href={d ? href('/queue', { flow: d.item.flow }) : '#/queue'}>Back to the queue</a>
      </PageHeader>
      {detail.error ? <Notice kind="error">{detail.error}</Notice> : null}
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      {d ? (
        <>
          <div class="bulk">
            <button type="button" disabled={!['dead', 'retrying', 'discarded'].includes(d.item.state)} onClick={() => act('retry')}>Retry</button>
            <button type="button" class="secondary danger" disabled={!['dead', 'retrying', 'queued'].includes(d.item.state)} onClick={() => act('discard')}>Discard</button>
            <button type="button" class="secondary" disabled={!d.hasBody} onClick={() => downloadBody(conn, id, d.item.name).catch((e) => setMessage({ kind: 'error', text: errorText(e) }))}>Download body</button>
          </div>
          {err ? <Notice kind="error"><strong>Why it failed:</strong> {err.plain}{err.plain !== err.raw ? <><br /><code>{err.raw}</code></> : null}</Notice> : null}
          <section class="panel" aria-labelledby="h-item">
            <h2 id="h-item">Item</h2>
            <dl class="props">
              <dt>State</dt><dd><Badge state={d.item.state}>{d.item.state}</Badge></dd>
              <dt>Flow</dt><dd><a href={`#/flows/${encodeURIComponent(d.item.flow)}`}>{d.item.flow}</a></dd>
              <dt>Size</dt><dd>{bytes(d.item.size)}</dd>
              <dt>Attempts</dt><dd>{d.item.attempts}</dd>
              {d.item.nextAttemptAt ? <><dt>Next attempt</dt><dd>{inFuture(d.item.nextAttemptAt)}</dd></> : null}
              <dt>Queued</dt><dd>{new Date(d.item.createdAt).toLocaleString()}</dd>
              {d.item.settledAt ? <><dt>Settled</dt><dd>{new Date(d.item.settledAt).toLocaleString()}</dd></> : null}
              <dt>Idempotency key</dt><dd><code>{d.item.idempotencyKey}</code></dd>
              <dt>SHA-256</dt><dd><code class="wrap">{d.item.sha256}</code></dd>
            </dl>
          </section>
          <section class="panel" aria-labelledby="h-attrs">
            <h2 id="h-attrs">Attributes</h2>
            <dl class="props">{Object.entries(d.item.attributes).map(([k, v]) => <><dt key={`k-${k}`}>{k}</dt><dd key={`v-${k}`}>{String(v)}</dd></>)}</dl>
          </section>
          <section class="panel" aria-labelledby="h-attempts">
            <h2 id="h-attempts">Attempts</h2>
            {d.attempts.length === 0 ? <p>None yet.</p> : (
              <table class="compact">
                <thead><tr><th scope="col">When</th><th scope="col">Outcome</th><th scope="col">Status</th><th scope="col">Error</th></tr></thead>
                <tbody>{d.attempts.map((a, i) => <tr key={i}><td>{new Date(a.at).toLocaleString()}</td><td>{a.outcome}</td><td>{a.status ?? ''}</td><td>{a.error ?? ''}</td></tr>)}</tbody>
              </table>
            )}
            {d.lastResponse ? <><h3>Last reply from the destination</h3><pre class="response">{d.lastResponse}</pre></> : null}
          </section>
        </>
      ) : !detail.error ? <p aria-busy="true">Loading…</p> : null}
    </>
  );
}
