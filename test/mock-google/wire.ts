/**
 * Google's JSON formatting (google-api.md §3, §5, §8): non-streaming bodies pretty-printed with a
 * 2-space indent and a trailing newline, SSE events as compact JSON with `": "` after keys and a
 * bare `,` between members, each event ended by CRLF CRLF, and `<` `>` `&` inside strings
 * written as \u003c \u003e \u0026.
 *
 * Image data never goes through JSON.stringify: answers carry IMAGE_SLOT in its place, and
 * `toWire` splices the prebuilt base64 bytes in, so a 20 MB answer costs no string copies.
 */
import type { ImageAsset } from './images.js';

/** Stands in for the image's base64 in an answer object. It needs no JSON escaping. */
export const IMAGE_SLOT = '@@mock-google-image-data@@';

export function escapeLikeGoogle(json: string): string {
  return json.replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function prettyJson(value: unknown): string {
  return `${escapeLikeGoogle(JSON.stringify(value, null, 2))}\n`;
}

/** An array element of the non-SSE stream: pretty-printed, no trailing newline. */
export function prettyElement(value: unknown): string {
  return escapeLikeGoogle(JSON.stringify(value, null, 2));
}

export function compactJson(value: unknown): string {
  const write = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
    if (typeof v === 'object' && v !== null) {
      const members: string[] = [];
      for (const [key, member] of Object.entries(v)) {
        if (member !== undefined) members.push(`${JSON.stringify(key)}: ${write(member)}`);
      }
      return `{${members.join(',')}}`;
    }
    return JSON.stringify(v);
  };
  return escapeLikeGoogle(write(value));
}

export function sseEvent(value: unknown): string {
  return `data: ${compactJson(value)}\r\n\r\n`;
}

/** Serialized text to bytes, with every IMAGE_SLOT replaced by the image's prebuilt base64. */
export function toWire(text: string, image: ImageAsset | undefined): Buffer[] {
  if (image === undefined || !text.includes(IMAGE_SLOT)) return [Buffer.from(text, 'utf8')];
  const out: Buffer[] = [];
  text.split(IMAGE_SLOT).forEach((piece, i) => {
    if (i > 0) out.push(image.wire);
    out.push(Buffer.from(piece, 'utf8'));
  });
  return out;
}

export interface GoogleError {
  error: { code: number; message: string; status: string; details?: Array<Record<string, unknown>> };
}

export function googleError(code: number, status: string, message: string, details?: Array<Record<string, unknown>>): GoogleError {
  return { error: details === undefined ? { code, message, status } : { code, message, status, details } };
}

const RPC = 'type.googleapis.com/google.rpc.';

