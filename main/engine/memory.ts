// Item bodies live outside the V8 heap, in Buffers whose memory is freed only when the GC collects their
// small JS objects. V8 starts a full GC for such memory only once it grew by about 64 MB since the last one,
// and the objects of bodies that waited for a commit or a send are old by then, so a flow moving large
// bodies holds tens of MB of dead ones (the records bench: peak RSS 280 MB instead of under 200 MB). Every
// EVERY_BYTES of bodies read, made or sent, a GC frees them (~10 ms with this engine's small heap, a few %
// of the time moving that much data takes).
import v8 from 'node:v8';
import vm from 'node:vm';

const EVERY_BYTES = 16 * 1024 * 1024;
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

/** Counts body bytes this process read, made or sent; collects garbage every EVERY_BYTES. */
export function bodyBytesHandled(n: number): void {
  handled += n;
  if (handled < EVERY_BYTES) return;
  handled = 0;
  collector()?.();
}
