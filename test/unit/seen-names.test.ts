// The names a listing showed in a folder, kept as 53-bit hashes (connectors/intake/memory.ts): every name seen is
// found again, and names not seen (neighbours of seen ones, other cases, other scripts) are not.
import { describe, expect, it } from 'vitest';
import { SeenNames } from '../../connectors/intake/memory.ts';

describe('SeenNames', () => {
  it('holds 200,000 names of one folder exactly: each is found, and 200,000 similar names are not', () => {
    const seen = new SeenNames();
    const name = (i: number) => `inv-${String(i).padStart(7, '0')}.xml`;
    for (let i = 0; i < 200_000; i++) seen.add(name(i));
    for (let i = 0; i < 200_000; i++) expect(seen.has(name(i))).toBe(true);
    let falsePositives = 0;
    for (let i = 200_000; i < 400_000; i++) if (seen.has(name(i))) falsePositives++;
    expect(falsePositives).toBe(0);
    for (const other of ['INV-0000001.xml', 'inv-0000001.xm', 'inv-0000001.xmll', '', 'fäktura-€.xml', 'inv-0000001.xml ']) expect(seen.has(other)).toBe(false);
  });

  it('hashes differ for names that differ in one character anywhere, and stay within 53 bits', () => {
    const base = 'orders/2026-12-07/export-000123.csv';
    const hashes = new Set<number>([SeenNames.hash(base)]);
    for (let i = 0; i < base.length; i++) {
      for (const c of ['a', '0', '_', 'é']) {
        const v = base.slice(0, i) + c + base.slice(i + 1);
        if (v !== base) hashes.add(SeenNames.hash(v));
      }
    }
    expect(hashes.size).toBeGreaterThan(base.length * 3);
    for (const h of hashes) expect(Number.isSafeInteger(h) && h >= 0).toBe(true);
  });
});
