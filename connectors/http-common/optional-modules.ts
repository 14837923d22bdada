// Libraries that only some flows use, loaded on their first use rather than at start (every connector's code
// loads with the registry, used or not): JSONata for the HTTP connectors' expressions, mime-types for content
// types and attachment names (its database alone is about 0.5 MB of heap). Synchronous, so callers stay as they were.
import { createRequire } from 'node:module';
import type Jsonata from 'jsonata';
import type * as MimeTypes from 'mime-types';

const require = createRequire(import.meta.url);

function onFirstUse<T>(load: () => T): () => T {
  let loaded: { module: T } | undefined;
  return () => (loaded ??= { module: load() }).module;
}

export const jsonataLib = onFirstUse(() => require('jsonata') as typeof Jsonata);
export const mimeTypesLib = onFirstUse(() => require('mime-types') as typeof MimeTypes);
