// Flow editor: forms generated from the config's JSON Schema, validated by the engine as the admin types
// (each problem shown at the field it names), with a dry run for folder sources, "Test connection" and the
// next five runs of a schedule in its time zone.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { CheckReply, ConfigView, DryRunReply, Problem, RawFlow, ScheduleReply } from '../api/client.ts';
import { ApiRequestError } from '../api/client.ts';
import { useConnection } from '../lib/api.ts';
import { errorText, useDebounced, usePoll } from '../lib/hooks.ts';
import { navigate } from '../lib/router.ts';
import { bytes } from '../lib/format.ts';
import { Field, fieldId, ObjectFields, resolve, type FieldEnv, type Problems, type Schema } from '../components/schema-form.tsx';
import { Notice, PageHeader } from '../components/ui.tsx';
import { ManagedNotice } from '../components/config-source.tsx';

type FlowDraft = Partial<RawFlow> & Record<string, unknown>;

/** The schema of one flow inside the whole config's schema. */
export function flowSchemaOf(root: Schema): Schema {
  const integrations = resolve(resolve(root, root).properties?.integrations, root);
  const integration = resolve(integrations.items, root);
  const flows = resolve(integration.properties?.flows, root);
  return resolve(flows.items, root);
}

const toProblems = (list: Problem[] | undefined): Problems => Object.fromEntries((list ?? []).map((p) => [p.path, p.message]));

const NEW_INTEGRATION = '\u0000new';

export function FlowEditor({ name, saved }: { name?: string; saved?: boolean }) {
  const conn = useConnection();
  const cfg = usePoll<ConfigView>(() => conn.client.config(), 0, [name]);
  const view = cfg.data;
  if (cfg.error && !view) return <><PageHeader title="Flow" /><Notice kind="error">{cfg.error}</Notice></>;
  if (!view) return <p aria-busy="true">Loading…</p>;
  const owner = name ? view.config.integrations?.find((i) => i.flows.some((f) => f.name === name)) : undefined;
  if (name && !owner) return <><PageHeader title={`Flow ${name}`} /><Notice kind="error">There is no flow named “{name}”. <a href="#/">Back to the overview</a></Notice></>;
  const existing = owner?.flows.find((f) => f.name === name);
  return <EditorForm key={name ?? 'new'} view={view} originalName={name} originalIntegration={owner?.name} initial={existing ? structuredClone(existing) as FlowDraft : undefined} savedNotice={saved && name ? `Saved “${name}”.` : undefined} />;
}

