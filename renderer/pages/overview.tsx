// Overview: one card per flow with its state, counts, last delivery, next run, last error and a sparkline.
import { useEffect, useState } from 'preact/hooks';
import type { ActivityEvent, FlowStatus, StatusReply } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText, usePoll } from '../lib/hooks.ts';
import { ago, bytes, inFuture, plainError } from '../lib/format.ts';
import { flowState, STATE_LABEL } from '../lib/flow-state.ts';
import { href } from '../lib/router.ts';
import { bucketize, Sparkline } from '../components/sparkline.tsx';
import { Badge, Notice, PageHeader } from '../components/ui.tsx';

const HOUR = 3_600_000;

export function Overview() {
  const conn = useConnection();
  const status = usePoll<StatusReply>(() => conn.client.status(), 2000);
  const [deliveries, setDeliveries] = useState<Map<string, number[]>>(new Map());
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string }>();

  // throughput: delivered events of the last hour, then live from the event stream
  useEffect(() => {
    let close: (() => void) | undefined;
    let cancelled = false;
    let reloadTimer: ReturnType<typeof setTimeout> | undefined;
    const add = (events: ActivityEvent[]) =>
      setDeliveries((prev) => {
        const next = new Map(prev);
        const cutoff = Date.now() - HOUR;
        for (const e of events) {
          if (e.type !== 'delivered' || !e.flow) continue;
          const t = Date.parse(e.at);
          if (t < cutoff) continue;
          next.set(e.flow, [...(next.get(e.flow) ?? []).filter((x) => x >= cutoff), t]);
        }
        return next;
      });
    const subscribe = (since?: number) => {
      if (cancelled) return;
      close = conn.client.events((e) => {
        add([e]);
        // a burst of events refreshes the cards once per 500 ms, not once per event
        if (!reloadTimer) reloadTimer = setTimeout(() => {
          reloadTimer = undefined;
          status.reload();
        }, 500);
      }, since);
    };
    // the API returns at most the latest 1000 events: enough for an hour's sparkline on a desktop agent
    conn.client.activity(undefined, 1000).then(
      (r) => {
        if (cancelled) return;
        add(r.events);
        subscribe(r.cursor);
      },
      () => subscribe(),
    );
    return () => {
      cancelled = true;
      clearTimeout(reloadTimer);
      close?.();
    };
  }, []);

  const act = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
      setMessage({ kind: 'ok', text: what });
      status.reload();
    } catch (e) {
      setMessage({ kind: 'error', text: errorText(e) });
    }
  };

  const report = status.data;
  const now = Date.now();
  return (
    <>
      <PageHeader title="Overview">
        <a class="button" href="#/flows/new">Add a flow</a>
      </PageHeader>
      {status.error ? <Notice kind="error">{status.error}</Notice> : null}
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      {report && !report.running ? <Notice kind="warn">The engine is not running: nothing is being moved.</Notice> : null}
      {report?.connections?.filter((c) => c.state !== 'connected').map((c) => (
        <Notice key={c.name} kind={c.state === 'consent_needed' ? 'error' : 'warn'}>
          Connection <strong>{c.name}</strong> {c.state === 'consent_needed' ? 'needs consent' : 'cannot renew its token'}: {c.reason}{' '}
          <a href="#/connections">{c.state === 'consent_needed' ? 'Connect it' : 'Connections'}</a>
        </Notice>
      ))}
      {report ? <Totals report={report} /> : <p aria-busy="true">Loading…</p>}
      {report && report.flows.length === 0 ? (
        <p class="empty">No flows yet. <a href="#/flows/new">Add a folder watch</a> to start moving files.</p>
      ) : null}
      <ul class="cards" aria-label="Flows">
        {report?.flows.map((f) => (
          <FlowCard key={f.flow} f={f} now={now} deliveries={deliveries.get(f.flow) ?? []} act={act} />
        ))}
      </ul>
      {report?.alerts?.length ? <AlertChannels report={report} now={now} /> : null}
    </>
  );
}

