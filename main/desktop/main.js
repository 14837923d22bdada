// Development entry of the desktop app (package.json "main", run as `electron .` by `ferry start`): runs
// main.ts through tsx's loader, like bin/ferry.js. The packaged app starts the compiled
// dist/app/main/desktop/main.js instead (electron-builder.yml extraMetadata.main).
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
