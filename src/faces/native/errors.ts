import { GatewayError, type ErrorCode } from '../../errors/gateway-error.js';
import { formatDuration } from '../../gemini/errors.js';
import { GOOGLE_TYPE_PREFIX, type GoogleErrorBody } from '../../gemini/types.js';
import { quotaIdFor, quotaMetricFor } from '../../quota/quota-ids.js';
import { formatUsd } from '../../usage/pricing.js';

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: GoogleErrorBody | unknown;
}

const RATE_LIMIT_HELP = {
  '@type': `${GOOGLE_TYPE_PREFIX}Help`,
  links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
};

/** HTTP status and Google status per code, for the codes rendered without extra details. */
const PLAIN: Record<ErrorCode, [number, string]> = {
  UNAUTHENTICATED: [401, 'UNAUTHENTICATED'],
  AUTH_RATE_LIMITED: [429, 'RESOURCE_EXHAUSTED'],
  FORBIDDEN: [403, 'PERMISSION_DENIED'],
  MODEL_NOT_FOUND: [404, 'NOT_FOUND'],
  ROUTE_NOT_FOUND: [404, 'NOT_FOUND'],
  NOT_FOUND: [404, 'NOT_FOUND'],
  METHOD_NOT_ALLOWED: [405, 'UNIMPLEMENTED'],
  INVALID_ARGUMENT: [400, 'INVALID_ARGUMENT'],
  BODY_TOO_LARGE: [413, 'INVALID_ARGUMENT'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'INVALID_ARGUMENT'],
  CONFLICT: [409, 'ALREADY_EXISTS'],
  QUOTA_EXHAUSTED: [429, 'RESOURCE_EXHAUSTED'],
  BUDGET_EXCEEDED: [429, 'RESOURCE_EXHAUSTED'],
  UPSTREAM_ERROR: [502, 'UNAVAILABLE'],
  UPSTREAM_TIMEOUT: [504, 'DEADLINE_EXCEEDED'],
  UPSTREAM_UNAVAILABLE: [502, 'UNAVAILABLE'],
  CONTENT_POLICY: [400, 'INVALID_ARGUMENT'],
  NO_IMAGE: [502, 'UNAVAILABLE'],
  STORE_UNAVAILABLE: [503, 'UNAVAILABLE'],
  LEDGER_BACKLOG_FULL: [503, 'UNAVAILABLE'],
  NOT_IMPLEMENTED: [501, 'UNIMPLEMENTED'],
  INTERNAL: [500, 'INTERNAL'],
};

function envelope(code: number, status: string, message: string, details?: unknown[]): GoogleErrorBody {
  return { error: { code, message, status, ...(details?.length ? { details: details as GoogleErrorBody['error']['details'] } : {}) } };
}

function retryAfterHeader(ms: number): Record<string, string> {
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))) };
}

/** The one renderer from GatewayError to Google's envelope (contract §5, §7, §8). */
export function renderGoogleError(err: GatewayError): RenderedError {
  const [status, googleStatus] = PLAIN[err.code];
  const d = err.details;
  switch (err.code) {
    case 'UNAUTHENTICATED':
      return {
        status,
        headers: {},
        body: envelope(status, googleStatus, err.message, [
          { '@type': `${GOOGLE_TYPE_PREFIX}ErrorInfo`, reason: 'API_KEY_INVALID', domain: 'nanogate', metadata: { service: 'nanogate' } },
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
          metadata: {
            tenant: b.tenantId,
            period: b.period,
            limitUsd: formatUsd(b.limitNanoUsd),
            spentUsd: formatUsd(b.spentNanoUsd),
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
    case 'UPSTREAM_ERROR':
      // Google's own answer goes back as Google sent it.
      if (d.upstream?.body) return { status: d.upstream.httpStatus, headers: {}, body: d.upstream.body };
      break;
    default:
      break;
  }
  return { status, headers: {}, body: envelope(status, googleStatus, err.message) };
}
