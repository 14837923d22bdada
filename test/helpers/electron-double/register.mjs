// Loaded with `node --import` before the desktop main process: `electron` resolves to the recording double
// (electron.cjs) for ES imports (a loader hook) and for require() in dependencies (electron-updater), and
// FERRY_DOUBLE_PLATFORM makes the process report another platform (the double emulates macOS or Windows
// behaviour, such as template images and login items, on the machine that runs the tests).
import Module, { register } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const double = new URL('./electron.cjs', import.meta.url);
if (process.env.FERRY_DOUBLE_PLATFORM) {
  // os.tmpdir() follows the platform it is told: keep the host's
  if (process.env.FERRY_DOUBLE_PLATFORM === 'win32') process.env.TEMP ??= os.tmpdir();
  Object.defineProperty(process, 'platform', { value: process.env.FERRY_DOUBLE_PLATFORM });
}
register('./hooks.mjs', import.meta.url, { data: { double: double.href } });
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'electron') return fileURLToPath(double);
  return resolveFilename.call(this, request, ...rest);
};
