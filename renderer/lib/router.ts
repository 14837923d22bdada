// Hash routes: #/ overview, #/flows/new, #/flows/<name>, #/queue?flow=&state=, #/queue/<id>, #/activity, #/settings.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  path: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const h = hash.replace(/^#/, '') || '/';
  const [p, q] = h.split('?', 2);
  return { path: p.split('/').filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(q ?? '') };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function navigate(hash: string): void {
  location.hash = hash;
}

export function href(path: string, query?: Record<string, string | undefined>): string {
  const q = query ? Object.entries(query).filter(([, v]) => v) : [];
  return `#${path}${q.length ? `?${q.map(([k, v]) => `${k}=${encodeURIComponent(v!)}`).join('&')}` : ''}`;
}
