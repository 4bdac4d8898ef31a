/**
 * One money type (#13.6): integer nano-USD inside, one formatter and one rounding rule at the
 * edge (the formatter's own table is in pricing.test.ts, beside the examples it prints), and
 * each shared constant written once.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_COOLDOWN_MS } from '../../src/quota/cooldown.js';
import { formatUsd, nanoToUsdNumber, usdToNano } from '../../src/usage/money.js';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Files of src/ whose text matches, by path relative to src/. */
function filesMatching(re: RegExp): string[] {
  return sources(SRC)
    .filter((f) => re.test(readFileSync(f, 'utf8')))
    .map((f) => relative(SRC, f))
    .sort();
}

describe('usdToNano', () => {
  it.each<[number, bigint]>([
    [0, 0n],
    [0.4, 400_000_000n],
    [0.1 + 0.2, 300_000_000n],
    [25, 25_000_000_000n],
    [0.000000001, 1n],
    [1234.56789, 1_234_567_890_000n],
  ])('turns %s USD into %s nano-USD, exactly', (usd, nano) => {
    expect(usdToNano(usd)).toBe(nano);
  });

  it('refuses an amount that is not a number', () => {
    expect(() => usdToNano(Number.NaN)).toThrow(RangeError);
    expect(() => usdToNano(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });

  it('round-trips every budget written to the micro-dollar through the formatter', () => {
    for (const usd of [0.4, 0.134, 12.5, 400, 0.000001]) expect(Number(formatUsd(usdToNano(usd)))).toBe(usd);
  });
});

describe('nanoToUsdNumber (Prometheus only)', () => {
  it('gives USD, not nano-USD', () => {
    expect(nanoToUsdNumber(134_440_000)).toBeCloseTo(0.13444, 12);
    expect(nanoToUsdNumber(2n ** 60n)).toBeCloseTo(1_152_921_504.606847, 3);
  });
});

describe('one of each', () => {
  it('has one USD formatter in src/, in money.ts', () => {
    expect(filesMatching(/function formatUsd\b/)).toEqual(['usage/money.ts']);
    // No amount is turned into text any other way: no toFixed on money, no second rounding rule.
    expect(filesMatching(/[nN]anoUsd[^;\n]*(\.toFixed\(|\/ 1e9\b|\/ 1_000_000_000\b)/)).toEqual(['usage/money.ts']);
  });

  it('writes the cool-down default once, and uses it where Google gave no retry delay', () => {
    expect(DEFAULT_COOLDOWN_MS).toBe(60_000);
    expect(filesMatching(/COOLDOWN_MS\s*=/)).toEqual(['quota/cooldown.ts']);
    expect(filesMatching(/DEFAULT_GOOGLE_RETRY_MS/)).toEqual([]);
  });
});
