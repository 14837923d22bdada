// The dashboard: a client of the engine's admin API only (in the desktop window and in a browser).
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './styles.css';
import { connect, ConnectionContext, type Connection } from './lib/api.ts';
import { errorText } from './lib/hooks.ts';
import { useRoute } from './lib/router.ts';
import { Overview } from './pages/overview.tsx';
import { FlowEditor } from './pages/flow-editor.tsx';
import { Queue, QueueItem } from './pages/queue.tsx';
import { Activity } from './pages/activity.tsx';
import { Settings } from './pages/settings.tsx';
import { Fleet } from './pages/fleet.tsx';
import { Connections } from './pages/connections.tsx';

const NAV = [
  { path: '', label: 'Overview' },
  { path: 'flows', label: 'New flow', target: 'flows/new' },
  { path: 'queue', label: 'Queue' },
  { path: 'activity', label: 'Activity' },
  { path: 'connections', label: 'Connections' },
  { path: 'settings', label: 'Settings' },
  { path: 'fleet', label: 'Fleet', onlyWithFleet: true },
];

function Page() {
  const route = useRoute();
  const [section, arg] = route.path;
  const first = useRef(true);
  useEffect(() => {
    // after a page change, focus the new page's heading so keyboard and screen-reader users land on it
    // (not on first load: there the first Tab should reach "Skip to content")
    if (first.current) {
      first.current = false;
      return;
    }
    const t = setTimeout(() => document.getElementById('page-title')?.focus({ preventScroll: false }), 50);
    return () => clearTimeout(t);
  }, [route.path.join('/')]);
  const title = NAV.find((n) => n.path === (section ?? ''))?.label ?? 'Ferry';
  useEffect(() => {
    document.title = `${title} · Ferry`;
  }, [title]);
  switch (section) {
    case undefined: return <Overview />;
    case 'flows': return <FlowEditor name={arg && arg !== 'new' ? arg : undefined} saved={route.query.get('saved') === '1'} />;
    case 'queue': return arg ? <QueueItem id={Number(arg)} /> : <Queue query={route.query} />;
    case 'activity': return <Activity />;
    case 'connections': return <Connections />;
    case 'settings': return <Settings />;
    case 'fleet': return <Fleet />;
    default: return <p>Unknown page. <a href="#/">Go to the overview</a>.</p>;
  }
}

function Shell({ conn }: { conn: Connection }) {
  const route = useRoute();
  // the Fleet page exists when the config has fleet.view (GET /api/fleet answers 404 otherwise)
  const [fleetView, setFleetView] = useState(false);
  useEffect(() => {
    conn.client.fleet().then(() => setFleetView(true), () => setFleetView(false));
  }, [conn]);
  const current = route.path[0] === 'flows' ? (route.path[1] === 'new' || !route.path[1] ? 'flows' : '') : (route.path[0] ?? '');
  return (
    <ConnectionContext.Provider value={conn}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
      <div class="layout">
        <nav class="sidebar" aria-label="Main">
          <p class="brand"><Logo /> Ferry</p>
          <ul>
            {NAV.filter((n) => !n.onlyWithFleet || fleetView).map((n) => (
              <li key={n.path}>
                <a href={`#/${n.target ?? n.path}`} aria-current={current === n.path ? 'page' : undefined}>{n.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <Page />
        </main>
      </div>
    </ConnectionContext.Provider>
  );
}

function Logo() {
  return (
    <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <circle cx="12" cy="12" r="11" class="logo-disc" />
      <path d="M5 13.5h14l-2.2 3.6H7.2z M8 13.5V9h5l2 4.5" class="logo-boat" />
    </svg>
  );
}

function Boot() {
  const [conn, setConn] = useState<Connection>();
  const [error, setError] = useState<string>();
  useEffect(() => {
    connect().then(setConn, (e) => setError(errorText(e)));
  }, []);
  if (error) return <main class="boot"><h1>Ferry</h1><p role="alert">Cannot connect to the engine: {error}</p></main>;
  if (!conn) return <main class="boot" aria-busy="true"><p>Connecting…</p></main>;
  return <Shell conn={conn} />;
}

render(<Boot />, document.getElementById('app')!);
