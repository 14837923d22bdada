// The few parts of oidc-provider (no bundled types) that the tests use.
declare module 'oidc-provider' {
  import type http from 'node:http';
  interface TokenModel {
    find(value: string): Promise<{ grantId?: string; accountId?: string } | undefined>;
    revokeByGrantId(grantId: string): Promise<void>;
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
    on(event: string, listener: (...args: any[]) => void): this;
    AccessToken: TokenModel;
    ClientCredentials: TokenModel;
    RefreshToken: TokenModel;
    AuthorizationCode: TokenModel;
    Grant: { find(id: string): Promise<unknown>; adapter: { destroy(id: string): Promise<void> } };
  }
}
