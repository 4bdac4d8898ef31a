import { describe, expect, it } from 'vitest';
import { readCredential } from '../../src/tenants/credentials.js';
import { hashKey, hashesEqual, keyIdForHash } from '../../src/tenants/keys.js';

describe('credentials', () => {
  it.each([
    [{ 'x-goog-api-key': 'k1' }, {}, { key: 'k1', source: 'x-goog-api-key' }],
    [{ authorization: 'Bearer k2' }, {}, { key: 'k2', source: 'bearer' }],
    [{ authorization: 'bearer   k2 ' }, {}, { key: 'k2', source: 'bearer' }],
    [{}, { key: 'k3' }, { key: 'k3', source: 'query-key' }],
    [{ 'x-goog-api-key': 'k1', authorization: 'Bearer k2' }, { key: 'k3' }, { key: 'k1', source: 'x-goog-api-key' }],
  ])('reads %j %j', (headers, query, expected) => {
    expect(readCredential(headers, query)).toEqual(expected);
  });

  it.each([[{}, {}], [{ authorization: 'Basic abc' }, {}], [{ 'x-goog-api-key': '' }, { key: '' }]])('finds no key in %j %j', (headers, query) => {
    expect(readCredential(headers, query)).toBeUndefined();
  });

  it.each([
    // Node keeps the first Authorization; the raw headers show the second.
    [{ authorization: 'Bearer k1' }, {}, ['Authorization', 'Bearer k1', 'authorization', 'Bearer k2'], 'bearer'],
    [{ 'x-goog-api-key': 'k1' }, {}, ['x-goog-api-key', 'k1', 'X-Goog-Api-Key', 'k2'], 'x-goog-api-key'],
    [{}, { key: ['k1', 'k2'] }, [], 'query-key'],
  ])('calls a credential repeated with different values ambiguous: %j %j', (headers, query, raw, source) => {
    expect(readCredential(headers, query, raw)).toEqual({ ambiguous: true, source });
  });

  it('accepts a credential repeated with the same value', () => {
    expect(readCredential({ authorization: 'Bearer k1' }, {}, ['Authorization', 'Bearer k1', 'authorization', 'Bearer k1'])).toEqual({ key: 'k1', source: 'bearer' });
    expect(readCredential({}, { key: ['k1', 'k1'] })).toEqual({ key: 'k1', source: 'query-key' });
  });
});

describe('key hashing', () => {
  it('hashes as the config expects (sha256 of "test")', () => {
    expect(hashKey('test')).toBe('sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
  });
  it('compares hashes exactly', () => {
    expect(hashesEqual(hashKey('a'), hashKey('a'))).toBe(true);
    expect(hashesEqual(hashKey('a'), hashKey('b'))).toBe(false);
    expect(hashesEqual('sha256:ab', hashKey('a'))).toBe(false);
  });
  it('derives stable public key ids that reveal nothing of the hash', () => {
    const h = hashKey('a');
    expect(keyIdForHash(h)).toBe(keyIdForHash(h));
    expect(keyIdForHash(h)).toMatch(/^key_[0-9a-f]{16}$/);
    expect(h).not.toContain(keyIdForHash(h).slice(4));
  });
});
