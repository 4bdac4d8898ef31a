import { ERROR_STATUS, type ErrorCode, type GatewayError, type QuotaRefusal, type UpstreamFailure } from '../../errors/gateway-error.js';
import { retryDelayFromGoogle } from '../../gemini/errors.js';
import type { GoogleErrorBody } from '../../gemini/types.js';
import { DEFAULT_COOLDOWN_MS } from '../../quota/cooldown.js';

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export interface RenderedOpenAIError {
  status: number;
  headers: Record<string, string>;
  body: OpenAIErrorBody;
}

const INTERNAL_MESSAGE = 'The server had an error while processing your request. Sorry about that!';
/** The OpenAI SDK waits on retry-after only up to 60 s; past that its retries are wasted calls. */
const SDK_MAX_RETRY_WAIT_MS = 60_000;

/** OpenAI's type and code per gateway code, for codes whose rendering needs no details (the HTTP status is ERROR_STATUS's). */
const PLAIN: Record<ErrorCode, [type: string, code: string | null]> = {
  UNAUTHENTICATED: ['invalid_request_error', 'invalid_api_key'],
  AUTH_RATE_LIMITED: ['requests', 'rate_limit_exceeded'],
  FORBIDDEN: ['invalid_request_error', null],
  MODEL_NOT_FOUND: ['invalid_request_error', 'model_not_found'],
  ROUTE_NOT_FOUND: ['invalid_request_error', null],
  NOT_FOUND: ['invalid_request_error', null],
  METHOD_NOT_ALLOWED: ['invalid_request_error', null],
  INVALID_ARGUMENT: ['invalid_request_error', null],
  BODY_TOO_LARGE: ['invalid_request_error', null],
  HEADERS_TOO_LARGE: ['invalid_request_error', null],
  REQUEST_TIMEOUT: ['invalid_request_error', null],
  UNSUPPORTED_MEDIA_TYPE: ['invalid_request_error', null],
  CONFLICT: ['invalid_request_error', null],
  QUOTA_EXHAUSTED: ['requests', 'rate_limit_exceeded'],
  BUDGET_EXCEEDED: ['insufficient_quota', 'insufficient_quota'],
  UPSTREAM_ERROR: ['server_error', null],
  UPSTREAM_TIMEOUT: ['server_error', null],
  UPSTREAM_UNAVAILABLE: ['server_error', null],
  UPSTREAM_PROJECT_REFUSED: ['server_error', null],
  CONTENT_POLICY: ['invalid_request_error', 'content_policy_violation'],
  NO_IMAGE: ['server_error', null],
  STORE_UNAVAILABLE: ['server_error', null],
  LEDGER_BACKLOG_FULL: ['server_error', null],
  NOT_IMPLEMENTED: ['invalid_request_error', null],
  INTERNAL: ['server_error', null],
};

/**
 * Go's time.Duration.String() at millisecond precision, the format of OpenAI's
 * `x-ratelimit-reset-*` headers: "120ms", "1.5s", "12s", "1m30s", "6m0s", "1h0m0s".
 */
export function formatOpenAIDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const secondsMs = total % 60_000;
  const whole = Math.floor(secondsMs / 1000);
  const fraction = secondsMs % 1000;
  const seconds = fraction ? `${whole}.${String(fraction).padStart(3, '0').replace(/0+$/, '')}` : String(whole);
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/** OpenAI's request-limit headers, for successful answers as well as refusals. */
export function rateLimitHeaders(info: { limit: number; remaining: number; resetMs: number }): Record<string, string> {
  return {
    'x-ratelimit-limit-requests': String(info.limit),
    'x-ratelimit-remaining-requests': String(Math.max(0, info.remaining)),
    'x-ratelimit-reset-requests': formatOpenAIDuration(info.resetMs),
  };
}

function retryHeaders(ms: number): Record<string, string> {
  const waitMs = Math.max(0, Math.ceil(ms));
  return {
    'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))),
    'retry-after-ms': String(waitMs),
    // The SDK would otherwise retry twice within seconds against a limit that frees in hours.
    ...(waitMs > SDK_MAX_RETRY_WAIT_MS ? { 'x-should-retry': 'false' } : {}),
  };
}

