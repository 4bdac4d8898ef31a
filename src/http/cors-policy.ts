import type { FastifyRequest } from 'fastify';
import type { FastifyCorsOptions } from '@fastify/cors';

export interface CorsConfig {
  /** Exact origins (`https://app.example.com`) or "*". */
  origins: readonly string[];
  /** Whether browsers on those origins may call /admin too. */
  admin: boolean;
}

/**
 * What a browser may read besides the body: the request id, the model and cost headers (#4),
 * and what the SDKs read to pace retries (Retry-After, OpenAI's rate-limit headers) and the
 * model lifecycle headers.
 */
const EXPOSED_HEADERS = [
  'x-request-id',
  'x-nanogate-model',
  'x-nanogate-cost-usd',
  'x-nanogate-budget-remaining-usd',
  'x-nanogate-images-failed',
  'retry-after',
  'retry-after-ms',
  'x-should-retry',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'deprecation',
  'sunset',
  'link',
];

/** Browsers may cache a preflight this long (Chrome caps it at 2 h). */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * @fastify/cors options per request (#12): the configured origins on the model routes (both
 * faces, `/v1/…` and `/v1beta/…`) and, only when `admin` is set, on `/admin`; nothing elsewhere
 * (ops routes, unknown paths). Decided on the route the router matched; a preflight to a path
 * with no OPTIONS route of its own falls to @fastify/cors's catch-all and is decided on its
 * decoded path, which only chooses whether the browser sends the real request: what the
 * browser may read is decided again on that request's route. Request headers are reflected
 * (the SDKs send their own: x-goog-api-key, authorization, x-stainless-*, x-goog-api-client);
 * no credentials mode, since keys travel in headers, never cookies. An OPTIONS request that is
 * not a preflight gets no CORS treatment and the route's own answer (405).
 */
export function corsPolicy(cors: CorsConfig, pathOf: (request: FastifyRequest) => string): (request: FastifyRequest) => FastifyCorsOptions {
  const allowed: FastifyCorsOptions = {
    origin: cors.origins.includes('*') ? '*' : [...cors.origins],
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: PREFLIGHT_MAX_AGE_S,
    strictPreflight: false,
  };
  const refused: FastifyCorsOptions = { origin: false };
  return (request) => {
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] === undefined) return refused;
    const path = pathOf(request);
    if (path.startsWith('/v1/') || path.startsWith('/v1beta/')) return allowed;
    if (cors.admin && (path === '/admin' || path.startsWith('/admin/'))) return allowed;
    return refused;
  };
}
