// The bare baseline for the folder → HTTP benchmark: the least work that moves files from a watched folder
// to an HTTP sink (chokidar → read → POST, no settle, no queue, no durability). Run as its own process:
//   node bin/run-ts.js test/bench/baseline-folder-http.ts <folder> <url> <concurrency>
import fs from 'node:fs';
import path from 'node:path';
import { watch } from 'chokidar';
import { Agent, request } from 'undici';

const [folder, url, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 4);
const agent = new Agent({ connections: concurrency });
const pending: string[] = [];
let active = 0;

function pump(): void {
  while (active < concurrency && pending.length > 0) {
    const file = pending.shift()!;
    active++;
    void (async () => {
      try {
        const body = await fs.promises.readFile(file);
        const res = await request(url, { method: 'POST', body, dispatcher: agent, headers: { 'x-ferry-filename': encodeURIComponent(path.basename(file)) } });
        await res.body.dump();
      } catch (err) {
        process.stderr.write(`baseline: ${String(err)}\n`);
      } finally {
        active--;
        pump();
      }
    })();
  }
}

const watcher = watch(folder, { ignoreInitial: true });
watcher.on('add', (file) => {
  pending.push(file);
  pump();
});
watcher.on('ready', () => process.stdout.write('Ferry is running (baseline)\n'));
process.on('SIGTERM', () => void watcher.close().then(() => process.exit(0)));
