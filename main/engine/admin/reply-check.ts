// Checks a route's reply against its schema before it is sent, when FERRY_CHECK_REPLIES=1 (the test suite sets
// it): a handler that returns a field the schema lacks, misses a required one or sends a wrong type answers
// 500 naming the field, so every test that calls the API also checks the document. Off in production: a
// reply is never withheld from a user for a documentation mismatch.
import { formatIssues } from '../config/load.ts';
import { replySchema, replySchemas, type ReplyRef } from './reply-schemas.ts';

export { CHECK_REPLIES_ENV, checkRepliesEnabled } from './reply-check-switch.ts';

/**
 * Why `body` (as it goes out: after JSON, so undefined fields are gone) does not match its schema, or undefined
 * when it does: a 2xx reply the route's `reply` (a route without one writes its own reply), any other ApiError.
 */
export function replyMismatch(reply: ReplyRef | undefined, status: number, body: unknown): string | undefined {
  const ok = status >= 200 && status < 300;
  if (ok && !reply) return undefined;
  const schema = ok ? replySchema(reply!) : replySchemas.ApiError;
  const sent = body === undefined ? undefined : JSON.parse(JSON.stringify(body));
  const parsed = schema.safeParse(sent);
  if (parsed.success) return undefined;
  return `reply does not match ${ok ? reply : 'ApiError'}: ${formatIssues(parsed.error.issues).join('; ')}`;
}
