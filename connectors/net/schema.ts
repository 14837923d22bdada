// Config of the network setting (`network:` at the top of the config) and of a connector's own `proxy:` /
// `tls:` overrides. File paths are resolved against the config file's folder before validation; the files
// are read here so that `ferry validate` names a missing or broken certificate by its key.
import fs from 'node:fs';
import tls from 'node:tls';
import { z } from 'zod';
import { parseNoProxyRule } from './no-proxy.ts';
import { readCertificateFile } from './system-ca.ts';

export const PROXY_MODES = ['env', 'system', 'none'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

/** A proxy URL problem, or undefined when `s` is a mode or a usable http(s) proxy URL. */
export function proxyUrlProblem(s: string): string | undefined {
  if ((PROXY_MODES as readonly string[]).includes(s)) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `expected a proxy URL like http://proxy.corp.local:3128, or env, system or none, got ${JSON.stringify(s)}`;
  }
  if (u.protocol === 'socks:' || u.protocol === 'socks4:' || u.protocol === 'socks5:') return 'SOCKS proxies are not supported: expected an http:// or https:// proxy';
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `expected an http:// or https:// proxy URL, got ${JSON.stringify(s)}`;
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return `expected a proxy URL without a path, got ${JSON.stringify(s)}`;
  return undefined;
}

