// memory.ts: body bytes handled past the threshold make the GC free dead Buffers, which V8 on its own
// leaves until they add up to ~64 MB.
import { describe, expect, it } from 'vitest';
import { bodyBytesHandled } from '../../main/engine/memory.ts';

describe('bodyBytesHandled', () => {
  it('frees the memory of dead bodies once 16 MB of bodies were handled', () => {
    const mb = () => process.memoryUsage().arrayBuffers / 1048576;
    bodyBytesHandled(16 * 1024 * 1024); // start from a collected heap
    const before = mb();
    let bodies: Buffer[] = [];
    for (let i = 0; i < 40; i++) bodies.push(Buffer.alloc(1024 * 1024, i));
    expect(mb()).toBeGreaterThan(before + 35);
    bodies = [];
    expect(bodies).toHaveLength(0);
    for (let i = 0; i < 15; i++) bodyBytesHandled(1024 * 1024); // under the threshold: nothing collected yet
    bodyBytesHandled(1024 * 1024);
    expect(mb()).toBeLessThan(before + 10);
  });
});
