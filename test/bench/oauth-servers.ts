// The OAuth benchmark's other side, in a process of its own (as a real provider is): oidc-provider with
// refresh-token rotation and an API accepting only its tokens. Prints one JSON line when ready; GET /stats on
// the stats port answers what the server saw (token requests with their own time, API requests).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAuthServer, startProtectedApi } from '../helpers/oauth-provider.ts';

const auth = await startAuthServer({ accessTtlSec: Number(process.env.ACCESS_TTL_SEC ?? 3600) });
const api = await startProtectedApi(auth);
const stats = http.createServer((_req, res) => {
  const body = JSON.stringify({
    tokenRequests: auth.tokenRequests,
    accepted: api.accepted.map((a) => ({ at: a.at, path: a.path })),
    refused: api.refused,
    reuseDetected: auth.reuseDetected,
  });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
});
await new Promise<void>((resolve) => stats.listen(0, '127.0.0.1', resolve));
console.log(JSON.stringify({ authorizeUrl: auth.authorizeUrl, tokenUrl: auth.tokenUrl, client: auth.client, api: api.url, stats: `http://127.0.0.1:${(stats.address() as AddressInfo).port}/stats` }));
