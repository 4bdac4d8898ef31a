import { describe, expect, it } from 'vitest';
import { newEntryId } from '../../src/quota/entry-id.js';

describe('newEntryId', () => {
  it('is 16 base64url characters, safe inside a Redis "id|tokens|images" member', () => {
    for (let i = 0; i < 1_000; i++) expect(newEntryId()).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('does not repeat across many draws of its pool', () => {
    const ids = new Set(Array.from({ length: 100_000 }, newEntryId));
    expect(ids.size).toBe(100_000);
  });
});
