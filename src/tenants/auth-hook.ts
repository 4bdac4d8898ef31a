import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { closeIfBodyPending } from '../http/early-refusal.js';
import { GatewayError } from '../errors/gateway-error.js';
import { readCredential } from './credentials.js';
import type { TenantRegistry } from './registry.js';

export interface AuthFailureLimiter {
  /** Counts one failed attempt from the request's address; true when it is over the limit. */
  recordFailure(request: FastifyRequest): Promise<{ blocked: boolean; retryAfterMs: number }>;
  /** Milliseconds the request's address stays blocked for failed attempts; 0 when it is not. */
  blockedFor(request: FastifyRequest): number;
}

/**
 * Repeated failed authentication from one address is slowed down (contract §3): 429 after 20
 * failures a minute. Only failures count and only failures are refused: a valid key always
 * passes, so one misconfigured client behind a shared address (a NAT, or a load balancer when
 * `server.trustProxy` is not set) cannot lock every tenant out. The address is `request.ip`:
 * the client's own, or the one the trusted proxy reports when `server.trustProxy` says which
 * proxies to believe. @fastify/rate-limit counts the failures; the block is remembered here.
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

const TOO_MANY_FAILURES = 'Too many failed authentication attempts from this address; try again later.';

/**
 * onRequest hook for tenant routes: sets request.caller, or fails with the face's 401/429
 * before a byte of the body is read, so a stranger's upload costs neither memory nor time.
 * Callback style rather than async: a known key is settled synchronously, with no promise per
 * request; only a failure waits for the failure counter.
 */
export function authenticateTenant(registry: TenantRegistry, limiter: AuthFailureLimiter): onRequestHookHandler {
  return (request, reply, done) => {
    const credential = readCredential(request.headers, request.query, request.raw.rawHeaders);
    let caller;
    try {
      caller = credential && !('ambiguous' in credential) ? registry.authenticate(credential.key) : undefined;
    } catch (e) {
      // The registry cannot vouch for the key right now (its view of the database is too old).
      closeIfBodyPending(request, reply);
      return done(e as Error);
    }
    if (credential && caller && !('ambiguous' in credential)) {
      request.caller = caller;
      request.credentialSource = credential.source;
      return done();
    }
    closeIfBodyPending(request, reply);
    const blockedMs = limiter.blockedFor(request);
    if (blockedMs > 0) return done(new GatewayError('AUTH_RATE_LIMITED', TOO_MANY_FAILURES, { retryAfterMs: blockedMs }));
    limiter.recordFailure(request).then(
      ({ blocked, retryAfterMs }) =>
        done(
          blocked
            ? new GatewayError('AUTH_RATE_LIMITED', TOO_MANY_FAILURES, { retryAfterMs })
            : new GatewayError(
                'UNAUTHENTICATED',
                !credential
                  ? 'Missing API key: send it in the x-goog-api-key header, the key query parameter, or Authorization: Bearer.'
                  : 'ambiguous' in credential
                    ? `The API key was given more than once (${credential.source}) with different values; send it once.`
                    : 'API key not valid. Please pass a valid nanogate API key.',
              ),
        ),
      (err: unknown) => done(err as Error),
    );
  };
}
