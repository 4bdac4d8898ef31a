import { GOOGLE_TYPE_PREFIX, type GoogleErrorBody } from './types.js';

/** Parses a protobuf Duration string ("37s", "0.5s", "11.769242877s") into ms. */
export function parseDurationMs(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

/** Formats ms as a protobuf Duration string, as Google writes RetryInfo.retryDelay. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return `${Number.isInteger(seconds) ? seconds : Number(seconds.toFixed(3))}s`;
}

/** Google's error envelope from a body, or undefined when it is not one. */
export function parseGoogleError(body: Buffer | string): GoogleErrorBody | undefined {
  try {
    const parsed: unknown = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    // The OpenAI-compat layer wraps the envelope in an array (openai-images.md §6).
    const candidate = Array.isArray(parsed) ? parsed[0] : parsed;
    if (candidate && typeof candidate === 'object' && 'error' in candidate) {
      const err = (candidate as { error: unknown }).error;
      if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
        return candidate as GoogleErrorBody;
      }
    }
  } catch {
    // not JSON: an HTML page from a proxy, a truncated body
  }
  return undefined;
}

/**
 * How long Google asks us to wait: RetryInfo.retryDelay, else "Please retry in Xs" in the
 * message (limits.md §5), else the Retry-After header.
 */
export function retryDelayFromGoogle(body: GoogleErrorBody | undefined, retryAfterHeader?: string | string[]): number | undefined {
  for (const d of body?.error.details ?? []) {
    if (d['@type'] === `${GOOGLE_TYPE_PREFIX}RetryInfo`) {
      const ms = parseDurationMs(d['retryDelay']);
      if (ms !== undefined) return ms;
    }
  }
  const m = body ? /Please retry in (\d+(?:\.\d+)?)(ms|s)\b/.exec(body.error.message) : null;
  if (m) return Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : 1000));
  const header = Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader;
  if (header && /^\d+(\.\d+)?$/.test(header.trim())) return Math.round(Number(header) * 1000);
  return undefined;
}

/** Why Google refused the gateway's own project rather than the request (#12). */
export type ProjectRefusalReason = 'API_KEY_INVALID' | 'PERMISSION_DENIED' | 'UNAUTHENTICATED' | 'PREPAYMENT_DEPLETED';

export interface ProjectRefusal {
  reason: ProjectRefusalReason;
  httpStatus: number;
  googleStatus: string;
  /** Google's message: for the operator's log, never for the tenant. */
  message: string;
}

/** Google's wording when prepaid credit runs out (models-2026-11.md §4: 402, or 429 on older fronts). */
const PREPAY_DEPLETED = /prepayment credits? (?:are|is) depleted/i;

/**
 * Whether a Google error answer refuses the project whose key the gateway sent, not the request:
 * a key Google does not accept (400 with ErrorInfo reason `API_KEY_*`: invalid, expired), a key
 * or project that may not call the API (403: API disabled, key restricted, key reported leaked),
 * credentials refused (401), or prepaid credit used up (402; a 429 with the same message before
 * Google's switch). No change to the request helps, so none of these is the tenant's to see.
 * A 403 about a `files/…` resource is the request's (a file of another project) and stays relayed.
 */
export function projectRefusal(httpStatus: number, body: GoogleErrorBody | undefined): ProjectRefusal | undefined {
  const googleStatus = body?.error.status ?? 'UNKNOWN';
  const message = body?.error.message ?? `HTTP ${httpStatus}`;
  const refusal = (reason: ProjectRefusalReason): ProjectRefusal => ({ reason, httpStatus, googleStatus, message });
  if (httpStatus === 402 || (httpStatus === 429 && PREPAY_DEPLETED.test(message))) return refusal('PREPAYMENT_DEPLETED');
  if (httpStatus === 401) return refusal('UNAUTHENTICATED');
  if (httpStatus === 403 && !/\bfiles\//.test(message)) return refusal('PERMISSION_DENIED');
  const keyReason = (body?.error.details ?? []).some(
    (d) => d['@type'] === `${GOOGLE_TYPE_PREFIX}ErrorInfo` && typeof d['reason'] === 'string' && d['reason'].startsWith('API_KEY_'),
  );
  if (httpStatus === 400 && keyReason) return refusal('API_KEY_INVALID');
  return undefined;
}
