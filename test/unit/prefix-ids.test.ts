// The dedupe index's small level in typed arrays (store/prefix-ids.ts) against a plain model: random adds,
// removals and drops, prefixes shared by several ids, growth far past the first table, removed slots reused.
import { expect, it } from 'vitest';
import { PrefixIds } from '../../main/engine/store/prefix-ids.ts';

/** A small seeded generator (mulberry32): the same sequence every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

it('holds what a model holds through 60,000 random operations, with shared prefixes and growth', () => {
  const rnd = random(7);
  const table = new PrefixIds();
  const model = new Map<number, number[]>();
  // 52-bit prefixes; a few hundred of them reused, so several ids share one and collide in slots
  const shared = Array.from({ length: 300 }, () => Math.floor(rnd() * 2 ** 52));
  const prefixOf = () => (rnd() < 0.2 ? shared[Math.floor(rnd() * shared.length)] : Math.floor(rnd() * 2 ** 52));
  let nextId = 1;
  const modelSize = () => [...model.values()].reduce((n, ids) => n + ids.length, 0);
  const removeFromModel = (keep: (id: number) => boolean) => {
    for (const [p, ids] of model) {
      const left = ids.filter(keep);
      if (left.length) model.set(p, left);
      else model.delete(p);
    }
  };
  for (let op = 0; op < 60_000; op++) {
    const r = rnd();
    if (r < 0.7) {
      const prefix = prefixOf();
      const id = nextId++;
      expect(table.add(prefix, id)).toBe(true);
      expect(table.add(prefix, id)).toBe(false); // the same pair twice is one pair
      model.set(prefix, [...(model.get(prefix) ?? []), id]);
    } else if (r < 0.9 && model.size > 0) {
      const prefixes = [...model.keys()];
      const prefix = prefixes[Math.floor(rnd() * prefixes.length)];
      const ids = model.get(prefix)!;
      const id = ids[Math.floor(rnd() * ids.length)];
      expect(table.remove(prefix, id)).toBe(true);
      expect(table.remove(prefix, id)).toBe(false);
      const left = ids.filter((x) => x !== id);
      if (left.length) model.set(prefix, left);
      else model.delete(prefix);
    } else if (r < 0.9005) {
      const upto = Math.floor(nextId * rnd());
      table.dropUpTo(upto);
      removeFromModel((id) => id > upto);
    } else if (r < 0.901) {
      const from = nextId - Math.floor(rnd() * 50);
      table.dropFrom(from);
      removeFromModel((id) => id < from);
    } else {
      const prefix = rnd() < 0.5 ? prefixOf() : Math.floor(rnd() * 2 ** 52);
      expect(table.idsOf(prefix)?.sort((a, b) => a - b)).toEqual(model.get(prefix)?.sort((a, b) => a - b));
    }
    if (op % 5000 === 0) expect(table.size).toBe(modelSize());
  }
  expect(table.size).toBe(modelSize());
  const all = [...table.entries()].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const expected = [...model].flatMap(([p, ids]) => ids.map((id): [number, number] => [p, id])).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  expect(all).toEqual(expected);
  for (const [p, ids] of model) expect(table.idsOf(p)?.sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
});

it('a table filled and emptied again and again reuses its removed slots instead of growing without end', () => {
  const table = new PrefixIds();
  let id = 1;
  for (let round = 0; round < 50; round++) {
    const added: Array<[number, number]> = [];
    for (let i = 0; i < 400; i++) {
      const pair: [number, number] = [Math.floor(Math.random() * 2 ** 52), id++];
      table.add(...pair);
      added.push(pair);
    }
    for (const pair of added) expect(table.remove(...pair)).toBe(true);
    expect(table.size).toBe(0);
  }
  // every lookup ends at an empty slot: a table that never rebuilt would have none left and loop
  expect(table.idsOf(12345)).toBeUndefined();
});
