/**
 * Every failure the gateway decides on itself is a GatewayError with a code from this closed
 * set. Faces render codes into their own wire shape (Google's envelope, OpenAI's error);
 * nothing else in the code base formats an error body.
 */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'AUTH_RATE_LIMITED',
  'FORBIDDEN',
  'MODEL_NOT_FOUND',
  'ROUTE_NOT_FOUND',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'INVALID_ARGUMENT',
  'BODY_TOO_LARGE',
  'HEADERS_TOO_LARGE',
  'REQUEST_TIMEOUT',
  'UNSUPPORTED_MEDIA_TYPE',
  'CONFLICT',
  'QUOTA_EXHAUSTED',
  'BUDGET_EXCEEDED',
  'UPSTREAM_ERROR',
  'UPSTREAM_TIMEOUT',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_PROJECT_REFUSED',
  'CONTENT_POLICY',
  'NO_IMAGE',
  'STORE_UNAVAILABLE',
  'LEDGER_BACKLOG_FULL',
  'NOT_IMPLEMENTED',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Each code's HTTP status, written once (fastify's errors.js): every face answers a code with
 * this status and renders only the body and headers. The exception is a Google error relayed
 * or translated under UPSTREAM_ERROR, whose status follows Google's (the faces' renderUpstream).
 */
export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = Object.freeze({
  UNAUTHENTICATED: 401,
  AUTH_RATE_LIMITED: 429,
  FORBIDDEN: 403,
  MODEL_NOT_FOUND: 404,
  ROUTE_NOT_FOUND: 404,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  INVALID_ARGUMENT: 400,
  BODY_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  REQUEST_TIMEOUT: 408,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CONFLICT: 409,
  QUOTA_EXHAUSTED: 429,
  BUDGET_EXCEEDED: 429,
  UPSTREAM_ERROR: 502,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_UNAVAILABLE: 502,
  // Google refused the gateway's own project (its key, a permission, its prepaid credit): the
  // operator's to fix, so not the tenant's 400/403/402; nothing the tenant retries will help (#12).
  UPSTREAM_PROJECT_REFUSED: 503,
  CONTENT_POLICY: 400,
  NO_IMAGE: 502,
  STORE_UNAVAILABLE: 503,
  LEDGER_BACKLOG_FULL: 503,
  NOT_IMPLEMENTED: 501,
  INTERNAL: 500,
});

/** Which limit refused a request: enough for either face to render Google's or OpenAI's 429. */
export interface QuotaRefusal {
  /** 'key': the calling key's own limits (#13.3). */
  scope: 'project' | 'tenant' | 'key';
  /** 'batchTokens': Google's Batch API limit on enqueued tokens (#16). */
  dimension: 'rpm' | 'tpm' | 'rpd' | 'ipm' | 'cooldown' | 'batchTokens';
  limit: number;
  used: number;
  /** Milliseconds until enough capacity frees for this request. */
  retryAfterMs: number;
  model: string;
  projectId: string;
  tenantId: string;
  /** The calling key, when its own limits refused. */
  keyId?: string;
  tier: string;
}

/** Which budget refused a call, and why (#13.2): money as bigint nano-USD (sums of a period). */
export interface BudgetRefusal {
  period: 'daily' | 'monthly';
  /** Whose budget: the tenant's, or the calling key's own. */
  scope: 'tenant' | 'key';
  tenantId: string;
  /** The key whose budget refused (scope 'key'). */
  keyId?: string;
  limitNanoUsd: bigint;
  /** Settled spend of the period. */
  spentNanoUsd: bigint;
  /** Held by calls in flight. */
  heldNanoUsd: bigint;
  /** What this call would hold. */
  requestedNanoUsd: bigint;
  resetAtMs: number;
}

/** A Google error answer the gateway relays or translates. */
export interface UpstreamFailure {
  httpStatus: number;
  googleStatus: string;
  message: string;
  retryAfterMs?: number;
  /** Google's body, parsed, when it was a JSON envelope. */
  body?: unknown;
}

export interface ErrorDetails {
  /** The request parameter at fault (OpenAI's `param`, Google's BadRequest field). */
  param?: string;
  quota?: QuotaRefusal;
  budget?: BudgetRefusal;
  upstream?: UpstreamFailure;
  /** Served model names, listed on MODEL_NOT_FOUND. */
  servedModels?: readonly string[];
  /** UNAUTHENTICATED for a known key past its expiry (#13.3), not a wrong one. */
  keyExpired?: boolean;
  /** Allowed methods, for METHOD_NOT_ALLOWED. */
  allow?: readonly string[];
  retryAfterMs?: number;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.details = details;
  }
}
