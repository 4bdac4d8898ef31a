import { describe, expect, it } from 'vitest';
import { newRecordId } from '../../src/usage/record.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRecordId', () => {
  it('is a UUIDv7 carrying the time in its first 48 bits', () => {
    const nowMs = Date.parse('2026-11-25T12:34:56.789Z');
    const id = newRecordId(nowMs);
    expect(id).toMatch(UUID_V7);
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(nowMs);
  });

  it('sorts by time as text, so the primary-key index grows at its end', () => {
    const times = [0, 1, 255, 256, 1_700_000_000_000, 1_700_000_000_001, 2 ** 47];
    const ids = times.map(newRecordId);
    expect([...ids].sort()).toEqual(ids);
  });

  it('stays unique within one millisecond', () => {
    const ids = new Set(Array.from({ length: 50_000 }, () => newRecordId(1_764_000_000_000)));
    expect(ids.size).toBe(50_000);
  });
});
