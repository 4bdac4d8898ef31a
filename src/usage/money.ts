/**
 * nanogate's one money type (STYLE.md, #13.6): an integer count of nano-USD (1e-9 USD), a
 * `number` for one call's cost (a call costs far below 2^53 nano-USD, about $9M) and a `bigint`
 * for every sum (a period's spend, a report total, a budget). Amounts become text only at the
 * edge, through `formatUsd`, with one rounding rule: half-up to the micro-dollar (six decimals),
 * a negative amount mirroring its positive. USD figures coming in (config and admin budgets) go
 * through `usdToNano`; Prometheus, which has only doubles, gets `nanoToUsdNumber`.
 */

export const NANO_PER_USD = 1_000_000_000n;

function toBigInt(nanoUsd: number | bigint): bigint {
  if (typeof nanoUsd === 'bigint') return nanoUsd;
  if (!Number.isInteger(nanoUsd)) throw new RangeError(`an amount must be an integer number of nano-USD, got ${nanoUsd}`);
  return BigInt(nanoUsd);
}

/** Half-up to micro-USD; negatives mirror positives so a sign never changes the digits. */
function roundNanoToMicro(nano: bigint): bigint {
  const magnitude = nano < 0n ? -nano : nano;
  const micro = (magnitude + 500n) / 1000n;
  return nano < 0n ? -micro : micro;
}

/**
 * The formatter: integer nano-USD as a USD decimal string with exactly six places, rounded
 * half-up (44,827,750 nano -> "0.044828"; 499 -> "0.000000"; 500 -> "0.000001"). Every amount
 * a client, an operator or a report sees is this string; messages put a "$" before it.
 */
export function formatUsd(nanoUsd: number | bigint): string {
  const micro = roundNanoToMicro(toBigInt(nanoUsd));
  const magnitude = micro < 0n ? -micro : micro;
  const whole = magnitude / 1_000_000n;
  const fraction = (magnitude % 1_000_000n).toString().padStart(6, '0');
  return `${micro < 0n ? '-' : ''}${whole}.${fraction}`;
}

/** nano -> micro-USD, by the same rounding rule (integer). */
export function nanoToMicroUsd(nanoUsd: number | bigint): number {
  return Number(roundNanoToMicro(toBigInt(nanoUsd)));
}

/**
 * A USD figure from config or the admin API (a number such as 0.4) as nano-USD. Budgets are
 * given to at most nine decimals, so rounding to the nearest nano-USD is exact for every figure
 * a person writes; doubles hold 0.4 as 0.40000000000000002, which this rounds away.
 */
export function usdToNano(usd: number): bigint {
  if (!Number.isFinite(usd)) throw new RangeError(`a USD amount must be finite, got ${usd}`);
  return BigInt(Math.round(usd * 1e9));
}

/** For Prometheus only (its samples are doubles): USD as a number, exact to ~1e-15 relative. */
export function nanoToUsdNumber(nanoUsd: number | bigint): number {
  return Number(nanoUsd) / 1e9;
}

/** The larger of two amounts. */
export function maxNano(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}
