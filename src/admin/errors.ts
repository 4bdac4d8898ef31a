import type { ErrorCode, GatewayError } from '../errors/gateway-error.js';
import type { RenderedError } from '../faces/error-handling.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INVALID_ARGUMENT: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CONFLICT: 409,
  STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** The admin API's own small shape: `{"error":{"code","message","param"?}}`. */
export function renderAdminError(err: GatewayError): RenderedError {
  const status = STATUS[err.code] ?? 500;
  return {
    status,
    headers: err.details.allow ? { allow: err.details.allow.join(', ') } : {},
    body: { error: { code: err.code.toLowerCase(), message: err.message, ...(err.details.param ? { param: err.details.param } : {}) } },
  };
}
