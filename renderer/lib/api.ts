// The dashboard's connection to the engine: in the desktop window the preload hands over the API base URL
// and a bearer token; in a browser the page is served by the engine and the login cookie authenticates.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { createClient, type FerryClient } from '../api/client.ts';
import type { FerryDesktopBridge } from '../../main/desktop/bridge.ts';

declare global {
  interface Window {
    ferryDesktop?: FerryDesktopBridge;
  }
}

export interface Connection {
  client: FerryClient;
  baseUrl: string;
  token?: string;
  desktop?: FerryDesktopBridge;
}

export async function connect(): Promise<Connection> {
  const desktop = window.ferryDesktop;
  if (desktop) {
    const { baseUrl, token } = await desktop.connection();
    return { client: createClient({ baseUrl, token }), baseUrl, token, desktop };
  }
  return { client: createClient({}), baseUrl: '' };
}

export const ConnectionContext = createContext<Connection | null>(null);

export function useConnection(): Connection {
  const c = useContext(ConnectionContext);
  if (!c) throw new Error('no engine connection');
  return c;
}

/** Downloads an item's body (fetch + blob, so it works with a bearer token as well as with the cookie). */
export async function downloadBody(conn: Connection, id: number, name: string): Promise<void> {
  const res = await fetch(conn.client.itemBodyUrl(id), {
    headers: conn.token ? { authorization: `Bearer ${conn.token}` } : {},
    credentials: 'same-origin',
  });
  if (!res.ok) throw new Error(`download failed: HTTP ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name.split('/').pop() || `item-${id}`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
