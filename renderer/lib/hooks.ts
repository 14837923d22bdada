import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiRequestError } from '../api/client.ts';

/** Loads data, reloads every `everyMs` (0 = never) and on reload(); keeps the last good value on errors. */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, deps: unknown[] = []): { data: T | undefined; error: string | undefined; reload: () => void } {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const loadRef = useRef(load);
  loadRef.current = load;
  const seq = useRef(0);
  const reload = useCallback(() => {
    const mine = ++seq.current;
    loadRef.current().then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(undefined);
      },
      (e) => {
        if (mine === seq.current) setError(errorText(e));
      },
    );
  }, []);
  useEffect(() => {
    reload();
    if (!everyMs) return;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [everyMs, ...deps]);
  return { data, error, reload };
}

export function errorText(e: unknown): string {
  if (e instanceof ApiRequestError) {
    if (e.status === 401) return 'Not signed in: open the login link that `ferry dashboard` prints.';
    return e.message;
  }
  if (e instanceof TypeError) return 'Cannot reach the Ferry engine. Is it running?';
  return e instanceof Error ? e.message : String(e);
}

/** Calls fn after the value stops changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
