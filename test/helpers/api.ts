// A real HTTP API on 127.0.0.1 standing in for a SaaS: an "orders" collection that paginates in every
// style (page number, offset/limit, cursor token in the body, RFC 8288 Link), filters by updated_since,
// answers 429 with Retry-After on demand, and guards the data with OAuth 2.0 tokens that expire.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Order {
  id: number;
  customer: string;
  amount: number;
  status: string;
  updated_at: string;
}

export interface ApiRequest {
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FakeApi {
  url: string;
  orders: Order[];
  requests: ApiRequest[];
  /** Data requests only (not /token). */
  dataRequests(): ApiRequest[];
  /** Answer the next n data requests with 429 and this Retry-After (seconds). */
  throttleNext(n: number, retryAfterSec: number): void;
  /** Hold data requests for these pages (page number, 1-based) until release() — to kill a client mid-run. */
  holdPage?: number;
  release(): void;
  /** Answer this page (1-based) with 429 (Retry-After: 0) this many times. */
  failPage?: { page: number; times: number };
  /** OAuth */
  oauth: {
    required: boolean;
    clientId: string;
    clientSecret: string;
    refreshToken: string;
    expiresInSec: number;
    issued: string[];
    valid: Set<string>;
    /** Every token issued so far stops working (an early expiry or a revocation). */
    revokeAll(): void;
  };
  close(): Promise<void>;
}

const PAGE_SIZE = 10;

export function makeOrders(n: number, base = Date.UTC(2024, 0, 1)): Order[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    customer: `customer-${i + 1}@example.com`,
    amount: Math.round((i + 1) * 1234.5) / 100,
    status: i % 3 === 0 ? 'CLOSED' : 'OPEN',
    updated_at: new Date(base + i * 60_000).toISOString(),
  }));
}

export async function startApi(orders: Order[] = makeOrders(25)): Promise<FakeApi> {
  let throttle = { n: 0, sec: 0 };
  let releaseHeld: Array<() => void> = [];
  let tokenSeq = 0;
  let refreshSeq = 1;
  const api: FakeApi = {
    url: '',
    orders,
    requests: [],
    dataRequests: () => api.requests.filter((r) => r.path !== '/token'),
    throttleNext: (n, sec) => (throttle = { n, sec }),
    release: () => {
      const r = releaseHeld;
      releaseHeld = [];
      r.forEach((f) => f());
    },
    oauth: {
      required: false,
      clientId: 'ferry-client',
      clientSecret: 'client-secret-1',
      refreshToken: 'refresh-1',
      expiresInSec: 3600,
      issued: [],
      valid: new Set(),
      revokeAll: () => api.oauth.valid.clear(),
    },
    close: () =>
      new Promise((resolve) => {
        api.release();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };

  const token = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => {
    const form = new URLSearchParams(body);
    const basic = /^Basic (.+)$/.exec(String(req.headers.authorization ?? ''));
    const [id, secret] = basic ? Buffer.from(basic[1], 'base64').toString().split(':').map(decodeURIComponent) : [form.get('client_id'), form.get('client_secret')];
    if (id !== api.oauth.clientId || secret !== api.oauth.clientSecret) return json(res, 401, { error: 'invalid_client', error_description: 'unknown client or wrong secret' });
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      if (form.get('refresh_token') !== api.oauth.refreshToken) return json(res, 400, { error: 'invalid_grant', error_description: 'refresh token unknown or used' });
      api.oauth.refreshToken = `refresh-${++refreshSeq}`; // rotation: the old refresh token stops working
    } else if (grant !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
    const access = `tok-${++tokenSeq}`;
    api.oauth.issued.push(access);
    api.oauth.valid.add(access);
    return json(res, 200, { access_token: access, token_type: 'Bearer', expires_in: api.oauth.expiresInSec, ...(grant === 'refresh_token' ? { refresh_token: api.oauth.refreshToken } : {}) });
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const body = Buffer.concat(chunks).toString('utf8');
      const query = Object.fromEntries(url.searchParams);
      const entry: ApiRequest = { at: Date.now(), method: req.method ?? '', path: url.pathname, query, headers: req.headers, body };
      api.requests.push(entry);
      if (url.pathname === '/token') return token(req, body, res);
      if (api.oauth.required) {
        const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
        if (!bearer || !api.oauth.valid.has(bearer)) return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
      if (throttle.n > 0) {
        throttle.n--;
        return json(res, 429, { error: 'slow down' }, { 'retry-after': String(throttle.sec) });
      }
      // POST queries carry their parameters in a JSON body
      const params: Record<string, string> = { ...query };
      if (req.method === 'POST' && body) Object.assign(params, Object.fromEntries(Object.entries(JSON.parse(body)).map(([k, v]) => [k, String(v)])));
      const since = params.updated_since;
      const all = api.orders.filter((o) => !since || o.updated_at >= since).sort((a, b) => a.updated_at.localeCompare(b.updated_at) || a.id - b.id);
      const style = url.pathname.split('/')[1];
      let page: Order[];
      let pageNo: number;
      const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        if (api.failPage && api.failPage.page === pageNo && api.failPage.times > 0) {
          api.failPage.times--;
          return json(res, 429, { error: 'slow down' }, { 'retry-after': '0' });
        }
        if (api.holdPage !== undefined && pageNo === api.holdPage) {
          releaseHeld.push(() => json(res, status, payload, headers));
          return;
        }
        json(res, status, payload, headers);
      };
      switch (style) {
        case 'page': {
          pageNo = Number(params.page ?? 1);
          const size = Number(params.per_page ?? PAGE_SIZE);
          page = all.slice((pageNo - 1) * size, pageNo * size);
          return reply(200, { data: page, page: pageNo, sync_token: `sync-${api.orders.length}` });
        }
        case 'offset': {
          const offset = Number(params.offset ?? 0);
          const limit = Number(params.limit ?? PAGE_SIZE);
          pageNo = Math.floor(offset / limit) + 1;
          return reply(200, { items: all.slice(offset, offset + limit), total: all.length });
        }
        case 'cursor': {
          const start = params.cursor ? Number(Buffer.from(params.cursor, 'base64url').toString()) : 0;
          pageNo = Math.floor(start / PAGE_SIZE) + 1;
          page = all.slice(start, start + PAGE_SIZE);
          const next = start + PAGE_SIZE < all.length ? Buffer.from(String(start + PAGE_SIZE)).toString('base64url') : null;
          return reply(200, { results: page, meta: { next_cursor: next } });
        }
        case 'link': {
          pageNo = Number(params.p ?? 1);
          page = all.slice((pageNo - 1) * PAGE_SIZE, pageNo * PAGE_SIZE);
          const links: string[] = [];
          if (pageNo * PAGE_SIZE < all.length) {
            const next = new URL(url);
            next.searchParams.set('p', String(pageNo + 1));
            links.push(`<${next.pathname}${next.search}>; rel="next"`);
          }
          links.push(`<${url.pathname}?p=1>; rel="first"`);
          return reply(200, page, { link: links.join(', ') });
        }
        default:
          pageNo = 0;
          return json(res, 404, { error: `no route ${url.pathname}` });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  api.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return api;
}
