// The network facility shared by every HTTP-speaking connector and the engine (see docs/network.md).
export { Network, type DispatcherOptions, type NetworkOptions, type ProbeResult } from './network.ts';
export { NetDispatcher } from './dispatcher.ts';
export { NetError, describeNetworkError } from './errors.ts';
export { endpointNetworkShape, ENDPOINT_TLS_PATH_KEYS, networkSchema, type NetworkConfig, type ProxyConfig, type EndpointTlsConfig } from './schema.ts';
export type { ProxyResolver } from './router.ts';
