import type { ComponentChildren } from 'preact';

export function Notice({ kind, children, id }: { kind: 'error' | 'ok' | 'info' | 'warn'; children: ComponentChildren; id?: string }) {
  return (
    <div id={id} class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function Badge({ state, children }: { state: string; children: ComponentChildren }) {
  return <span class={`badge badge-${state}`}>{children}</span>;
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1 id="page-title" tabIndex={-1}>{title}</h1>
      {children ? <div class="page-actions">{children}</div> : null}
    </header>
  );
}
