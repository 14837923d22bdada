// Webhook signature schemes (GitHub, Stripe-style, Standard Webhooks, bearer token), all compared in
// constant time. Failure reasons never include a secret or an expected signature.
import crypto from 'node:crypto';
import type http from 'node:http';
import { secretBytes, type VerifyConfig } from './schema.ts';

export type Verdict = { ok: true; id?: string; timestamp?: number } | { ok: false; reason: string };

type Headers = http.IncomingHttpHeaders | Record<string, string | string[] | undefined>;

function header(h: Headers, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Constant-time equality of two byte strings (false for different lengths; the length is not secret). */
export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function hmac(key: Buffer | string, ...parts: Array<string | Buffer>): Buffer {
  const h = crypto.createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function secretsOf(cfg: VerifyConfig): string[] {
  return cfg.secret === undefined ? [] : Array.isArray(cfg.secret) ? cfg.secret : [cfg.secret];
}

function timestampOk(ts: number, toleranceSec: number, nowSec: number): boolean {
  return Number.isFinite(ts) && Math.abs(nowSec - ts) <= toleranceSec;
}

/** Checks one request against the flow's scheme. `now` in milliseconds. */
export function verifyRequest(cfg: VerifyConfig, headers: Headers, raw: Buffer, now = Date.now()): Verdict {
  const nowSec = Math.floor(now / 1000);
  const secrets = secretsOf(cfg);
  switch (cfg.scheme) {
    case 'none':
      return { ok: true };
    case 'sns':
      return { ok: false, reason: 'SNS messages are verified with their certificate (sns.ts), not here' };
    case 'bearer': {
      const auth = header(headers, cfg.header ?? 'authorization');
      const m = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
      if (!m) return { ok: false, reason: 'missing bearer token (Authorization: Bearer …)' };
      const given = crypto.createHash('sha256').update(m[1]).digest();
      const match = secrets.some((s) => safeEqual(given, crypto.createHash('sha256').update(s).digest()));
      return match ? { ok: true } : { ok: false, reason: 'wrong bearer token' };
    }
    case 'github': {
      const sig = header(headers, cfg.header ?? 'x-hub-signature-256');
      if (!sig) return { ok: false, reason: 'missing X-Hub-Signature-256 header' };
      const m = /^sha256=([0-9a-fA-F]{64})$/.exec(sig.trim());
      if (!m) return { ok: false, reason: 'malformed X-Hub-Signature-256 header (expected sha256=<64 hex digits>)' };
      const given = Buffer.from(m[1], 'hex');
      const match = secrets.some((s) => safeEqual(given, hmac(s, raw)));
      return match ? { ok: true, id: header(headers, 'x-github-delivery') } : { ok: false, reason: 'signature does not match' };
    }
    case 'stripe': {
      const sig = header(headers, cfg.header ?? 'stripe-signature');
      if (!sig) return { ok: false, reason: 'missing Stripe-Signature header' };
      let t: number | undefined;
      const v1: Buffer[] = [];
      for (const part of sig.split(',')) {
        const eq = part.indexOf('=');
        if (eq < 0) continue;
        const k = part.slice(0, eq).trim();
        const v = part.slice(eq + 1).trim();
        if (k === 't' && /^\d{1,12}$/.test(v)) t = Number(v);
        else if (k === 'v1' && /^[0-9a-fA-F]{64}$/.test(v)) v1.push(Buffer.from(v, 'hex'));
      }
      if (t === undefined || v1.length === 0) return { ok: false, reason: 'malformed Stripe-Signature header (expected t=<unix time>,v1=<hex>)' };
      if (!timestampOk(t, cfg.toleranceSec, nowSec)) return { ok: false, reason: `timestamp outside the ${cfg.toleranceSec} s tolerance (stale or replayed)` };
      const match = secrets.some((s) => {
        const expected = hmac(s, `${t}.`, raw);
        return v1.some((g) => safeEqual(g, expected));
      });
      return match ? { ok: true, timestamp: t } : { ok: false, reason: 'signature does not match' };
    }
    case 'standard-webhooks': {
      const id = header(headers, 'webhook-id');
      const ts = header(headers, 'webhook-timestamp');
      const sig = header(headers, cfg.header ?? 'webhook-signature');
      if (!id || !ts || !sig) return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header' };
      if (!/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'malformed webhook-timestamp (expected unix seconds)' };
      const t = Number(ts);
      if (!timestampOk(t, cfg.toleranceSec, nowSec)) return { ok: false, reason: `timestamp outside the ${cfg.toleranceSec} s tolerance (stale or replayed)` };
      // several space-separated "v1,<base64>" signatures (key rotation): any valid one is enough
      const given = sig
        .split(' ')
        .map((s) => s.trim())
        .filter((s) => s.startsWith('v1,'))
        .map((s) => Buffer.from(s.slice(3), 'base64'));
      if (given.length === 0) return { ok: false, reason: 'no v1 signature in webhook-signature' };
      const match = secrets.some((s) => {
        const expected = hmac(secretBytes(s), `${id}.${ts}.`, raw);
        return given.some((g) => safeEqual(g, expected));
      });
      return match ? { ok: true, id, timestamp: t } : { ok: false, reason: 'signature does not match' };
    }
  }
}

/** Standard Webhooks headers for an outgoing message. */
export function standardWebhookHeaders(secret: string, id: string, body: Buffer | string, nowMs = Date.now()): Record<string, string> {
  const ts = String(Math.floor(nowMs / 1000));
  const sig = hmac(secretBytes(secret), `${id}.${ts}.`, body).toString('base64');
  return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${sig}` };
}
