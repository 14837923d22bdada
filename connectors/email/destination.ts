// E-mail destination: each item is sent over SMTP (nodemailer) as an attachment or as the mail's body.
// 4xx replies and network failures retry; 5xx replies (rejected recipient, refused login, too large) go
// dead with the server's reply. The Message-ID is derived from the idempotency key, so a resend after a
// crash carries the same id and mail systems can drop the duplicate.
import fs from 'node:fs';
import type { SendMailOptions, Transporter } from 'nodemailer';
import { mimeTypesLib } from '../http-common/optional-modules.ts';
import {
  deadLetter,
  delivered,
  errorMessage,
  renderTemplate,
  retryLater,
  type CheckResult,
  type DeliveryOutcome,
  type Destination,
  type DestinationContext,
  type OutgoingItem,
} from '../contract.ts';
import type { EmailDestinationConfig } from './schema.ts';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
}

export class EmailDestination implements Destination {
  private readonly cfg: EmailDestinationConfig;
  /** nodemailer loads on first use, so processes without an e-mail flow never pay its memory. */
  private transporter?: Promise<Transporter>;
  readonly concurrency = 1;

  constructor(cfg: EmailDestinationConfig) {
    this.cfg = cfg;
  }

  private transport(): Promise<Transporter> {
    const cfg = this.cfg;
    const port = cfg.port ?? (cfg.security === 'tls' ? 465 : 587);
    this.transporter ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport({
      host: cfg.host,
      port,
      secure: cfg.security === 'tls',
      requireTLS: cfg.security === 'starttls',
      ignoreTLS: cfg.security === 'none',
      auth: cfg.auth ? { user: cfg.auth.user, pass: cfg.auth.pass } : undefined,
      tls: { rejectUnauthorized: cfg.tls.rejectUnauthorized, ca: cfg.tls.ca ? fs.readFileSync(cfg.tls.ca) : undefined },
      connectionTimeout: cfg.timeoutMs,
      greetingTimeout: cfg.timeoutMs,
      socketTimeout: cfg.timeoutMs,
      logger: false,
      debug: false,
    }));
    return this.transporter;
  }

  private where(): string {
    return `${this.cfg.host}:${this.cfg.port ?? (this.cfg.security === 'tls' ? 465 : 587)}`;
  }

  async check(): Promise<CheckResult> {
    try {
      await (await this.transport()).verify();
      return { ok: true, message: `SMTP server ${this.where()} accepted the connection${this.cfg.auth ? ' and the login' : ''}` };
    } catch (err) {
      return { ok: false, message: this.describe(err as SmtpError) };
    }
  }

  private describe(e: SmtpError): string {
    if (e.code === 'EAUTH') return `SMTP login to ${this.where()} refused: ${e.response ?? e.message} (check auth.user/auth.pass)`;
    if (e.responseCode) return `SMTP ${this.where()} replied ${e.response ?? e.responseCode}${e.command ? ` to ${e.command}` : ''}`;
    if (e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(e.message)) return `SMTP server ${this.where()} refused the connection (not running, or wrong host/port)`;
    if (e.code === 'ETIMEDOUT') return `timed out talking to SMTP server ${this.where()}`;
    if (e.code === 'ESOCKET' || e.code === 'ETLS') return `TLS/socket error with ${this.where()}: ${e.message}`;
    return `${this.where()}: ${errorMessage(e)}`;
  }

  async send(item: OutgoingItem, ctx: DestinationContext): Promise<DeliveryOutcome> {
    const values = { name: item.name, flow: item.flow, size: item.size, id: item.id };
    const now = new Date();
    const subject = renderTemplate(this.cfg.subject, values, item.attributes, now);
    const contentType = String(item.attributes.contentType ?? (mimeTypesLib().lookup(item.name) || 'application/octet-stream'));
    const message: SendMailOptions = {
      from: this.cfg.from,
      to: this.cfg.to,
      cc: this.cfg.cc,
      bcc: this.cfg.bcc,
      subject,
      messageId: `<${item.idempotencyKey}@ferry.local>`,
      headers: { 'X-Ferry-Flow': item.flow, 'X-Ferry-Idempotency-Key': item.idempotencyKey },
    };
    if (this.cfg.as === 'body') {
      if (item.size > this.cfg.maxBodyBytes) return deadLetter(`${item.name} is ${item.size} bytes, more than maxBodyBytes ${this.cfg.maxBodyBytes} for a mail body (use as: attachment)`);
      const text = (await item.readBody()).toString('utf8');
      if (/html/.test(contentType)) message.html = text;
      else message.text = text;
    } else {
      message.text = renderTemplate(this.cfg.body, values, item.attributes, now);
      message.attachments = [{ filename: renderTemplate(this.cfg.attachmentName, values, item.attributes, now), content: item.openBody(), contentType }];
    }
    if (ctx.signal.aborted) return retryLater('delivery interrupted (Ferry is stopping)');
    try {
      const info = await (await this.transport()).sendMail(message);
      const rejected = (info.rejected ?? []).map(String);
      if (rejected.length > 0 && (info.accepted ?? []).length === 0) return deadLetter(`every recipient was rejected: ${rejected.join(', ')}`, { response: info.response });
      return delivered(`SMTP ${info.response ?? 'accepted'}`);
    } catch (err) {
      const e = err as SmtpError;
      const code = e.responseCode;
      if (code !== undefined && code >= 500) return deadLetter(this.describe(e), { status: code, response: e.response });
      if (code !== undefined && code >= 400) return retryLater(this.describe(e), { status: code, response: e.response });
      if (e.code === 'EAUTH') return deadLetter(this.describe(e), { response: e.response });
      return retryLater(this.describe(e));
    }
  }

  async close(): Promise<void> {
    (await this.transport()).close();
  }
}
