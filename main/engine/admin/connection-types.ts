// Request and reply shapes of the admin API's OAuth connection routes: the replies are `z.output` of their
// schemas in ./reply-schemas.ts (as every reply of types.ts).
import type { z } from 'zod';
import type { replySchemas } from './reply-schemas.ts';

type Replies = typeof replySchemas;

export type ConnectionStatus = z.output<Replies['ConnectionStatus']>;
/** A connection with what a client needs to connect it. */
export type ConnectionView = z.output<Replies['ConnectionView']>;
export type ConnectionsReply = z.output<Replies['ConnectionsReply']>;
/** POST /api/connections/:name/connect: open authorizeUrl in a browser; follow the consent by consentId. */
export type ConsentStartReply = z.output<Replies['ConsentStartReply']>;
/** POST /api/connections/:name/callback: what the browser ended on (the redirect URL), its query, or the code. */
export interface ConsentPasteRequest {
  input: string;
}
export type ConsentReply = z.output<Replies['ConsentReply']>;
export type DisconnectReply = z.output<Replies['DisconnectReply']>;
