import { afterEach, describe, expect, it, vi } from 'vitest';
import { isCi, serviceUnavailable } from './required-services.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('a missing test service', () => {
  it.each([
    ['true', true],
    ['TRUE', true],
    ['1', true],
    ['false', false],
    ['0', false],
    ['', false],
    [undefined, false],
  ])('counts CI=%s as CI: %s', (value, expected) => {
    expect(isCi(value === undefined ? {} : { CI: value })).toBe(expected);
  });

  it('fails the run under CI=true, naming the service and why it is missing', () => {
    expect(() => serviceUnavailable('PostgreSQL', 'nothing on 127.0.0.1:5432', 'every PostgreSQL suite', { CI: 'true' })).toThrow(
      /CI=true and PostgreSQL could not be had \(nothing on 127\.0\.0\.1:5432\): every PostgreSQL suite cannot run/,
    );
  });

  it('only warns, loudly, outside CI', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(() => serviceUnavailable('Redis Cluster', 'no redis-cli', 'the cluster suite', {})).not.toThrow();
    expect(warn).toHaveBeenCalledOnce();
    expect(String(warn.mock.calls[0]?.[0])).toContain('Redis Cluster could not be had (no redis-cli): the cluster suite is SKIPPED');
  });
});
