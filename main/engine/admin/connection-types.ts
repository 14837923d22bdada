// Request and reply shapes of the admin API's OAuth connection routes (see connections.ts).
import type { ConnectionStatus } from '../oauth/state.ts';

export type { ConnectionStatus };

/** A connection with what a client needs to connect it. */
export interface ConnectionView extends ConnectionStatus {
  /** True for grant authorization_code: Connect opens the provider's consent page. */
  consentable: boolean;
  /** Where the provider sends the browser back (register it at the provider), for consentable connections. */
  redirectUri: string | null;
  /** The latest consent started through this engine, and how it ended. */
  consent: { id: string; state: 'pending' | 'connected' | 'failed'; reason: string | null; at: string } | null;
}

export interface ConnectionsReply {
  connections: ConnectionView[];
  /** Where tokens are kept, in words. */
  storage: string;
}

/** POST /api/connections/:name/connect: open authorizeUrl in a browser; follow the consent by consentId. */
export interface ConsentStartReply {
  connection: string;
  consentId: string;
  authorizeUrl: string;
  redirectUri: string;
  expiresAt: string;
}

/** POST /api/connections/:name/callback: what the browser ended on (the redirect URL), its query, or the code. */
export interface ConsentPasteRequest {
  input: string;
}

export interface ConsentReply {
  connection: string;
  message: string;
}

export interface DisconnectReply {
  connection: string;
  revoked: boolean;
  message: string;
}
