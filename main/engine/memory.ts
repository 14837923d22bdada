// Ferry is resident next to the software it serves, so it trades a little garbage-collection time for a
// small footprint:
// - V8 lets the heap grow to several times the live data between full collections (it favours throughput).
//   Ferry caps that growth at FERRY_HEAP_GROWING_PERCENT (default 25; 0 keeps V8's default). V8 reads this
//   flag at every full collection, so setting it once the process runs takes effect.
// - Until its first full collection, V8 sizes the old generation from a fixed start value, not from what is
//   live: start-up garbage then let a burst grow the heap by 30+ MB before anything was collected. One full
//   collection once the engine has started sets the limit from the live data. (Measured with
//   `npm run bench engine`: peak RSS of a 10,000-file burst 163 → 137–141 MB.)
import v8 from 'node:v8';
import vm from 'node:vm';

let applied = false;

export function favourSmallHeap(): void {
  if (applied) return;
  applied = true;
  const percent = Number(process.env.FERRY_HEAP_GROWING_PERCENT ?? 25);
  if (Number.isInteger(percent) && percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/** One full collection after start-up (see above); a no-op where the runtime does not offer it. */
export function collectStartupGarbage(): void {
  if (process.env.FERRY_HEAP_GROWING_PERCENT === '0') return;
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
  gc?.();
}
