import { describe, expect, it } from 'vitest';
import { orderPool } from '../../src/relay/pool-order.js';

/** A seeded generator (mulberry32): the same draws every run, so the counts below are exact. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the order a pool tries its projects in', () => {
  it('is the configured order for an order pool, whatever the draw', () => {
    const pool = { id: 'p', strategy: 'order' as const, members: [{ project: 'a', weight: 1 }, { project: 'b', weight: 9 }, { project: 'c', weight: 1 }] };
    expect(orderPool(pool, () => 0.99)).toEqual(['a', 'b', 'c']);
  });

  it('puts each project first in proportion to its weight, and always lists every project once', () => {
    const pool = { id: 'p', strategy: 'weight' as const, members: [{ project: 'a', weight: 1 }, { project: 'b', weight: 3 }] };
    const random = seeded(17);
    let bFirst = 0;
    const draws = 4_000;
    for (let i = 0; i < draws; i++) {
      const order = orderPool(pool, random);
      expect([...order].sort()).toEqual(['a', 'b']);
      if (order[0] === 'b') bFirst++;
    }
    // Expected 3/4; the seeded draws land within a percent of it.
    expect(bFirst / draws).toBeGreaterThan(0.74);
    expect(bFirst / draws).toBeLessThan(0.76);
  });
});
