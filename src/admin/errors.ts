import type { ErrorCode, GatewayError } from '../errors/gateway-error.js';
import type { RenderedError } from '../faces/error-handling.js';

const STATUS: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  AUTH_RATE_LIMITED: 429,
  FORBIDDEN: 403,
  MODEL_NOT_FOUND: 404,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INVALID_ARGUMENT: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CONFLICT: 409,
  QUOTA_EXHAUSTED: 429,
  BUDGET_EXCEEDED: 429,
  UPSTREAM_ERROR: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_UNAVAILABLE: 502,
  CONTENT_POLICY: 400,
  NO_IMAGE: 502,
  STORE_UNAVAILABLE: 503,
  LEDGER_BACKLOG_FULL: 503,
  NOT_IMPLEMENTED: 501,
  INTERNAL: 500,
};

/** The admin API's own small shape: `{"error":{"code","message","param"?}}`. */
export function renderAdminError(err: GatewayError): RenderedError {
  const status = STATUS[err.code];
  return {
    status,
    headers: err.details.allow ? { allow: err.details.allow.join(', ') } : {},
    body: { error: { code: err.code.toLowerCase(), message: err.message, ...(err.details.param ? { param: err.details.param } : {}) } },
  };
}
