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

let percent: number | undefined;
let streaming = 0;

export function favourSmallHeap(): void {
  if (percent !== undefined) return;
  const wanted = Number(process.env.FERRY_HEAP_GROWING_PERCENT ?? 25);
  percent = Number.isInteger(wanted) && wanted > 0 ? wanted : 0;
  if (percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
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