/** The alert channels of `alerts:`: whether their messages go out (a failing channel is the admin's blind spot). */
function AlertChannels({ report, now }: { report: StatusReply; now: number }) {
  return (
    <section class="alert-channels" aria-labelledby="alerts-title">
      <h2 id="alerts-title">Alerts</h2>
      <ul>
        {report.alerts!.map((a) => {
          const err = plainError(a.lastError);
          return (
            <li key={a.rule} data-alert={a.rule}>
              <Badge state={a.health === 'failing' ? 'error' : a.health === 'ok' ? 'ok' : 'disabled'}>{a.health === 'failing' ? 'Not sending' : a.health === 'ok' ? 'OK' : 'Nothing sent yet'}</Badge>{' '}
              <strong>{a.channel}</strong> <span class="muted">on {a.on.join(', ')}</span>
              {a.lastSentAt ? <span class="muted"> · last sent {ago(a.lastSentAt, now)}</span> : null}
              {a.health === 'failing' ? (
                <p>
                  {a.counts.queued + a.counts.retrying + a.counts.inflight} waiting, {a.counts.dead} failed{err ? `: ${err.plain}` : ''}{' '}
                  <a href={href('/queue', { flow: a.flow })}>Messages</a>
                </p>
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function Totals({ report }: { report: StatusReply }) {
  const t = report.totals;
  return (
    <dl class="totals">
      <div><dt>Flows</dt><dd>{report.flows.length}</dd></div>
      <div><dt>Waiting</dt><dd>{t.queued + t.inflight}</dd></div>
      <div><dt>Retrying</dt><dd>{t.retrying}</dd></div>
      <div class={t.dead ? 'bad' : undefined}><dt>Failed</dt><dd>{t.dead}</dd></div>
    </dl>
  );
}

function FlowCard({ f, now, deliveries, act }: { f: FlowStatus; now: number; deliveries: number[]; act: (what: string, fn: () => Promise<unknown>) => void }) {
  const conn = useConnection();
  const state = flowState(f);
  // an error older than the last delivery on a healthy flow is history, not news
  const resolved = f.lastErrorAt && f.lastDeliveryAt && Date.parse(f.lastDeliveryAt) > Date.parse(f.lastErrorAt) && (state === 'ok' || state === 'syncing');
  const err = resolved ? null : plainError(f.lastError);
  const titleId = `card-${f.flow}`;
  return (
    <li class={`card card-${state}`} aria-labelledby={titleId} data-flow={f.flow}>
      <div class="card-head">
        <h2 id={titleId}><a href={href(`/flows/${encodeURIComponent(f.flow)}`)}>{f.flow}</a></h2>
        <Badge state={state}>{STATE_LABEL[state]}</Badge>
      </div>
      <p class="card-sub">{f.integration} · {f.source.type} → {f.destination.type} · {f.trigger}</p>
      <dl class="counts">
        <div><dt>Queued</dt><dd data-count="queued">{f.counts.queued + f.counts.inflight}</dd></div>
        <div><dt>Retrying</dt><dd data-count="retrying">{f.counts.retrying}</dd></div>
        <div class={f.counts.dead ? 'bad' : undefined}><dt>Dead</dt><dd data-count="dead">{f.counts.dead}</dd></div>
        <div><dt>Delivered</dt><dd data-count="delivered">{f.counts.delivered}</dd></div>
      </dl>
      <dl class="facts">
        <div><dt>Last delivery</dt><dd data-fact="last-delivery">{ago(f.lastDeliveryAt, now)}</dd></div>
        {f.nextRunAt ? <div><dt>Next run</dt><dd>{inFuture(f.nextRunAt, now)}</dd></div> : null}
        {f.waitingBytes ? <div><dt>Waiting data</dt><dd>{bytes(f.waitingBytes)}</dd></div> : null}
        {f.destination.health === 'unreachable' ? <div class="bad"><dt>Destination</dt><dd>unreachable since {ago(f.destination.unreachableSince, now)}</dd></div> : null}
        {f.source.intakeBlocked ? <div class="bad"><dt>Intake paused</dt><dd>{f.source.intakeBlocked}</dd></div> : null}
        {f.source.failingSince ? <div class="bad" data-fact="source-failing"><dt>Source</dt><dd>failing since {ago(f.source.failingSince, now)}</dd></div> : null}
        {f.waitingFor ? <div class="bad" data-fact="waiting-for"><dt>Deliveries wait</dt><dd>{f.waitingFor} (<a href="#/connections">connect</a>)</dd></div> : null}
        {f.warnings?.map((w) => <div class="warn" data-fact="warning" key={w}><dt>Warning</dt><dd>{w}</dd></div>)}
      </dl>
      {err ? (
        <div class="last-error">
          <p><strong>Last error</strong> ({ago(f.lastErrorAt, now)}): {err.plain}</p>
          {err.plain !== err.raw ? <details><summary>Details</summary><code>{err.raw}</code></details> : null}
        </div>
      ) : null}
      <Sparkline buckets={bucketize(deliveries, now, 12)} bucketMinutes={5} label={`Deliveries of ${f.flow}`} />
      <div class="card-actions">
        {f.paused ? (
          <button type="button" onClick={() => act(`${f.flow} resumed`, () => conn.client.resume(f.flow))}>Resume<span class="visually-hidden"> {f.flow}</span></button>
        ) : (
          <button type="button" class="secondary" onClick={() => act(`${f.flow} paused`, () => conn.client.pause(f.flow))}>Pause<span class="visually-hidden"> {f.flow}</span></button>
        )}
        <button type="button" class="secondary" disabled={!f.enabled || f.paused} onClick={() => act(`${f.flow}: scanning now`, () => conn.client.runNow(f.flow))}>Run now<span class="visually-hidden"> {f.flow}</span></button>
        <a class="button secondary" href={href('/queue', { flow: f.flow, state: f.counts.dead ? 'dead' : undefined })}>Queue<span class="visually-hidden"> of {f.flow}</span></a>
      </div>
    </li>
  );
}
