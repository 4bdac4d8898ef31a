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