const modeOrUrl = z.string().superRefine((s, ctx) => {
  const problem = proxyUrlProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const noProxyRule = z.string().superRefine((s, ctx) => {
  try {
    parseNoProxyRule(s);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

export const proxyObjectSchema = z
  .strictObject({
    url: modeOrUrl.default('env').meta({
      description: 'A proxy URL (http:// or https://), or env (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), system (the OS settings; PAC files in the desktop app) or none.',
    }),
    username: z.string().min(1).optional().meta({ description: 'Proxy user (HTTP Basic). Use ${secret:NAME} or ${env:NAME}.' }),
    password: z.string().optional().meta({ description: 'Proxy password (HTTP Basic). Use ${secret:NAME}, never plain text.' }),
    noProxy: z.array(noProxyRule).default([]).meta({
      description: 'Hosts reached directly: "*.corp.local", "10.0.0.0/8", "localhost", "host:port", "<local>" (names without a dot), "*". Loopback (localhost, 127.0.0.0/8, ::1) always is, unless the list holds "<-loopback>".',
    }),
  })
  .superRefine((p, ctx) => {
    if (p.password !== undefined && p.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: 'required with password' });
    if (p.url === 'none' && (p.username !== undefined || p.noProxy.length > 0)) ctx.addIssue({ code: 'custom', path: ['url'], message: 'url: none uses no proxy: username, password and noProxy have no effect' });
  });

export const proxySchema = z
  .union([modeOrUrl, proxyObjectSchema], {
    error: (iss) => (typeof iss.input === 'string' || typeof iss.input === 'object' ? undefined : `expected a proxy URL, env, system or none, or { url, username, password, noProxy }, got ${JSON.stringify(iss.input)}`),
  })
  .meta({ description: 'A proxy URL; env, system or none; or { url, username, password, noProxy }. Default: env.' });

export type ProxyConfig = z.output<typeof proxySchema>;

const certFile = z.string().min(1).superRefine((file, ctx) => {
  try {
    readCertificateFile(file);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const readableFile = z.string().min(1).superRefine((file, ctx) => {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    ctx.addIssue({ code: 'custom', message: `cannot read ${file} (${code === 'ENOENT' ? 'no such file' : code})` });
  }
});

/** Whether a PEM private key file is encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY", or a legacy Proc-Type header). */
function encryptedPem(file: string): boolean {
  try {
    return /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type:\s*4,ENCRYPTED/.test(fs.readFileSync(file, 'latin1'));
  } catch {
    return false;
  }
}

/** Checks a client certificate's pieces together: both halves given, the key opens with the passphrase and fits the certificate. */
function clientCertProblems(t: { cert?: string; key?: string; pfx?: string; passphrase?: string }, ctx: z.RefinementCtx): void {
  if (t.pfx !== undefined && (t.cert !== undefined || t.key !== undefined)) {
    ctx.addIssue({ code: 'custom', path: ['pfx'], message: 'give either pfx or cert and key, not both' });
    return;
  }
  if (t.cert !== undefined && t.key === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'required with cert (the client certificate\'s private key)' });
  if (t.key !== undefined && t.cert === undefined) ctx.addIssue({ code: 'custom', path: ['cert'], message: 'required with key' });
  if (!((t.cert && t.key) || t.pfx)) return;
  try {
    tls.createSecureContext(
      t.pfx
        ? { pfx: fs.readFileSync(t.pfx), passphrase: t.passphrase }
        : { cert: fs.readFileSync(t.cert!), key: fs.readFileSync(t.key!), passphrase: t.passphrase },
    );
  } catch (err) {
    const m = (err as Error).message;
    // an encrypted PEM key says so in its header: a wrong or missing passphrase then sometimes decrypts to bytes
    // that pass the padding check (about 1 in 256) and OpenSSL names a decoder error instead of a bad decrypt
    if (/key values mismatch/i.test(m)) ctx.addIssue({ code: 'custom', path: ['key'], message: `${t.key} is not the private key of ${t.cert}` });
    else if (/bad decrypt|mac verify failure|passphrase|interrupted or cancelled|bad password/i.test(m) || (!t.pfx && encryptedPem(t.key!))) {
      ctx.addIssue({ code: 'custom', path: ['passphrase'], message: t.passphrase === undefined ? `${t.pfx ?? t.key} is encrypted: expected passphrase (use \${secret:NAME})` : `does not open ${t.pfx ?? t.key}` });
    } else ctx.addIssue({ code: 'custom', path: [t.pfx ? 'pfx' : 'key'], message: `unusable client certificate: ${m.split('\n')[0]}` });
  }
}

const clientCertShape = {
  cert: certFile.optional().meta({ description: 'Client certificate (PEM chain or DER) for mutual TLS.' }),
  key: readableFile.optional().meta({ description: 'Private key (PEM) of cert.' }),
  pfx: readableFile.optional().meta({ description: 'Client certificate and key as one PKCS#12 (.pfx/.p12) file, instead of cert and key.' }),
  passphrase: z.string().optional().meta({ description: 'Passphrase of key or pfx. Use ${secret:NAME}.' }),
};

export const networkTlsSchema = z
  .strictObject({
    ca: z.array(certFile).default([]).meta({ description: 'Extra trusted root certificates (PEM or DER files), e.g. a TLS-inspecting proxy\'s root.' }),
    systemCa: z.boolean().default(true).meta({ description: 'Also trust the OS certificate store (Windows, macOS keychains, Linux CA bundle).' }),
    ...clientCertShape,
  })
  .superRefine(clientCertProblems)
  .meta({ description: 'Trust and client certificate of every HTTPS connection. Node\'s bundled roots are always trusted.' });

export const FINGERPRINT = /^(sha256:)?([0-9a-f]{2}:?){31}[0-9a-f]{2}$/i;

export const endpointTlsSchema = z
  .strictObject({
    ca: z.array(certFile).optional().meta({ description: 'Roots trusted for this connector, in addition to network.tls.' }),
    systemCa: z.boolean().optional().meta({ description: 'Overrides network.tls.systemCa for this connector.' }),
    ...clientCertShape,
    servername: z.string().min(1).optional().meta({ description: 'Name sent in SNI and expected in the server certificate, when it differs from the URL\'s host.' }),
    fingerprint: z
      .string()
      .regex(FINGERPRINT, { error: (iss) => `expected a SHA-256 certificate fingerprint like "sha256:AB:CD:…" (32 hex bytes), got ${JSON.stringify(iss.input)}` })
      .optional()
      .meta({ description: 'Accept exactly this server certificate (sha256:…), e.g. one self-signed server. Nothing else turns certificate checks off.' }),
  })
  .superRefine(clientCertProblems)
  .meta({ description: 'TLS for this connector: extra roots, a client certificate (mutual TLS), SNI name, or a pinned certificate.' });

export const networkSchema = z
  .strictObject({
    proxy: proxySchema.default('env'),
    tls: networkTlsSchema.default({ ca: [], systemCa: true }),
  })
  .meta({ description: 'One network setting for every outbound HTTP(S) client (destinations, http-poll, OAuth token requests, relays, update checks). A connector may override with its own proxy and tls.' });

export type NetworkConfig = z.output<typeof networkSchema>;
export type NetworkTlsConfig = z.output<typeof networkTlsSchema>;
export type EndpointTlsConfig = z.output<typeof endpointTlsSchema>;

/** The keys an HTTP connector adds to its config to override the network setting. */
export const endpointNetworkShape = {
  proxy: proxySchema.optional().meta({ description: 'Overrides network.proxy for this connector: none, a URL, env, system, or { url, username, password, noProxy }.' }),
  tls: endpointTlsSchema.optional(),
};

/** Keys of endpointNetworkShape holding file paths (ConnectorDefinition.pathKeys). */
export const ENDPOINT_TLS_PATH_KEYS = ['tls.ca', 'tls.cert', 'tls.key', 'tls.pfx'];
