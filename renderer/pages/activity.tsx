// Activity: the live log of deliveries and errors, from the event stream (resumed from the last cursor).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ActivityEvent } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText } from '../lib/hooks.ts';
import { plainError } from '../lib/format.ts';
import { Notice, PageHeader } from '../components/ui.tsx';

const KEEP = 500;

export function describeEvent(e: ActivityEvent): string {
  const d = e.data ?? {};
  const name = typeof d.name === 'string' ? d.name : e.itemId !== null ? `item #${e.itemId}` : '';
  const reason = typeof d.reason === 'string' ? d.reason : typeof d.error === 'string' ? d.error : typeof d.message === 'string' ? d.message : '';
  switch (e.type) {
    case 'delivered': return `Delivered ${name}`;
    case 'retrying': return `Will retry ${name}${reason ? `: ${plainError(reason)!.plain}` : ''}`;
    case 'dead': return `Gave up on ${name}${reason ? `: ${plainError(reason)!.plain}` : ''}`;
    case 'queued': return `Queued ${name}`;
    case 'requeued': return `Queued again: ${name || `${d.count ?? ''} items`}`;
    case 'discarded': return `Discarded ${name || `${d.count ?? ''} items`}`;
    case 'problem': return `Problem: ${plainError(String(d.message ?? ''))!.plain}`;
    case 'config': {
      const parts = [['started', d.started], ['stopped', d.stopped], ['restarted', d.restarted]]
        .filter(([, v]) => Array.isArray(v) && v.length)
        .map(([k, v]) => `${k} ${(v as string[]).join(', ')}`);
      return `Configuration changed${parts.length ? `: ${parts.join('; ')}` : ''}`;
    }
    case 'flow': {
      const words: Record<string, string> = { pause: 'paused', resume: 'resumed', run: 'scan started', 'pause all': 'all flows paused', 'resume all': 'all flows resumed', 'sync now': 'sync now: every flow scanned' };
      return words[String(d.action)] ?? `flow ${String(d.action ?? 'changed')}`;
    }
    case 'secret': return `Secret ${String(d.name ?? '')} ${d.action === 'delete' ? 'deleted' : 'set'}`;
    case 'connection': {
      const words: Record<string, string> = { consent_needed: 'needs consent', refresh_failing: 'cannot renew its token', connected: 'connected' };
      return `Connection ${String(d.name ?? '')} ${words[String(d.action)] ?? String(d.action ?? 'changed')}${reason ? `: ${reason}` : ''}`;
    }
    case 'system': {
      if (d.action === 'suspend') return 'The machine went to sleep';
      const list = (v: unknown) => (Array.isArray(v) && v.length ? v.join(', ') : 'none');
      return d.action === 'resume' ? `The machine woke up: rescanned ${list(d.rescanned)}; missed schedules run: ${list(d.caughtUp)}` : `system: ${String(d.action ?? '')}`;
    }
    default: return [e.type, name, reason || (Object.keys(d).length ? JSON.stringify(d) : '')].filter(Boolean).join(': ');
  }
}

export function Activity() {
  const conn = useConnection();
  const [events, setEvents] = useState<ActivityEvent[]>([]);
  const [error, setError] = useState<string>();
  const [live, setLive] = useState(false);
  const [flow, setFlow] = useState('');
  const [onlyProblems, setOnlyProblems] = useState(false);
  const cursor = useRef(0);

  useEffect(() => {
    let close: (() => void) | undefined;
    let cancelled = false;
    conn.client.activity(undefined, 200).then(
      (r) => {
        if (cancelled) return;
        cursor.current = r.cursor;
        setEvents(r.events.slice().reverse());
        close = conn.client.events(
          (e) => {
            setLive(true);
            if (e.id <= cursor.current) return;
            cursor.current = e.id;
            setEvents((prev) => [e, ...prev].slice(0, KEEP));
          },
          r.cursor,
          () => setLive(false),
        );
        setLive(true);
      },
      (e) => setError(errorText(e)),
    );
    return () => {
      cancelled = true;
      close?.();
    };
  }, []);

  const flows = [...new Set(events.map((e) => e.flow).filter((f): f is string => !!f))].sort();
  const shown = events.filter((e) => (!flow || e.flow === flow) && (!onlyProblems || ['retrying', 'dead', 'problem'].includes(e.type)));
  return (
    <>
      <PageHeader title="Activity">
        <span class={`live ${live ? 'on' : 'off'}`} role="status">{live ? 'Live' : 'Reconnecting…'}</span>
      </PageHeader>
      {error ? <Notice kind="error">{error}</Notice> : null}
      <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the activity">
        <div class="field">
          <label for="a-flow">Flow</label>
          <select id="a-flow" value={flow} onChange={(e) => setFlow((e.currentTarget as HTMLSelectElement).value)}>
            <option value="">All flows</option>
            {flows.map((f) => <option key={f} value={f}>{f}</option>)}
          </select>
        </div>
        <div class="field field-check">
          <input id="a-problems" type="checkbox" checked={onlyProblems} onChange={(e) => setOnlyProblems((e.currentTarget as HTMLInputElement).checked)} />
          <label for="a-problems">Only problems</label>
        </div>
      </form>
      <ol class="log" aria-label="Activity, newest first">
        {shown.map((e) => (
          <li key={e.id} class={`log-${e.type}`} data-type={e.type}>
            <time dateTime={e.at}>{new Date(e.at).toLocaleTimeString()}</time>
            <span class="log-flow">{e.flow ?? 'ferry'}</span>
            <span class="log-text">{e.itemId !== null ? <a href={`#/queue/${e.itemId}`}>{describeEvent(e)}</a> : describeEvent(e)}</span>
          </li>
        ))}
      </ol>
      {shown.length === 0 ? <p class="empty">Nothing yet. Deliveries and errors show up here as they happen.</p> : null}
    </>
  );
}
