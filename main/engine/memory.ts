// Ferry is resident next to the software it serves, so it trades a little garbage-collection time for a
// small footprint:
// - V8 lets the heap grow to several times the live data between full collections (it favours throughput).
//   Ferry caps that growth at FERRY_HEAP_GROWING_PERCENT (default 25; 0 keeps V8's default). V8 reads this
//   flag at every full collection, so setting it once the process runs takes effect.
// - Until its first full collection, V8 sizes the old generation from a fixed start value, not from what is
//   live: start-up garbage then let a burst grow the heap by 30+ MB before anything was collected. One full
//   collection once the engine has started sets the limit from the live data. (Measured with
//   `npm run bench engine`: peak RSS of a 10,000-file burst 163 → 137–141 MB.)
// - The young generation grows up to 2 × 16 MB under a burst of short-lived objects and keeps that memory.
//   Ferry lets it grow to 8 MB (FERRY_YOUNG_MB) by switching V8's growth factor, which V8 reads at run time;
//   bin/ferry.js holds it from the first line, so start-up does not grow it either. (2 MB cost record flows
//   a fifth of their speed; 8 MB cost them nothing measurable.)
// - WebAssembly (undici's HTTP parser) is compiled by Liftoff only: the optimising tier-up compiled the whole
//   parser on background threads and took up to 40 MB of malloc'd memory for it, at the moment deliveries
//   start. Parsing small HTTP replies is not where Ferry spends its time.
// (Measured with `npm run bench remote`: peak RSS of 1,000 small SFTP/FTP files 144–153 → 116–125 MB.)
// FERRY_V8_DEFAULTS=1 leaves all of these at V8's defaults.
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
import vm from 'node:vm';

let percent: number | undefined;
let streaming = 0;

export function favourSmallHeap(): void {
  if (percent !== undefined) return;
  const wanted = Number(process.env.FERRY_HEAP_GROWING_PERCENT ?? 25);
  percent = Number.isInteger(wanted) && wanted > 0 && process.env.FERRY_V8_DEFAULTS !== '1' ? wanted : 0;
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  if (process.env.FERRY_V8_DEFAULTS === '1') return;
  const youngMb = Number(process.env.FERRY_YOUNG_MB ?? 8);
  capYoungGeneration(Number.isFinite(youngMb) && youngMb >= 1 ? youngMb : 8);
  v8.setFlagsFromString('--liftoff-only');
}

/**
 * Lets the young generation double while a doubling stays within `capMb`, and holds it there. V8 grows it at the
 * end of a collection that saw many survivors, reading the growth factor then; this switches the factor after
 * each collection.
 */
function capYoungGeneration(capMb: number): void {
  const cap = capMb * 1024 * 1024;
  let factor = 0;
  const decide = () => {
    const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? cap;
    const wanted = size * 2 <= cap ? 2 : 1;
    if (wanted !== factor) v8.setFlagsFromString(`--semi-space-growth-factor=${(factor = wanted)}`);
  };
  decide();
  new PerformanceObserver(decide).observe({ entryTypes: ['gc'] });
}

/**
 * While a large body streams through (hundreds of MB in 64 KB chunks, little of it live), a tight heap means a
 * full collection every few MB: up to 0.5 s of a 500 MB download's 2 s. During such streams V8 sizes the heap
 * its own way; the tight limit returns when the last one ends.
 */
export async function whileStreamingLarge<T>(stream: () => Promise<T>): Promise<T> {
  if (!percent) return stream();
  if (streaming++ === 0) v8.setFlagsFromString('--heap-growing-percent=0'); // 0: V8's own sizing
  try {
    return await stream();
  } finally {
    if (--streaming === 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  }
}

/** One full collection after start-up (see above); a no-op where the runtime does not offer it. */
export function collectStartupGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
  gc?.();
}
