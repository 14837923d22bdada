// A batch checkpoint commits with its items, and never moves past an item that was not queued: one whose
// body could not be stored (a download cut mid-way) keeps the cursor where it was, so the source offers it
// again; the items that were stored stay queued (offered again, they come back as duplicates).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { SourceContext } from '../../connectors/contract.ts';
import { runEngine } from '../helpers/remote-engine.ts';
import { tempDir } from '../helpers/tmp.ts';

describe('intake checkpoints', () => {
  it('a batch with a failed body does not write its checkpoint; a clean batch does, in the same commit', async () => {
    const dir = tempDir();
    const run = await runEngine(dir, {
      integrations: [{ name: 'i', flows: [{ name: 'f', enabled: false, source: { type: 'webhook', port: 1, verify: { scheme: 'none' } }, destination: { type: 'folder', path: './out' } }] }],
    });
    try {
      const ctx = (run.engine.flow('f') as unknown as { sourceContext(): SourceContext }).sourceContext();
      const cut = new Readable({
        read() {
          this.push(Buffer.alloc(300 * 1024, 1));
          this.destroy(new Error('connection dropped mid-download'));
        },
      });
      const bad = await ctx.emit(
        [
          { sourceKey: 'a', name: 'a.txt', body: { bytes: Buffer.from('a') } },
          { sourceKey: 'b', name: 'b.bin', body: { stream: cut } },
          { sourceKey: 'c', name: 'c.txt', body: { bytes: Buffer.from('c') } },
        ],
        { key: 'cursor', value: 3 },
      );
      expect(bad.queued).toBe(2);
      expect(bad.failed.map((f) => [f.item.sourceKey, f.error])).toEqual([['b', 'connection dropped mid-download']]);
      expect(ctx.state.get('cursor')).toBeUndefined();

      const again = await ctx.emit(
        [
          { sourceKey: 'a', name: 'a.txt', body: { bytes: Buffer.from('a') } },
          { sourceKey: 'b', name: 'b.bin', body: { bytes: Buffer.from('b') } },
          { sourceKey: 'c', name: 'c.txt', body: { bytes: Buffer.from('c') } },
        ],
        { key: 'cursor', value: 3 },
      );
      expect(again.queued).toBe(1);
      expect(again.duplicates.map((d) => d.sourceKey)).toEqual(['a', 'c']);
      expect(ctx.state.get('cursor')).toBe(3);
    } finally {
      await run.stop();
    }
  });
});
