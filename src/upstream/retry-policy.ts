/**
 * When to try an upstream call again (contract §11): 500/503/504 and connection errors, with
 * exponential backoff and full jitter, honouring Google's RetryInfo / Retry-After. A 429 is
 * never retried: it starts the cool-down instead. Pure: the transport asks, this answers.
 */
export interface RetryPolicyOptions {
  retries: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A server-requested delay above this is not waited for: the error goes back instead. */
  maxHonouredDelayMs?: number;
}

export type AttemptOutcome =
  | { kind: 'status'; status: number; retryAfterMs?: number }
  | { kind: 'connection-error' }
  | { kind: 'timeout' };

const RETRYABLE_STATUS = new Set([500, 503, 504]);

/**
 * Milliseconds to wait before attempt `attempt + 1`, or undefined to stop.
 * `attempt` counts from 0 (the first try); `random` is in [0, 1).
 */
export function retryDelayMs(opts: RetryPolicyOptions, attempt: number, outcome: AttemptOutcome, random: number): number | undefined {
  if (attempt >= opts.retries) return undefined;
  if (outcome.kind === 'timeout') return undefined; // a hung model would cost another full timeout
  if (outcome.kind === 'status' && !RETRYABLE_STATUS.has(outcome.status)) return undefined;
  const base = opts.baseDelayMs ?? 250;
  const cap = opts.maxDelayMs ?? 8_000;
  const backoff = Math.min(cap, base * 2 ** attempt) * random;
  if (outcome.kind === 'status' && outcome.retryAfterMs !== undefined) {
    if (outcome.retryAfterMs > (opts.maxHonouredDelayMs ?? 10_000)) return undefined;
    return Math.max(outcome.retryAfterMs, backoff);
  }
  return backoff;
}
