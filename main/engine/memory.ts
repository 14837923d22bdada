// Ferry is resident next to the software it serves, so it trades a little garbage-collection time for a
// small footprint.
import v8 from 'node:v8';
import vm from 'node:vm';

// By default V8 lets the heap grow to several times the live data between full collections (it favours
// throughput); a burst of 10,000 files then peaked at ~250 MB RSS with ~50 MB live. Growing the heap by at
// most FERRY_HEAP_GROWING_PERCENT (default 25) past the live data keeps RSS near what is in use. V8 reads
// this flag at every collection, so setting it once the process runs takes effect.
let applied = false;

export function favourSmallHeap(): void {
  if (applied) return;
  applied = true;
  const percent = Number(process.env.FERRY_HEAP_GROWING_PERCENT ?? 25);
  if (Number.isInteger(percent) && percent > 0) v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
}

// Item bodies live outside the V8 heap, in Buffers whose memory is freed only when the GC collects their
// small JS objects. V8 starts a full GC for such memory only once it grew by about 64 MB since the last one,
// and the objects of bodies that waited for a commit or a send are old by then, so a flow moving large
// bodies holds tens of MB of dead ones (the records bench: peak RSS 280 MB instead of under 200 MB). Every
// BODY_GC_BYTES of bodies made or sent, a GC frees them (~10 ms with this engine's small heap, a few % of
// the time moving that much data takes).
const BODY_GC_BYTES = 16 * 1024 * 1024;
let handled = 0;
let collect: (() => void) | null | undefined;

/** V8's gc() (what --expose-gc exposes), taken once, without exposing it as a global. */
function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') collect = exposed as () => void;
    else {
      v8.setFlagsFromString('--expose-gc');
      collect = vm.runInNewContext('gc') as () => void;
      v8.setFlagsFromString('--no-expose-gc');
    }
  } catch {
    collect = null; // no gc() here: V8's own limits apply
  }
  return collect;
}

/** Counts body bytes this process made or sent; collects garbage every BODY_GC_BYTES. */
export function bodyBytesHandled(n: number): void {
  handled += n;
  if (handled < BODY_GC_BYTES) return;
  handled = 0;
  collector()?.();
}
