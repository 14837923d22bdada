// What Ferry knows of the common OAuth providers: their endpoints and the quirks that decide whether a consent
// yields a refresh token (Microsoft and Xero want the scope offline_access, Google access_type=offline and
// prompt=consent, Salesforce the scope refresh_token), how the client authenticates, and what else an answer
// carries that an admin needs (Salesforce's instance_url, QuickBooks' realmId).

export interface ProviderPreset {
  /** Shown in the dashboard and status. */
  title: string;
  /** URL templates: {tenant} and {domain} are filled from the connection's keys of the same name. */
  authorizeUrl: string;
  tokenUrl: string;
  revokeUrl?: string;
  /** rfc7009: form POST (the standard); json: { token } as JSON (Intuit). */
  revokeStyle?: 'rfc7009' | 'json';
  clientAuth: 'basic' | 'body';
  /** Scopes always asked for: without them the provider sends no refresh token. */
  requiredScopes: string[];
  authorizeParams: Record<string, string>;
  /** The access token's lifetime when the provider states none (Salesforce sends no expires_in). */
  accessTokenLifetimeSec?: number;
  /** Token answer fields kept (plain, shown in status): never tokens. */
  keepFromToken: string[];
  /** Callback query parameters kept (QuickBooks sends the company id with the code). */
  keepFromCallback: string[];
  /** Keys of the connection this preset uses, with their defaults. */
  options?: Record<'tenant' | 'domain', string | undefined>;
  /** What to tell an admin whose consent brought no refresh token. */
  noRefreshTokenHint: string;
  /** How to end the app's access when the provider has no revocation endpoint. */
  revokeHint?: string;
}

export const PRESETS = {
  microsoft: {
    title: 'Microsoft identity platform (Microsoft 365, Graph, Dynamics)',
    authorizeUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize',
    tokenUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
    clientAuth: 'body',
    requiredScopes: ['offline_access'],
    authorizeParams: {},
    keepFromToken: [],
    keepFromCallback: [],
    options: { tenant: 'common', domain: undefined },
    noRefreshTokenHint: 'Microsoft sends a refresh token only for the scope offline_access; add it to scopes',
    revokeHint: 'Microsoft has no revocation endpoint: remove the app under "My apps" (myapps.microsoft.com) or in Entra ID to end its access',
  },
  google: {
    title: 'Google',
    authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenUrl: 'https://oauth2.googleapis.com/token',
    revokeUrl: 'https://oauth2.googleapis.com/revoke',
    clientAuth: 'body',
    requiredScopes: [],
    authorizeParams: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
    keepFromToken: [],
    keepFromCallback: [],
    noRefreshTokenHint: 'Google sends a refresh token only with access_type=offline and prompt=consent; keep both in authorizeParams',
  },
  salesforce: {
    title: 'Salesforce',
    authorizeUrl: 'https://{domain}/services/oauth2/authorize',
    tokenUrl: 'https://{domain}/services/oauth2/token',
    revokeUrl: 'https://{domain}/services/oauth2/revoke',
    clientAuth: 'body',
    requiredScopes: ['refresh_token'],
    authorizeParams: {},
    accessTokenLifetimeSec: 7200,
    keepFromToken: ['instance_url'],
    keepFromCallback: [],
    options: { tenant: undefined, domain: 'login.salesforce.com' },
    noRefreshTokenHint: 'Salesforce sends a refresh token only for the scope refresh_token (or offline_access), and only when the connected app allows it',
  },
  hubspot: {
    title: 'HubSpot',
    authorizeUrl: 'https://app.hubspot.com/oauth/authorize',
    tokenUrl: 'https://api.hubapi.com/oauth/v1/token',
    clientAuth: 'body',
    requiredScopes: ['oauth'],
    authorizeParams: {},
    keepFromToken: [],
    keepFromCallback: [],
    noRefreshTokenHint: 'HubSpot sends a refresh token with every code exchange; check that the app is a public app with the scope oauth',
    revokeHint: "HubSpot has no standard revocation endpoint: uninstall the app in HubSpot's Connected apps to end its access",
  },
  xero: {
    title: 'Xero',
    authorizeUrl: 'https://login.xero.com/identity/connect/authorize',
    tokenUrl: 'https://identity.xero.com/connect/token',
    revokeUrl: 'https://identity.xero.com/connect/revocation',
    clientAuth: 'basic',
    requiredScopes: ['offline_access'],
    authorizeParams: {},
    keepFromToken: [],
    keepFromCallback: [],
    noRefreshTokenHint: 'Xero sends a refresh token only for the scope offline_access; add it to scopes',
  },
  quickbooks: {
    title: 'QuickBooks Online (Intuit)',
    authorizeUrl: 'https://appcenter.intuit.com/connect/oauth2',
    tokenUrl: 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer',
    revokeUrl: 'https://developer.api.intuit.com/v2/oauth2/tokens/revoke',
    revokeStyle: 'json',
    clientAuth: 'basic',
    requiredScopes: [],
    authorizeParams: {},
    keepFromToken: [],
    keepFromCallback: ['realmId'],
    noRefreshTokenHint: 'Intuit sends a refresh token with every code exchange; check the app\'s keys (development or production)',
  },
} satisfies Record<string, ProviderPreset>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** The hint for a consent without refresh token when no preset applies. */
export const GENERIC_NO_REFRESH_HINT = 'ask for the scope the provider gives refresh tokens for (often offline_access, some also want prompt=consent in authorizeParams)';
