// The engine's public API for what hosts it (the desktop shell, the CLI's run): open and start an engine, put
// the admin API on top, and reach it through the one engine API (FerryApi / EngineApi). main/desktop imports
// only this module (test/unit/layering.test.ts holds it to that).
export { Engine, type EngineOptions } from './engine.ts';
export { loadConfig, type LoadedConfig } from './config/load.ts';
export { createLogger, type Logger, type LogLevel } from './logger.ts';
export { SecretStore } from './secrets.ts';
export { scrubberFor } from './scrub.ts';
export { packageRoot } from './paths.ts';
export { startWithAdmin, AdminServer, type AdminOptions } from './admin/server.ts';
export type { FerryApi, ItemBody, RecentDeadItem } from './api/ferry-api.ts';
export { EngineApi } from './api/engine-api.ts';
export { FerryApiError } from './api/errors.ts';
export { readDesktopSettings, writeDesktopSettings, type DesktopSettings } from './api/desktop-settings.ts';
export { noteSuspend, resumeAfterSleep, logsDir } from './control.ts';
export type { StatusReport, FlowStatus } from './status.ts';
export type { StatusReply } from './admin/types.ts';
export { errorMessage } from '../../connectors/contract.ts';
export type { NetworkConfig } from '../../connectors/net/schema.ts';
export { readCertificateFile } from '../../connectors/net/system-ca.ts';