/** Canonical status and a typical message per HTTP code, for faults that name only a status. */
const STATUS_BY_CODE: Readonly<Record<number, readonly [string, string]>> = {
  400: ['INVALID_ARGUMENT', 'Request contains an invalid argument.'],
  401: ['UNAUTHENTICATED', 'Request had invalid authentication credentials.'],
  403: ['PERMISSION_DENIED', 'The caller does not have permission'],
  404: ['NOT_FOUND', 'Requested entity was not found.'],
  409: ['ABORTED', 'The operation was aborted.'],
  429: ['RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'],
  499: ['CANCELLED', 'The operation was cancelled.'],
  500: ['INTERNAL', 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting'],
  501: ['UNIMPLEMENTED', 'Operation is not implemented, or supported, or enabled.'],
  503: ['UNAVAILABLE', 'The model is overloaded. Please try again later.'],
  504: ['DEADLINE_EXCEEDED', 'Deadline expired before operation could complete.'],
};

export function errorForStatus(code: number): GoogleError {
  const [status, message] = STATUS_BY_CODE[code] ?? ['UNKNOWN', 'Unknown error.'];
  return googleError(code, status, message);
}

export const errors = {
  missingKey: () =>
    googleError(
      403,
      'PERMISSION_DENIED',
      'Method doesn\'t allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.',
    ),
  badKey: () =>
    googleError(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', [
      { '@type': `${RPC}ErrorInfo`, reason: 'API_KEY_INVALID', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } },
      { '@type': `${RPC}LocalizedMessage`, locale: 'en-US', message: 'API key not valid. Please pass a valid API key.' },
    ]),
  /** An OAuth bearer token the mock cannot verify: Google's answer to a bad access token. */
  badBearer: () =>
    googleError(
      401,
      'UNAUTHENTICATED',
      'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      [{ '@type': `${RPC}ErrorInfo`, reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED', domain: 'googleapis.com', metadata: { service: 'generativelanguage.googleapis.com' } }],
    ),
  modelNotFound: (model: string, version: string, method: string) =>
    googleError(
      404,
      'NOT_FOUND',
      `models/${model} is not found for API version ${version}, or is not supported for ${method}. Call ListModels to see the list of available models and their supported methods.`,
    ),
  methodNotFound: () => googleError(404, 'NOT_FOUND', 'Method not found.'),
  invalidJson: (reason: string) => {
    const message = `Invalid JSON payload received. ${reason}`;
    return googleError(400, 'INVALID_ARGUMENT', message, [{ '@type': `${RPC}BadRequest`, fieldViolations: [{ description: message }] }]);
  },
  /** Field-level check failures (google-api.md §8: exact texts for imageSize/aspectRatio unverified). */
  invalidArgument: () => googleError(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'),
  missingContents: (request: string) => googleError(400, 'INVALID_ARGUMENT', `* ${request}.contents: contents is not specified\n`),
  invalidPageToken: () => googleError(400, 'INVALID_ARGUMENT', 'Invalid page token.'),
  internal: () => errorForStatus(500),
  unavailable: () => errorForStatus(503),
  deadline: () => errorForStatus(504),
};

export interface RateLimitOptions {
  model: string;
  retryDelay?: string;
  quotaId?: string;
}

/**
 * The 429 as captured (limits.md §5): QuotaFailure, Help, then RetryInfo. The metric and limit
 * follow the quotaId's dimension (…PerDay…, …InputTokens…) and tier suffix.
 */
export function rateLimitError(opts: RateLimitOptions): GoogleError {
  const quotaId = opts.quotaId ?? 'GenerateRequestsPerMinutePerProjectPerModel-PaidTier';
  const tierMatch = /-(FreeTier|PaidTier\d?)$/.exec(quotaId)?.[1];
  const tier = tierMatch === 'FreeTier' ? 'free_tier' : tierMatch === undefined || tierMatch === 'PaidTier' ? 'paid_tier' : `paid_tier_${tierMatch.slice(8)}`;
  const tokens = quotaId.includes('InputTokens');
  const metric = `generativelanguage.googleapis.com/generate_content_${tier}_${tokens ? 'input_token_count' : 'requests'}`;
  const free = tier === 'free_tier';
  const limit = tokens ? (free ? 250000 : 1000000) : quotaId.includes('PerDay') ? (free ? 100 : 250) : free ? 10 : 20;
  const retry = opts.retryDelay === undefined ? '' : `\nPlease retry in ${opts.retryDelay.replace(/s$/, '')}s.`;
  const message =
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/rate-limit. ' +
    `\n* Quota exceeded for metric: ${metric}, limit: ${limit}, model: ${opts.model}${retry}`;
  const details: Array<Record<string, unknown>> = [
    {
      '@type': `${RPC}QuotaFailure`,
      violations: [{ quotaMetric: metric, quotaId, quotaDimensions: { location: 'global', model: opts.model }, quotaValue: String(limit) }],
    },
    { '@type': `${RPC}Help`, links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
  ];
  if (opts.retryDelay !== undefined) details.push({ '@type': `${RPC}RetryInfo`, retryDelay: opts.retryDelay });
  return googleError(429, 'RESOURCE_EXHAUSTED', message, details);
}
