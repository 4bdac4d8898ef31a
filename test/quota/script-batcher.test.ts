import { describe, expect, it } from 'vitest';
import { ScriptBatcher } from '../../src/quota/script-batcher.js';

/** A batcher whose calls are recorded; flushed by hand, as RedisQuotaStore does at the end of a turn. */
function recording(opts: { maxBatch?: number; fail?: (tag: string) => Error | undefined; throwSync?: boolean } = {}) {
  const calls: Array<{ tag: string; entries: number[] }> = [];
  let queued = 0;
  const batcher = new ScriptBatcher<number>({
    send: (tag, entries) => {
      if (opts.throwSync) throw new Error('no connection');
      calls.push({ tag, entries });
      const err = opts.fail?.(tag);
      return err ? Promise.reject(err) : new Promise((r) => setImmediate(r));
    },
    maxBatch: opts.maxBatch ?? 100,
    onQueued: () => queued++,
  });
  return { batcher, calls, queued: () => queued };
}

describe('ScriptBatcher', () => {
  it('sends what was queued as one call per tag, in order, and settles each entry with its call', async () => {
    const { batcher, calls, queued } = recording();
    const settled: number[] = [];
    const all = [1, 2, 3, 4].map((n) => batcher.add(n % 2 ? 'a' : 'b', n).then(() => settled.push(n)));
    expect(queued()).toBe(4);
    expect(calls).toEqual([]);
    batcher.flush();
    expect(calls).toEqual([
      { tag: 'a', entries: [1, 3] },
      { tag: 'b', entries: [2, 4] },
    ]);
    await Promise.all(all);
    expect(settled.sort()).toEqual([1, 2, 3, 4]);
    batcher.flush();
    expect(calls).toHaveLength(2);
  });

  it('sends at once when a tag has maxBatch entries waiting', async () => {
    const { batcher, calls } = recording({ maxBatch: 3 });
    const all = [1, 2, 3, 4].map((n) => batcher.add('a', n));
    expect(calls).toEqual([{ tag: 'a', entries: [1, 2, 3] }]);
    batcher.flush();
    expect(calls).toEqual([
      { tag: 'a', entries: [1, 2, 3] },
      { tag: 'a', entries: [4] },
    ]);
    await Promise.all(all);
  });

  it("rejects every entry of a failed call, and only those", async () => {
    const { batcher } = recording({ fail: (tag) => (tag === 'bad' ? new Error('NOSCRIPT or worse') : undefined) });
    const bad = [batcher.add('bad', 1), batcher.add('bad', 2)];
    const good = batcher.add('good', 3);
    batcher.flush();
    for (const p of bad) await expect(p).rejects.toThrow('NOSCRIPT or worse');
    await expect(good).resolves.toBeUndefined();
  });

  it('rejects the entries when sending throws', async () => {
    const { batcher } = recording({ throwSync: true });
    const p = batcher.add('a', 1);
    batcher.flush();
    await expect(p).rejects.toThrow('no connection');
  });

  it('drain() sends what is queued and waits for every call in flight', async () => {
    const { batcher, calls } = recording();
    let done = 0;
    void batcher.add('a', 1).then(() => done++);
    void batcher.add('b', 2).then(() => done++);
    await batcher.drain();
    expect(calls).toHaveLength(2);
    expect(done).toBe(2);
  });
});
