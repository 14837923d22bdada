// What of a message is taken: its attachments found in the BODYSTRUCTURE (nested multiparts walked, RFC 2231
// and encoded-word file names decoded by imapflow), and the sender/subject filters.
import { mimeTypesLib } from '../http-common/optional-modules.ts';
import picomatch from 'picomatch';
import type { MessageStructureObject } from 'imapflow';
import { sanitizeRelativePath } from '../contract.ts';

export interface Attachment {
  /** Body part number ("2", "1.3"), for FETCH. */
  part: string;
  /** The file name as the sender gave it (decoded), or one made up from the type. */
  fileName: string;
  contentType: string;
  /** Size of the part as sent (transfer-encoded): base64 is about 4/3 of the file. */
  encodedSize: number;
}

/**
 * The attachments of a message: parts sent as attachments, or carrying a file name, that are not the text
 * body and not an inline image of the HTML body (Content-ID). An attached e-mail (message/rfc822) is one
 * attachment; what it contains is not looked into.
 */
export function attachmentsOf(root: MessageStructureObject): Attachment[] {
  const found: Attachment[] = [];
  const visit = (node: MessageStructureObject, path: string) => {
    const type = (node.type ?? 'application/octet-stream').toLowerCase();
    if (node.childNodes && node.childNodes.length > 0 && type.startsWith('multipart/')) {
      node.childNodes.forEach((child, i) => visit(child, child.part ?? (path ? `${path}.${i + 1}` : String(i + 1))));
      return;
    }
    const disposition = (node.disposition ?? '').toLowerCase();
    const given = node.dispositionParameters?.filename ?? node.parameters?.name;
    const isMessage = type === 'message/rfc822';
    const isBody = !given && disposition !== 'attachment' && (type === 'text/plain' || type === 'text/html');
    const isInlineImage = disposition !== 'attachment' && !!node.id && type.startsWith('image/');
    if (isBody || isInlineImage || (!given && !isMessage && disposition !== 'attachment')) return;
    const part = node.part ?? (path || '1');
    const made = isMessage ? `${node.envelope?.subject?.trim() || 'message'}.eml` : `attachment-${part}.${mimeTypesLib().extension(type) || 'bin'}`;
    const fileName = sanitizeRelativePath(given ?? made).replace(/\//g, '_') || made;
    found.push({ part, fileName, contentType: type, encodedSize: node.size ?? 0 });
  };
  visit(root, '');
  return found;
}

/** A matcher for `from` / `subject`: globs (`*`, `?`, whole text, any case) or `/regex/flags`. */
export function textMatcher(patterns: string[] | undefined): (text: string) => boolean {
  if (!patterns || patterns.length === 0) return () => true;
  const tests = patterns.map((p) => {
    const re = /^\/(.+)\/([a-z]*)$/s.exec(p);
    if (re) return new RegExp(re[1], re[2]);
    const body = p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    return new RegExp(`^${body}$`, 'is');
  });
  return (text) => tests.some((t) => t.test(text));
}

/** A matcher for attachment names: include globs minus exclude globs (case-insensitive). */
export function nameMatcher(include: string[], exclude: string[]): (name: string) => boolean {
  const inc = picomatch(include, { nocase: true, dot: true });
  const exc = exclude.length ? picomatch(exclude, { nocase: true, dot: true }) : () => false;
  return (name) => inc(name) && !exc(name);
}