function body(message: string, type: string, param: string | null, code: string | null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

const DIMENSION_NAMES: Record<QuotaRefusal['dimension'], string> = {
  rpm: 'requests per minute (RPM)',
  tpm: 'input tokens per minute (TPM)',
  rpd: 'requests per day (RPD)',
  ipm: 'images per minute (IPM)',
  cooldown: 'requests (Google asked to slow down)',
  batchTokens: 'enqueued batch tokens',
};

function renderQuota(q: QuotaRefusal): RenderedOpenAIError {
  const holder = q.scope === 'key' ? `key ${q.keyId ?? '?'} of tenant ${q.tenantId}` : q.scope === 'tenant' ? `tenant ${q.tenantId}` : `project ${q.projectId}`;
  const message =
    q.dimension === 'cooldown'
      ? `Rate limit reached for ${q.model} in ${holder}: Google reported its quota exhausted. Please try again in ${formatOpenAIDuration(q.retryAfterMs)}.`
      : `Rate limit reached for ${q.model} in ${holder} on ${DIMENSION_NAMES[q.dimension]}: Limit ${q.limit}, Used ${q.used}. ` +
        `Please try again in ${formatOpenAIDuration(q.retryAfterMs)}.`;
  const limitHeaders =
    q.dimension === 'tpm'
      ? {
          'x-ratelimit-limit-tokens': String(q.limit),
          'x-ratelimit-remaining-tokens': String(Math.max(0, q.limit - q.used)),
          'x-ratelimit-reset-tokens': formatOpenAIDuration(q.retryAfterMs),
        }
      : rateLimitHeaders({ limit: q.limit, remaining: q.limit - q.used, resetMs: q.retryAfterMs });
  return {
    status: ERROR_STATUS.QUOTA_EXHAUSTED,
    headers: { ...retryHeaders(q.retryAfterMs), ...limitHeaders },
    body: body(message, q.dimension === 'tpm' ? 'tokens' : 'requests', null, 'rate_limit_exceeded'),
  };
}

function asGoogleError(value: unknown): GoogleErrorBody | undefined {
  const error = value && typeof value === 'object' ? (value as { error?: unknown }).error : undefined;
  if (!error || typeof error !== 'object' || typeof (error as { message?: unknown }).message !== 'string') return undefined;
  const details = (error as { details?: unknown }).details;
  return Array.isArray(details) || details === undefined ? (value as GoogleErrorBody) : undefined;
}

/**
 * Google's answer in OpenAI's terms. Refusals of the gateway's own project (its key, a
 * permission, its prepaid credit) never get here: the relay turns them into
 * UPSTREAM_PROJECT_REFUSED, a 503 that blames neither the client's key nor its request.
 */
function renderUpstream(u: UpstreamFailure): RenderedOpenAIError {
  const google = `Google returned ${u.httpStatus} ${u.googleStatus}: ${u.message}`;
  if (u.httpStatus === 429) {
    const envelope = asGoogleError(u.body) ?? { error: { code: u.httpStatus, message: u.message, status: u.googleStatus } };
    const ms = u.retryAfterMs ?? retryDelayFromGoogle(envelope) ?? DEFAULT_COOLDOWN_MS;
    return { status: 429, headers: retryHeaders(ms), body: body(google, 'requests', null, 'rate_limit_exceeded') };
  }
  if (u.httpStatus === 400 && u.googleStatus === 'INVALID_ARGUMENT') {
    return { status: 400, headers: {}, body: body(google, 'invalid_request_error', null, 'invalid_value') };
  }
  if (u.httpStatus === 404) return { status: 404, headers: {}, body: body(google, 'invalid_request_error', null, null) };
  if (u.httpStatus === 503) return { status: 503, headers: {}, body: body(google, 'server_error', null, null) };
  if (u.httpStatus === 504) return { status: 504, headers: {}, body: body(google, 'server_error', null, null) };
  // 500 and everything else (FAILED_PRECONDITION such as an unsupported location or billing, 409, 501…):
  // a failure of the upstream the client cannot fix by changing its request.
  return { status: 502, headers: {}, body: body(google, 'server_error', null, null) };
}

/**
 * OpenAI's `code` for a 400, from the phrasing this face's parsers share with OpenAI
 * ("Missing required parameter: 'prompt'.", "Invalid type for 'n': …", "Invalid value: …").
 */
function invalidArgumentCode(message: string, param: string | undefined): string | null {
  if (message.startsWith('Missing required parameter')) return 'missing_required_parameter';
  if (message.startsWith('Invalid type')) return 'invalid_type';
  return param ? 'invalid_value' : null;
}

/** The one renderer from GatewayError to OpenAI's error shape (contract §6, §7, §8). */
export function renderOpenAIError(err: GatewayError): RenderedOpenAIError {
  const status = ERROR_STATUS[err.code];
  const [type, code] = PLAIN[err.code];
  const d = err.details;
  const param = d.param ?? null;
  switch (err.code) {
    case 'INVALID_ARGUMENT':
      return { status, headers: {}, body: body(err.message, type, param, invalidArgumentCode(err.message, d.param)) };
    case 'MODEL_NOT_FOUND': {
      const served = d.servedModels ?? [];
      const listed = served.length === 0 || served.every((name) => err.message.includes(name));
      const message = listed ? err.message : `${err.message} Served models: ${served.join(', ')}.`;
      return { status, headers: {}, body: body(message, type, d.param ?? 'model', code) };
    }
    case 'METHOD_NOT_ALLOWED':
      return { status, headers: d.allow?.length ? { allow: d.allow.join(', ') } : {}, body: body(err.message, type, null, code) };
    case 'AUTH_RATE_LIMITED':
      return { status, headers: retryHeaders(d.retryAfterMs ?? 60_000), body: body(err.message, type, null, code) };
    case 'QUOTA_EXHAUSTED':
      if (d.quota) return renderQuota(d.quota);
      return { status, headers: retryHeaders(d.retryAfterMs ?? 60_000), body: body(err.message, type, null, code) };
    case 'BUDGET_EXCEEDED':
      // Retrying cannot help before the budget period rolls over. The message is the budget
      // service's, the same on both faces: what the budget is, what is spent and held, what
      // this call needs, and when it resets.
      return { status, headers: { 'x-should-retry': 'false' }, body: body(err.message, type, null, code) };
    case 'UPSTREAM_PROJECT_REFUSED':
      // The SDK retries a 503 twice within seconds; nothing changes that fast on the operator's side.
      return { status, headers: { 'x-should-retry': 'false' }, body: body(err.message, type, null, code) };
    case 'UPSTREAM_ERROR':
      if (d.upstream) return renderUpstream(d.upstream);
      return { status, headers: {}, body: body(err.message, type, null, code) };
    case 'CONTENT_POLICY':
      return { status, headers: {}, body: body(err.message, type, param, code) };
    case 'NO_IMAGE':
      // Google answered (and billed) without an image: IMAGE_OTHER, NO_IMAGE, text alone. The
      // OpenAI SDK retries a 502 twice by itself, each retry another paid call (#14.7); whether
      // to ask again is the caller's decision, so the SDK is told not to.
      return { status, headers: { 'x-should-retry': 'false' }, body: body(err.message, type, null, code) };
    case 'STORE_UNAVAILABLE':
    case 'LEDGER_BACKLOG_FULL':
      return { status, headers: d.retryAfterMs !== undefined ? retryHeaders(d.retryAfterMs) : {}, body: body(err.message, type, null, code) };
    case 'INTERNAL':
      // An internal message may carry a stack-trace-ish detail; the client gets the plain sentence.
      return { status, headers: {}, body: body(INTERNAL_MESSAGE, type, null, code) };
    default:
      return { status, headers: {}, body: body(err.message, type, param, code) };
  }
}
