import { ERROR_STATUS, GatewayError, type ErrorCode } from '../../errors/gateway-error.js';
import { formatDuration } from '../../gemini/errors.js';
import { GOOGLE_TYPE_PREFIX, type GoogleErrorBody } from '../../gemini/types.js';
import { quotaIdFor, quotaMetricFor } from '../../quota/quota-ids.js';
import { formatUsd } from '../../usage/money.js';

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: GoogleErrorBody | unknown;
}

const RATE_LIMIT_HELP = {
  '@type': `${GOOGLE_TYPE_PREFIX}Help`,
  links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
};

/** Google's status name per code (the HTTP status is ERROR_STATUS's). */
const GOOGLE_STATUS: Record<ErrorCode, string> = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  AUTH_RATE_LIMITED: 'RESOURCE_EXHAUSTED',
  FORBIDDEN: 'PERMISSION_DENIED',
  MODEL_NOT_FOUND: 'NOT_FOUND',
  ROUTE_NOT_FOUND: 'NOT_FOUND',
  NOT_FOUND: 'NOT_FOUND',
  METHOD_NOT_ALLOWED: 'UNIMPLEMENTED',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  BODY_TOO_LARGE: 'INVALID_ARGUMENT',
  HEADERS_TOO_LARGE: 'INVALID_ARGUMENT',
  REQUEST_TIMEOUT: 'DEADLINE_EXCEEDED',
  UNSUPPORTED_MEDIA_TYPE: 'INVALID_ARGUMENT',
  CONFLICT: 'ALREADY_EXISTS',
  QUOTA_EXHAUSTED: 'RESOURCE_EXHAUSTED',
  BUDGET_EXCEEDED: 'RESOURCE_EXHAUSTED',
  UPSTREAM_ERROR: 'UNAVAILABLE',
  UPSTREAM_TIMEOUT: 'DEADLINE_EXCEEDED',
  UPSTREAM_UNAVAILABLE: 'UNAVAILABLE',
  UPSTREAM_PROJECT_REFUSED: 'UNAVAILABLE',
  CONTENT_POLICY: 'INVALID_ARGUMENT',
  NO_IMAGE: 'UNAVAILABLE',
  STORE_UNAVAILABLE: 'UNAVAILABLE',
  LEDGER_BACKLOG_FULL: 'UNAVAILABLE',
  NOT_IMPLEMENTED: 'UNIMPLEMENTED',
  INTERNAL: 'INTERNAL',
};

function envelope(code: number, status: string, message: string, details?: unknown[]): GoogleErrorBody {
  return { error: { code, message, status, ...(details?.length ? { details: details as GoogleErrorBody['error']['details'] } : {}) } };
}

function retryAfterHeader(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) };
}

/** The one renderer from GatewayError to Google's envelope (contract §5, §7, §8). */
export function renderGoogleError(err: GatewayError): RenderedError {
  const status = ERROR_STATUS[err.code];
  const googleStatus = GOOGLE_STATUS[err.code];
  const d = err.details;
  switch (err.code) {
    case 'UNAUTHENTICATED':
      return {
        status,
        headers: {},
        body: envelope(status, googleStatus, err.message, [
          { '@type': `${GOOGLE_TYPE_PREFIX}ErrorInfo`, reason: d.keyExpired ? 'API_KEY_EXPIRED' : 'API_KEY_INVALID', domain: 'nanogate', metadata: { service: 'nanogate' } },
        ]),
      };
    case 'QUOTA_EXHAUSTED': {
      const q = d.quota;
      if (!q) break;
      const details = [
        {
          '@type': `${GOOGLE_TYPE_PREFIX}QuotaFailure`,
          violations: [
            {
              quotaMetric: quotaMetricFor(q),
              quotaId: quotaIdFor(q),
              quotaDimensions: { location: 'global', model: q.model },
              quotaValue: String(q.limit),
            },
          ],
        },
        RATE_LIMIT_HELP,
        { '@type': `${GOOGLE_TYPE_PREFIX}RetryInfo`, retryDelay: formatDuration(q.retryAfterMs) },
      ];
      return { status, headers: retryAfterHeader(q.retryAfterMs), body: envelope(status, googleStatus, err.message, details) };
    }
    case 'BUDGET_EXCEEDED': {
      const b = d.budget;
      if (!b) break;
      const details = [
        {
          '@type': `${GOOGLE_TYPE_PREFIX}ErrorInfo`,
          reason: 'BUDGET_EXCEEDED',
          domain: 'nanogate',
          // ErrorInfo metadata is a map of strings: amounts as six-decimal USD strings.
          metadata: {
            tenant: b.tenantId,
            scope: b.scope,
            ...(b.keyId !== undefined ? { key: b.keyId } : {}),
            period: b.period,
            limitUsd: formatUsd(b.limitNanoUsd),
            spentUsd: formatUsd(b.spentNanoUsd),
            heldUsd: formatUsd(b.heldNanoUsd),
            requestedUsd: formatUsd(b.requestedNanoUsd),
            resetAt: new Date(b.resetAtMs).toISOString(),
          },
        },
      ];
      return { status, headers: {}, body: envelope(status, googleStatus, err.message, details) };
    }
    case 'AUTH_RATE_LIMITED': {
      const ms = d.retryAfterMs ?? 60_000;
      return {
        status,
        headers: retryAfterHeader(ms),
        body: envelope(status, googleStatus, err.message, [{ '@type': `${GOOGLE_TYPE_PREFIX}RetryInfo`, retryDelay: formatDuration(ms) }]),
      };
    }
    case 'INVALID_ARGUMENT':
      if (d.param) {
        return {
          status,
          headers: {},
          body: envelope(status, googleStatus, err.message, [
            { '@type': `${GOOGLE_TYPE_PREFIX}BadRequest`, fieldViolations: [{ field: d.param, description: err.message }] },
          ]),
        };
      }
      break;
    case 'METHOD_NOT_ALLOWED':
      return { status, headers: d.allow ? { allow: d.allow.join(', ') } : {}, body: envelope(status, googleStatus, err.message) };
    case 'UPSTREAM_PROJECT_REFUSED':
      // Not Google's "API key not valid": the tenant would read it as its own key being wrong.
      return {
        status,
        headers: {},
        body: envelope(status, googleStatus, err.message, [
          { '@type': `${GOOGLE_TYPE_PREFIX}ErrorInfo`, reason: 'UPSTREAM_PROJECT_REFUSED', domain: 'nanogate', metadata: { service: 'nanogate' } },
        ]),
      };
    case 'UPSTREAM_ERROR':
      // Google's own answer goes back as Google sent it.
      if (d.upstream?.body) return { status: d.upstream.httpStatus, headers: {}, body: d.upstream.body };
      break;
    default:
      break;
  }
  return { status, headers: {}, body: envelope(status, googleStatus, err.message) };
}
