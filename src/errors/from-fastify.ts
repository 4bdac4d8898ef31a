import { GatewayError } from './gateway-error.js';

interface FrameworkError {
  code?: string;
  statusCode?: number;
  message?: string;
  validation?: unknown;
}

/**
 * Errors raised by Fastify itself (body parsing, limits, routing) become GatewayErrors so each
 * face renders them in its own shape. Anything unrecognised is INTERNAL: logged with its
 * stack, rendered without it.
 */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = (err ?? {}) as FrameworkError;
  switch (e.code) {
    // The client went away mid-body: nobody will read the answer, and it is no fault of ours.
    case 'ECONNRESET':
    case 'ECONNABORTED':
      return new GatewayError('INVALID_ARGUMENT', 'The client closed the connection before its request body was complete.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('INVALID_ARGUMENT', 'The request body does not match its Content-Length.');
    case 'DB_UNAVAILABLE':
      return new GatewayError('STORE_UNAVAILABLE', "The gateway's database is unavailable right now; try again shortly.", { retryAfterMs: 5_000 });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('BODY_TOO_LARGE', 'Request payload size exceeds the limit.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type: send application/json (or multipart/form-data for image edits).');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('INVALID_ARGUMENT', 'The request body is empty; a JSON object is required.');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GatewayError('INVALID_ARGUMENT', `Invalid JSON payload received. ${e.message ?? ''}`.trim());
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Image edits take multipart/form-data.');
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_PARTS_LIMIT':
    case 'FST_FILES_LIMIT':
    case 'FST_FIELDS_LIMIT':
      return new GatewayError(e.code === 'FST_REQ_FILE_TOO_LARGE' ? 'BODY_TOO_LARGE' : 'INVALID_ARGUMENT', e.message ?? 'Multipart limit exceeded.');
    default:
      break;
  }
  if (e.validation) return new GatewayError('INVALID_ARGUMENT', e.message ?? 'Invalid request.');
  if (e instanceof SyntaxError || (typeof e.statusCode === 'number' && e.statusCode === 400)) {
    return new GatewayError('INVALID_ARGUMENT', `Invalid JSON payload received. ${e.message ?? ''}`.trim());
  }
  if (typeof e.statusCode === 'number' && e.statusCode === 413) return new GatewayError('BODY_TOO_LARGE', 'Request payload size exceeds the limit.');
  if (typeof e.statusCode === 'number' && e.statusCode === 415) return new GatewayError('UNSUPPORTED_MEDIA_TYPE', e.message ?? 'Unsupported Content-Type.');
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new GatewayError('INVALID_ARGUMENT', e.message ?? 'Invalid request.');
  }
  return new GatewayError('INTERNAL', 'Internal error. The gateway logged the details under this request id.');
}
