import { ERROR_STATUS, type GatewayError } from '../errors/gateway-error.js';
import type { RenderedError } from '../faces/error-handling.js';

/** The admin API's own small shape: `{"error":{"code","message","param"?}}`. */
export function renderAdminError(err: GatewayError): RenderedError {
  const status = ERROR_STATUS[err.code];
  return {
    status,
    headers: err.details.allow ? { allow: err.details.allow.join(', ') } : {},
    body: { error: { code: err.code.toLowerCase(), message: err.message, ...(err.details.param ? { param: err.details.param } : {}) } },
  };
}
