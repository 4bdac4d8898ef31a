import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/upstream/retry-policy.js';

const opts = { retries: 2, baseDelayMs: 100, maxDelayMs: 1000 };

describe('retry policy', () => {
  it.each([
    [{ kind: 'status', status: 500 }, 0, 1, 100],
    [{ kind: 'status', status: 503 }, 1, 1, 200],
    [{ kind: 'status', status: 504 }, 0, 0.5, 50],
    [{ kind: 'connection-error' }, 0, 1, 100],
    [{ kind: 'status', status: 503, retryAfterMs: 3000 }, 0, 1, 3000],
  ] as const)('retries %j at attempt %i after the jittered backoff', (outcome, attempt, random, delay) => {
    expect(retryDelayMs(opts, attempt, outcome, random)).toBe(delay);
  });

  it.each([
    [{ kind: 'status', status: 429 }, 0],
    [{ kind: 'status', status: 400 }, 0],
    [{ kind: 'status', status: 502 }, 0],
    [{ kind: 'timeout' }, 0],
    [{ kind: 'status', status: 503 }, 2],
    [{ kind: 'status', status: 503, retryAfterMs: 60_000 }, 0],
  ] as const)('does not retry %j at attempt %i', (outcome, attempt) => {
    expect(retryDelayMs(opts, attempt, outcome, 0.5)).toBeUndefined();
  });

  it('caps the backoff', () => {
    expect(retryDelayMs({ retries: 10, baseDelayMs: 100, maxDelayMs: 1000 }, 8, { kind: 'connection-error' }, 0.999)).toBeLessThanOrEqual(1000);
  });
});