function EditorForm({ view, originalName, originalIntegration, initial, savedNotice }: { view: ConfigView; originalName?: string; originalIntegration?: string; initial?: FlowDraft; savedNotice?: string }) {
  const conn = useConnection();
  const integrations = view.config.integrations ?? [];
  const [integration, setIntegration] = useState<string>(originalIntegration ?? integrations[0]?.name ?? NEW_INTEGRATION);
  const [newIntegration, setNewIntegration] = useState(integrations.length ? '' : 'main');
  const [draft, setDraft] = useState<FlowDraft>(
    initial ?? { name: '', source: { type: 'folder' }, trigger: { on: 'change' }, destination: { type: view.connectors.find((c) => c.destination && c.type !== 'folder')?.type ?? 'folder' } },
  );
  const [problems, setProblems] = useState<Problems>({});
  /** Risks the flow accepts on purpose (allowInsecure on an open listener): shown, not blocking. */
  const [warnings, setWarnings] = useState<Problem[]>([]);
  const [touched, setTouched] = useState(false);
  const [saving, setSaving] = useState(false);
  const [result, setResult] = useState<{ kind: 'ok' | 'error' | 'warn'; text: string } | undefined>(savedNotice ? { kind: 'ok', text: savedNotice } : undefined);
  const root = view.schema as Schema;
  const flowSchema = useMemo(() => flowSchemaOf(root), [root]);
  const integrationName = integration === NEW_INTEGRATION ? newIntegration.trim() : integration;

  const env = (base: Problems): FieldEnv => ({
    root,
    problems: base,
    pickFolder: conn.desktop ? (current) => conn.desktop!.pickFolder({ defaultPath: current || undefined }) : undefined,
  });

  // inline validation as the admin types (debounced), through the engine's own schema
  const debounced = useDebounced(draft, 400);
  useEffect(() => {
    if (!touched) return;
    let stale = false;
    conn.client.validate({ integration: integrationName || 'new-integration', flow: debounced }).then(
      (r) => {
        if (stale) return;
        setProblems(toProblems(r.problems));
        setWarnings(r.warnings ?? []);
      },
      () => undefined,
    );
    return () => {
      stale = true;
    };
  }, [debounced, touched]);

  const update = (key: string) => (v: unknown) => {
    setTouched(true);
    // the edited part's old problems go at once; the debounced validation brings back what still applies
    setProblems((p) => Object.fromEntries(Object.entries(p).filter(([k]) => k !== key && !k.startsWith(`${key}.`) && !k.startsWith(`${key}[`))));
    setDraft((d) => {
      const next = { ...d };
      if (v === undefined) delete next[key];
      else next[key] = v;
      return next;
    });
  };

  const sourceTypes = view.connectors.filter((c) => c.source);
  const destTypes = view.connectors.filter((c) => c.destination);
  const source = (draft.source ?? { type: 'folder' }) as Record<string, unknown> & { type: string };
  const destination = (draft.destination ?? { type: 'folder' }) as Record<string, unknown> & { type: string };
  const srcDef = view.connectors.find((c) => c.type === source.type);
  const dstDef = view.connectors.find((c) => c.type === destination.type);
  const trigger = (draft.trigger ?? { on: 'change' }) as { on?: string; schedule?: string; timezone?: string; catchUp?: boolean };
  const scheduled = trigger.schedule !== undefined;

  const save = async (e: Event) => {
    e.preventDefault();
    setTouched(true);
    setResult(undefined);
    if (!integrationName) {
      setProblems({ integration: 'expected a name for the new integration' });
      focusFirstProblem();
      return;
    }
    setSaving(true);
    try {
      const checked = await conn.client.validate({ integration: integrationName, flow: draft });
      setWarnings(checked.warnings ?? []);
      if (!checked.ok) {
        setProblems(toProblems(checked.problems));
        setResult({ kind: 'error', text: `Not saved: ${checked.problems.length} problem${checked.problems.length === 1 ? '' : 's'} to fix.` });
        focusFirstProblem();
        return;
      }
      const exists = integrations.some((i) => i.name === integrationName);
      const flowName = String(draft.name);
      if (originalName && originalIntegration && originalIntegration !== integrationName) {
        setResult({ kind: 'error', text: 'Moving a flow to another integration: delete it here and add it there.' });
        return;
      }
      const reply = exists
        ? await conn.client.putFlow(integrationName, originalName ?? flowName, { ...draft, name: flowName } as RawFlow)
        : await conn.client.putIntegration(integrationName, { flows: [draft as RawFlow] });
      setProblems({});
      const restart = reply.applied.restartRequired.length ? ` Restart Ferry to apply: ${reply.applied.restartRequired.join(', ')}.` : '';
      // a new or renamed flow gets its own page; it says it was saved there
      if (originalName !== flowName && !restart) navigate(`#/flows/${encodeURIComponent(flowName)}?saved=1`);
      else setResult({ kind: 'ok', text: `Saved “${flowName}”.${restart}` });
    } catch (err) {
      if (err instanceof ApiRequestError && err.problems?.length) {
        setProblems(toProblems(err.problems));
        focusFirstProblem();
      }
      setResult({ kind: 'error', text: `Not saved: ${errorText(err)}` });
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    if (!originalName || !originalIntegration) return;
    if (!confirm(`Delete the flow “${originalName}”? Its waiting items stay in the queue.`)) return;
    try {
      const integ = integrations.find((i) => i.name === originalIntegration);
      if (integ && integ.flows.length === 1) await conn.client.deleteIntegration(originalIntegration);
      else await conn.client.deleteFlow(originalIntegration, originalName);
      navigate('#/');
    } catch (err) {
      setResult({ kind: 'error', text: errorText(err) });
    }
  };

  const problemList = Object.entries(problems);
  // managed centrally (configSource): every field is shown read-only, with the reason
  const managed = view.managedBy;
  return (
    <form onSubmit={save} noValidate aria-labelledby="page-title">
      <PageHeader title={originalName ? `Flow ${originalName}` : 'New flow'}>
        {originalName && !managed ? <button type="button" class="danger secondary" onClick={remove}>Delete flow</button> : null}
      </PageHeader>
      {managed ? <ManagedNotice managed={managed} /> : null}
      <fieldset class="plain" disabled={!!managed}>
      {problemList.length > 0 ? (
        <div class="notice notice-error" role="alert" aria-labelledby="problem-summary">
          <p id="problem-summary"><strong>{problemList.length === 1 ? 'One setting needs' : `${problemList.length} settings need`} fixing:</strong></p>
          <ul>{problemList.map(([p, m]) => <li key={p}><a href={`#${fieldId(p)}`} onClick={(e) => { e.preventDefault(); focusField(p); }}>{p}</a>: {m}</li>)}</ul>
        </div>
      ) : null}
      {warnings.length > 0 ? (
        <div class="notice notice-warn" role="status" data-warnings>
          <p><strong>{warnings.length === 1 ? 'Warning' : `${warnings.length} warnings`}: this flow accepts a risk</strong></p>
          <ul>{warnings.map((w) => <li key={w.path}><a href={`#${fieldId(w.path)}`} onClick={(e) => { e.preventDefault(); focusField(w.path); }}>{w.path}</a>: {w.message}</li>)}</ul>
        </div>
      ) : null}

      <section class="panel" aria-labelledby="h-general">
        <h2 id="h-general">General</h2>
        <div class="field">
          <label for="f-integration">Integration</label>
          <select id="f-integration" value={integration} disabled={!!originalName} onChange={(e) => setIntegration((e.currentTarget as HTMLSelectElement).value)}>
            {integrations.map((i) => <option key={i.name} value={i.name}>{i.name}</option>)}
            <option value={NEW_INTEGRATION}>New integration…</option>
          </select>
          <p class="help">Integrations group the flows that serve one system.</p>
        </div>
        {integration === NEW_INTEGRATION ? (
          <div class="field">
            <label for="f-new-integration">New integration name<span class="req" aria-hidden="true"> *</span></label>
            <input id="f-new-integration" type="text" value={newIntegration} aria-invalid={problems.integration ? true : undefined} aria-describedby={problems.integration ? 'f-integration-error' : undefined} onInput={(e) => setNewIntegration((e.currentTarget as HTMLInputElement).value)} />
            {problems.integration ? <p class="field-error" id="f-integration-error">{problems.integration}</p> : null}
          </div>
        ) : null}
        <Field name="name" label="Flow name" path="name" schema={flowSchema.properties?.name ?? { type: 'string' }} value={draft.name} required onChange={update('name')} env={env(problems)} />
        <Field name="enabled" path="enabled" schema={flowSchema.properties?.enabled ?? { type: 'boolean', default: true }} value={draft.enabled} required={false} onChange={update('enabled')} env={env(problems)} />
      </section>

      <section class="panel" aria-labelledby="h-source">
        <h2 id="h-source">Take from (source)</h2>
        <TypeSelect id="f-source-type" label="Source type" value={source.type} options={sourceTypes.map((c) => c.type)} onChange={(t) => update('source')({ type: t })} />
        {srcDef?.source ? <ObjectFields schema={srcDef.source as Schema} path="source" value={source} env={env(problems)} omit={['existingFiles']} onChange={(v) => update('source')({ ...v, type: source.type })} /> : null}
        <div class="row-actions">
          <CheckButton role="source" block={source} />
          {source.type === 'folder' ? <DryRun source={source} /> : null}
        </div>
        {srcDef?.source && (srcDef.source as Schema).properties?.existingFiles ? (
          <fieldset class="choice" id={fieldId('source.existingFiles')}>
            <legend>Files already in the folder</legend>
            <label><input type="radio" name="existingFiles" checked={source.existingFiles !== 'skip'} onChange={() => update('source')({ ...source, existingFiles: undefined })} /> Process existing files</label>
            <label><input type="radio" name="existingFiles" checked={source.existingFiles === 'skip'} onChange={() => update('source')({ ...source, existingFiles: 'skip' })} /> Only new files (leave what is there now alone)</label>
            <p class="help">Decided when the flow first starts; files that change later are taken either way.</p>
            {problems['source.existingFiles'] ? <p class="field-error">{problems['source.existingFiles']}</p> : null}
          </fieldset>
        ) : null}
      </section>

      <section class="panel" aria-labelledby="h-trigger">
        <h2 id="h-trigger">When</h2>
        <fieldset class="choice" id={fieldId('trigger')}>
          <legend>Run this flow</legend>
          <label><input type="radio" name="trigger" checked={!scheduled} disabled={srcDef ? !srcDef.changeEvents : false} onChange={() => update('trigger')({ on: 'change' })} /> As soon as something arrives{srcDef && !srcDef.changeEvents ? ' (not available for this source)' : ''}</label>
          <label><input type="radio" name="trigger" checked={scheduled} onChange={() => update('trigger')({ schedule: '*/15 * * * *' })} /> On a schedule</label>
          {problems.trigger ? <p class="field-error">{problems.trigger}</p> : null}
        </fieldset>
        {scheduled ? <ScheduleFields trigger={trigger} problems={problems} onChange={update('trigger')} /> : null}
      </section>

      <section class="panel" aria-labelledby="h-destination">
        <h2 id="h-destination">Deliver to (destination)</h2>
        <TypeSelect id="f-destination-type" label="Destination type" value={destination.type} options={destTypes.map((c) => c.type)} onChange={(t) => update('destination')({ type: t })} />
        {dstDef?.destination ? <ObjectFields schema={dstDef.destination as Schema} path="destination" value={destination} env={env(problems)} onChange={(v) => update('destination')({ ...v, type: destination.type })} /> : null}
        <div class="row-actions"><CheckButton role="destination" block={destination} /></div>
      </section>

      <section class="panel" aria-labelledby="h-delivery">
        <h2 id="h-delivery">Retries and limits</h2>
        <ObjectFields schema={flowSchema} path="" value={draft} env={env(problems)} omit={['name', 'enabled', 'source', 'destination', 'trigger']} onChange={(v) => { setTouched(true); setDraft(v as FlowDraft); }} />
      </section>

      </fieldset>
      {result ? <Notice kind={result.kind}>{result.text}</Notice> : null}
      <div class="form-actions">
        {managed ? null : <button type="submit" disabled={saving}>{saving ? 'Saving…' : originalName ? 'Save changes' : 'Add flow'}</button>}
        <a class="button secondary" href="#/">{managed ? 'Back' : 'Cancel'}</a>
      </div>
    </form>
  );
}

function focusFirstProblem() {
  setTimeout(() => {
    const el = document.querySelector<HTMLElement>('[aria-invalid="true"]');
    el?.focus();
  }, 50);
}

function focusField(path: string) {
  const el = document.getElementById(fieldId(path));
  if (!el) return;
  el.closest('details')?.setAttribute('open', '');
  (el.matches('input,select,textarea,button') ? el : el.querySelector<HTMLElement>('input,select,textarea') ?? el).focus();
}

function TypeSelect({ id, label, value, options, onChange }: { id: string; label: string; value: string; options: string[]; onChange: (t: string) => void }) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value)}>
        {options.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    </div>
  );
}

