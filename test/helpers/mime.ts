// Builds RFC 822 messages for the mail tests: nodemailer's composer (the encoding real mailers use: base64,
// RFC 2231 file names) and hand-written structures it would not produce (nested multiparts, continuations).
import crypto from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';

export interface Attach {
  filename: string;
  content: Buffer | string;
  contentType?: string;
}

/** A message as a mail program writes it; `messageId` without brackets. */
export async function composeMail(opts: { from: string; to?: string; subject: string; text?: string; html?: string; messageId?: string; date?: Date; attachments?: Attach[] }): Promise<Buffer> {
  const mail = new MailComposer({
    from: opts.from,
    to: opts.to ?? 'alice@ferry.test',
    subject: opts.subject,
    text: opts.text ?? (opts.html === undefined ? 'See attached.' : undefined),
    html: opts.html,
    date: opts.date ?? new Date('2026-12-01T08:30:00Z'),
    messageId: `<${opts.messageId ?? `${crypto.randomUUID()}@mail.test`}>`,
    attachments: (opts.attachments ?? []).map((a) => ({ filename: a.filename, content: a.content, contentType: a.contentType })),
  });
  return new Promise((resolve, reject) => mail.compile().build((err, msg) => (err ? reject(err) : resolve(msg))));
}

/**
 * A message with nested multiparts, an inline image of the HTML body (not an attachment), an attachment three
 * levels down, a forwarded message attached whole, and a file name split over RFC 2231 continuations.
 */
export function nestedMail(messageId: string, deep: Buffer): Buffer {
  const b64 = (b: Buffer | string) => (Buffer.isBuffer(b) ? b : Buffer.from(b)).toString('base64').replace(/.{76}/g, '$&\r\n');
  const forwarded = ['From: old@legacy.test', 'To: ops@site.test', 'Subject: the original', 'Message-ID: <fwd-1@legacy.test>', '', 'the forwarded text', ''].join('\r\n');
  return Buffer.from(
    [
      'From: Orders <orders@supplier.example>',
      'To: alice@ferry.test',
      'Subject: =?utf-8?Q?Bestellung_f=C3=BCr_M=C3=A4rz?=',
      `Message-ID: <${messageId}>`,
      'Date: Mon, 01 Dec 2026 09:00:00 +0100',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Plain text body.',
      '--alt',
      'Content-Type: multipart/related; boundary="rel"',
      '',
      '--rel',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>HTML body <img src="cid:logo@x"></p>',
      '--rel',
      'Content-Type: image/png; name="logo.png"',
      'Content-ID: <logo@x>',
      'Content-Disposition: inline; filename="logo.png"',
      'Content-Transfer-Encoding: base64',
      '',
      b64(Buffer.from('89504e470d0a1a0a', 'hex')),
      '--rel--',
      '--alt--',
      '--outer',
      'Content-Type: multipart/mixed; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'An inner note.',
      '--inner',
      'Content-Type: application/octet-stream',
      "Content-Disposition: attachment; filename*0*=utf-8''%E2%82%AC-Abrechnung%20; filename*1*=%C3%84nderungen.dat",
      'Content-Transfer-Encoding: base64',
      '',
      b64(deep),
      '--inner--',
      '--outer',
      'Content-Type: message/rfc822',
      'Content-Disposition: attachment; filename="forwarded.eml"',
      '',
      forwarded,
      '--outer--',
      '',
    ].join('\r\n'),
  );
}
