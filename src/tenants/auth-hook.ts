import type { FastifyInstance, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { readCredential } from './credentials.js';
import type { TenantRegistry } from './registry.js';

export interface AuthFailureLimiter {
  /** Counts one failed attempt from the request's address; true when it is over the limit. */
  recordFailure(request: FastifyRequest): Promise<{ blocked: boolean; retryAfterMs: number }>;
  /** Whether the address is currently blocked (checked before the key, so a right guess is no help). */
  blockedFor(request: FastifyRequest): number;
}

/**
 * Repeated failed authentication from one address is slowed down (contract §3): 429 after 20
 * failures a minute. @fastify/rate-limit counts the failures; the block is remembered here so
 * a blocked address is refused before its key is even looked at.
 */
export function createAuthFailureLimiter(app: FastifyInstance, opts: { max: number; windowMs: number; nowMs: () => number }): AuthFailureLimiter {
  const check = app.createRateLimit({ max: opts.max, timeWindow: opts.windowMs, keyGenerator: (request) => request.ip });
  const blockedUntil = new Map<string, number>();
  return {
    async recordFailure(request) {
      const result = await check(request);
      if (!result.isAllowed && result.isExceeded) {
        const until = opts.nowMs() + result.ttl;
        blockedUntil.set(result.key, until);
        if (blockedUntil.size > 10_000) {
          const now = opts.nowMs();
          for (const [k, t] of blockedUntil) if (t <= now) blockedUntil.delete(k);
        }
        return { blocked: true, retryAfterMs: result.ttl };
      }
      return { blocked: false, retryAfterMs: 0 };
    },
    blockedFor(request) {
      const until = blockedUntil.get(request.ip);
      if (until === undefined) return 0;
      const left = until - opts.nowMs();
      if (left <= 0) blockedUntil.delete(request.ip);
      return Math.max(0, left);
    },
  };
}

/**
 * preHandler for tenant routes: sets request.caller, or fails with the face's 401/429. Callback
 * style rather than async: a known key is settled synchronously, with no promise per request;
 * only a failure waits for the failure counter.
 */
export function authenticateTenant(registry: TenantRegistry, limiter: AuthFailureLimiter): preHandlerHookHandler {
  return (request, _reply, done) => {
    const blockedMs = limiter.blockedFor(request);
    if (blockedMs > 0) {
      return done(new GatewayError('AUTH_RATE_LIMITED', 'Too many failed authentication attempts from this address; try again later.', { retryAfterMs: blockedMs }));
    }
    const credential = readCredential(request.headers, request.query);
    const caller = credential ? registry.authenticate(credential.key) : undefined;
    if (credential && caller) {
      request.caller = caller;
      request.credentialSource = credential.source;
      return done();
    }
    limiter.recordFailure(request).then(
      ({ blocked, retryAfterMs }) =>
        done(
          blocked
            ? new GatewayError('AUTH_RATE_LIMITED', 'Too many failed authentication attempts from this address; try again later.', { retryAfterMs })
            : new GatewayError(
                'UNAUTHENTICATED',
                credential
                  ? 'API key not valid. Please pass a valid nanogate API key.'
                  : 'Missing API key: send it in the x-goog-api-key header, the key query parameter, or Authorization: Bearer.',
              ),
        ),
      (err: unknown) => done(err as Error),
    );
  };
}
