import { describe, expect, it } from 'vitest';
import { randomBase64url, randomHex } from '../../src/random/pool.js';

describe('pooled random ids', () => {
  it('gives the asked number of bytes as hex or base64url', () => {
    expect(randomHex(16)).toMatch(/^[0-9a-f]{32}$/);
    expect(randomBase64url(12)).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('serves a request larger than its pool', () => {
    expect(randomHex(10_000)).toHaveLength(20_000);
  });

  it('never hands out the same bytes twice, across many refills of the pool', () => {
    const ids = new Set(Array.from({ length: 50_000 }, () => randomHex(8)));
    expect(ids.size).toBe(50_000);
  });
});
