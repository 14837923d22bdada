// Group commit: values pushed in one turn share one apply (one transaction); riders join the transaction of
// the batcher they ride on, are answered only once it returned, and go back to wait when it failed.
import { describe, expect, it } from 'vitest';
import { Batcher, type Taken } from '../../main/engine/batcher.ts';

describe('Batcher', () => {
  it('applies values pushed in one turn together and answers each caller with its own result', async () => {
    const calls: number[][] = [];
    const b = new Batcher<number, number>((values) => (calls.push(values), values.map((v) => v * 10)));
    const results = await Promise.all([b.push(1), b.push(2), b.push(3)]);
    expect(results).toEqual([10, 20, 30]);
    expect(calls).toEqual([[1, 2, 3]]);
  });

  it("a rider's pending values are written in the next flush of the batcher it rides on, and answered after it", async () => {
    const log: string[] = [];
    const outcomes = new Batcher<string, void>((values) => (log.push(`own:${values.join(',')}`), values.map(() => undefined)), { maxDelayMs: 10_000 });
    const intake = new Batcher<string, string>((values, riders: Array<Taken<unknown>>) => {
      log.push(`intake:${values.join(',')}+${riders.map((r) => (r.from === outcomes ? r.values.join(',') : '?')).join('')}`);
      return values;
    });
    intake.ride(outcomes);
    const answered: string[] = [];
    const outcome = outcomes.push('o1').then(() => answered.push('o1'));
    await intake.push('i1');
    await outcome;
    expect(log).toEqual(['intake:i1+o1']); // no own commit for o1: it rode along (its 10 s window never elapsed)
    expect(answered).toEqual(['o1']);
    expect(outcomes.size).toBe(0);
  });

  it('when the shared transaction fails, its own callers get the error and the riders wait for their own commit', async () => {
    const own: string[][] = [];
    const outcomes = new Batcher<string, void>((values) => (own.push(values), values.map(() => undefined)), { maxDelayMs: 20 });
    const intake = new Batcher<string, string>(() => {
      throw new Error('disk full');
    });
    intake.ride(outcomes);
    const outcome = outcomes.push('o1');
    await expect(intake.push('i1')).rejects.toThrow('disk full');
    await outcome; // resolved by outcomes' own flush, after the failure put it back
    expect(own).toEqual([['o1']]);
  });
});