function CheckButton({ role, block }: { role: 'source' | 'destination'; block: Record<string, unknown> }) {
  const conn = useConnection();
  const [reply, setReply] = useState<CheckReply | { ok: false; message: string }>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setReply(undefined);
    try {
      setReply(await conn.client.check(role === 'source' ? { source: block } : { destination: block }));
    } catch (e) {
      setReply({ ok: false, message: errorText(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="inline-result">
      <button type="button" class="secondary" onClick={run} disabled={busy}>{busy ? 'Testing…' : 'Test connection'}<span class="visually-hidden"> of the {role}</span></button>
      {reply ? (
        <Notice kind={reply.ok ? 'ok' : 'error'}>
          {reply.ok ? 'Connection OK' : 'Connection failed'}{reply.message ? `: ${reply.message}` : ''}
          {'problems' in reply && reply.problems?.length ? <ul>{reply.problems.map((p) => <li key={p.path}>{p.path}: {p.message}</li>)}</ul> : null}
        </Notice>
      ) : null}
    </div>
  );
}

function DryRun({ source }: { source: Record<string, unknown> }) {
  const conn = useConnection();
  const [reply, setReply] = useState<DryRunReply>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setReply(await conn.client.dryRun({ source }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="inline-result dry-run">
      <button type="button" class="secondary" onClick={run} disabled={busy}>{busy ? 'Looking…' : 'Preview matching files'}</button>
      {error ? <Notice kind="error">{error}</Notice> : null}
      {reply ? (
        <div role="status">
          <p><strong>{reply.message}</strong></p>
          {reply.files.length > 0 ? (
            <table class="compact">
              <caption class="visually-hidden">Files the source would take</caption>
              <thead><tr><th scope="col">File</th><th scope="col">Size</th><th scope="col">State</th></tr></thead>
              <tbody>{reply.files.slice(0, 20).map((f) => <tr key={f.relativePath}><td>{f.relativePath}</td><td>{bytes(f.size)}</td><td>{f.state === 'complete' ? 'ready' : 'still being written'}</td></tr>)}</tbody>
            </table>
          ) : null}
          {reply.files.length > 20 || reply.truncated ? <p class="help">Showing the first 20.</p> : null}
        </div>
      ) : null}
    </div>
  );
}

function ScheduleFields({ trigger, problems, onChange }: { trigger: { schedule?: string; timezone?: string; catchUp?: boolean }; problems: Problems; onChange: (t: unknown) => void }) {
  const conn = useConnection();
  const [next, setNext] = useState<ScheduleReply>();
  const cron = useDebounced(trigger.schedule ?? '', 300);
  const tz = useDebounced(trigger.timezone ?? '', 300);
  useEffect(() => {
    if (!cron.trim()) return;
    let stale = false;
    conn.client.nextRuns(cron, tz || undefined, 5).then((r) => !stale && setNext(r), (e) => !stale && setNext({ ok: false, times: [], local: [], timezone: tz, problems: [{ path: 'schedule', message: errorText(e) }] }));
    return () => {
      stale = true;
    };
  }, [cron, tz]);
  const set = (k: string, v: unknown) => onChange({ ...trigger, [k]: v === '' ? undefined : v });
  const scheduleProblem = problems['trigger.schedule'] ?? (next && !next.ok ? next.problems.find((p) => p.path.endsWith('schedule') || p.path === 'cron')?.message : undefined);
  const tzProblem = problems['trigger.timezone'] ?? (next && !next.ok ? next.problems.find((p) => p.path.endsWith('timezone'))?.message : undefined);
  const machineTz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return (
    <div class="fields">
      <div class="field">
        <label for={fieldId('trigger.schedule')}>Schedule (cron)<span class="req" aria-hidden="true"> *</span></label>
        <input id={fieldId('trigger.schedule')} type="text" spellcheck={false} value={trigger.schedule ?? ''} aria-invalid={scheduleProblem ? true : undefined}
          aria-describedby={`${fieldId('trigger.schedule')}-help${scheduleProblem ? ` ${fieldId('trigger.schedule')}-error` : ''}`} onInput={(e) => set('schedule', (e.currentTarget as HTMLInputElement).value)} />
        <p class="help" id={`${fieldId('trigger.schedule')}-help`}>Minute hour day-of-month month day-of-week, e.g. “0 8 * * 1-5” for 08:00 on weekdays.</p>
        {scheduleProblem ? <p class="field-error" id={`${fieldId('trigger.schedule')}-error`}>{scheduleProblem}</p> : null}
      </div>
      <div class="field">
        <label for={fieldId('trigger.timezone')}>Time zone</label>
        <input id={fieldId('trigger.timezone')} type="text" list="timezones" placeholder={machineTz} value={trigger.timezone ?? ''} aria-invalid={tzProblem ? true : undefined}
          aria-describedby={tzProblem ? `${fieldId('trigger.timezone')}-error` : undefined} onInput={(e) => set('timezone', (e.currentTarget as HTMLInputElement).value)} />
        <datalist id="timezones">{timezones().map((z) => <option key={z} value={z} />)}</datalist>
        {tzProblem ? <p class="field-error" id={`${fieldId('trigger.timezone')}-error`}>{tzProblem}</p> : null}
      </div>
      <div class="field field-check">
        <input id={fieldId('trigger.catchUp')} type="checkbox" checked={trigger.catchUp ?? true} onChange={(e) => set('catchUp', (e.currentTarget as HTMLInputElement).checked)} />
        <label for={fieldId('trigger.catchUp')}>Catch up a run missed while Ferry was off</label>
      </div>
      {next?.ok ? (
        <div class="next-runs" role="status">
          <p>Next runs ({next.timezone}):</p>
          <ol>{next.local.map((t, i) => <li key={next.times[i]}><time dateTime={next.times[i]}>{t}</time></li>)}</ol>
        </div>
      ) : null}
    </div>
  );
}

function timezones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
  try {
    return intl.supportedValuesOf?.('timeZone') ?? [];
  } catch {
    return [];
  }
}
