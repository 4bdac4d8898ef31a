import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDurationMs, parseGoogleError, projectRefusal, retryDelayFromGoogle } from '../../src/gemini/errors.js';
import type { GoogleErrorBody } from '../../src/gemini/types.js';

const RPC = 'type.googleapis.com/google.rpc.';

describe('parseDurationMs: protobuf Duration strings (RetryInfo.retryDelay)', () => {
  const cases: Array<[unknown, number | undefined]> = [
    ['37s', 37_000],
    ['0s', 0],
    ['0.5s', 500],
    ['11.769242877s', 11_769],
    ['  2s ', 2_000],
    ['37', undefined],
    ['1m', undefined],
    ['-1s', undefined],
    ['s', undefined],
    ['', undefined],
    [37, undefined],
    [undefined, undefined],
    [null, undefined],
  ];
  for (const [value, ms] of cases) {
    it(`reads ${JSON.stringify(value)} as ${ms} ms`, () => expect(parseDurationMs(value)).toBe(ms));
  }
});

describe('formatDuration: as Google writes retryDelay', () => {
  const cases: Array<[number, string]> = [
    [37_000, '37s'],
    [12_500, '12.5s'],
    [1, '0.001s'],
    [0, '0s'],
    [-5, '0s'],
    [11_769.5, '11.77s'],
  ];
  for (const [ms, text] of cases) it(`writes ${ms} ms as ${text}`, () => expect(formatDuration(ms)).toBe(text));

  it('reads back every whole number of milliseconds it writes', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10 * 86_400_000 }), (ms) => parseDurationMs(formatDuration(ms)) === ms));
  });
});

const envelope: GoogleErrorBody = { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } };

describe("parseGoogleError: Google's envelope from an error body", () => {
  const cases: Array<[string, string | Buffer, GoogleErrorBody | undefined]> = [
    ['an envelope', JSON.stringify(envelope), envelope],
    ['an envelope as bytes', Buffer.from(JSON.stringify(envelope)), envelope],
    ['an envelope pretty-printed, as Google sends it', `${JSON.stringify(envelope, null, 2)}\n`, envelope],
    // The OpenAI-compatibility layer wraps it in an array (openai-images.md §6).
    ['an envelope in an array', JSON.stringify([envelope]), envelope],
    ['an HTML page from a proxy', '<!DOCTYPE html><title>Error 502</title>', undefined],
    ['a truncated body', JSON.stringify(envelope).slice(0, 30), undefined],
    ['an error without a message', '{"error":{"code":400,"status":"INVALID_ARGUMENT"}}', undefined],
    ['an error that is a string', '{"error":"bad"}', undefined],
    ['another JSON object', '{"candidates":[]}', undefined],
    ['an empty array', '[]', undefined],
    ['null', 'null', undefined],
    ['nothing', '', undefined],
  ];
  for (const [name, body, expected] of cases) {
    it(`reads ${name}`, () => expect(parseGoogleError(body)).toEqual(expected));
  }
});

function rateLimited(message: string, details: Array<Record<string, unknown>> = []): GoogleErrorBody {
  return { error: { code: 429, message, status: 'RESOURCE_EXHAUSTED', details } as GoogleErrorBody['error'] };
}

describe('retryDelayFromGoogle: how long Google asks us to wait (limits.md §5)', () => {
  const retryInfo = (retryDelay: unknown) => ({ '@type': `${RPC}RetryInfo`, retryDelay });
  const cases: Array<[string, GoogleErrorBody | undefined, string | string[] | undefined, number | undefined]> = [
    ['RetryInfo', rateLimited('Quota exceeded.', [retryInfo('37s')]), undefined, 37_000],
    ['RetryInfo after QuotaFailure and Help', rateLimited('q', [{ '@type': `${RPC}QuotaFailure` }, { '@type': `${RPC}Help` }, retryInfo('11.769242877s')]), undefined, 11_769],
    ['RetryInfo over the message and the header', rateLimited('Please retry in 5s.', [retryInfo('37s')]), '60', 37_000],
    ['the message when RetryInfo cannot be read', rateLimited('Please retry in 5s.', [retryInfo('soon')]), undefined, 5_000],
    ['a retryDelay on another detail type, ignored', rateLimited('q', [{ '@type': `${RPC}Help`, retryDelay: '9s' }]), undefined, undefined],
    ['"Please retry in Xs" in the message', rateLimited('Quota exceeded.\nPlease retry in 2.5s.'), undefined, 2_500],
    ['"Please retry in Xms" in the message', rateLimited('Please retry in 500ms.'), undefined, 500],
    ['the message over the header', rateLimited('Please retry in 3s.'), '60', 3_000],
    ['Retry-After in seconds', rateLimited('Quota exceeded.'), '30', 30_000],
    ['Retry-After with a fraction', undefined, '1.5', 1_500],
    ['the first of repeated Retry-After headers', undefined, ['5', '9'], 5_000],
    ['Retry-After as an HTTP date, not honoured', undefined, 'Wed, 21 Oct 2026 07:28:00 GMT', undefined],
    ['nothing at all', rateLimited('Quota exceeded.'), undefined, undefined],
    ['no body and no header', undefined, undefined, undefined],
  ];
  for (const [name, body, header, ms] of cases) {
    it(`takes ${name}: ${ms} ms`, () => expect(retryDelayFromGoogle(body, header)).toBe(ms));
  }
});

describe("projectRefusal: Google refusing the gateway's own project, not the request (#12)", () => {
  const envelope = (code: number, status: string, message: string, details?: GoogleErrorBody['error']['details']): GoogleErrorBody => ({
    error: { code, status, message, ...(details ? { details } : {}) },
  });
  const keyInfo = (reason: string) => [{ '@type': `${RPC}ErrorInfo`, reason, domain: 'googleapis.com' }];
  const cases: Array<[string, number, GoogleErrorBody | undefined, string | undefined]> = [
    ['400 API_KEY_INVALID (google-api.md)', 400, envelope(400, 'INVALID_ARGUMENT', 'API key not valid. Please pass a valid API key.', keyInfo('API_KEY_INVALID')), 'API_KEY_INVALID'],
    ['400 API_KEY_EXPIRED', 400, envelope(400, 'INVALID_ARGUMENT', 'API key expired. Please renew the API key.', keyInfo('API_KEY_EXPIRED')), 'API_KEY_INVALID'],
    ['403 without a key', 403, envelope(403, 'PERMISSION_DENIED', "Method doesn't allow unregistered callers (callers without established identity)."), 'PERMISSION_DENIED'],
    ['403 API disabled', 403, envelope(403, 'PERMISSION_DENIED', 'Generative Language API has not been used in project 123 before or it is disabled.', keyInfo('SERVICE_DISABLED')), 'PERMISSION_DENIED'],
    ['403 with no body', 403, undefined, 'PERMISSION_DENIED'],
    ['401 UNAUTHENTICATED', 401, envelope(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'), 'UNAUTHENTICATED'],
    [
      '402 prepay depleted (models-2026-11.md §4)',
      402,
      envelope(402, 'RESOURCE_EXHAUSTED', 'Your prepayment credits are depleted. Please go to AI Studio at https://ai.studio/projects to manage your project and billing.'),
      'PREPAYMENT_DEPLETED',
    ],
    ['429 prepay depleted, as before the switch', 429, envelope(429, 'RESOURCE_EXHAUSTED', 'Your prepayment credits are depleted. Go to https://ai.google.dev/gemini-api/docs/billing#prepay.'), 'PREPAYMENT_DEPLETED'],
    ['429 rate limit: the request, cooled down', 429, envelope(429, 'RESOURCE_EXHAUSTED', 'You exceeded your current quota. Please retry in 37s.'), undefined],
    ['400 bad argument: the request', 400, envelope(400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.'), undefined],
    ['400 FAILED_PRECONDITION: relayed', 400, envelope(400, 'FAILED_PRECONDITION', 'User location is not supported for the API use.'), undefined],
    ["403 on another project's file: the request", 403, envelope(403, 'PERMISSION_DENIED', 'You do not have permission to access the File files/abc123 or it may not exist.'), undefined],
    ['404 unknown model', 404, envelope(404, 'NOT_FOUND', 'models/x is not found'), undefined],
    ['500 INTERNAL', 500, envelope(500, 'INTERNAL', 'Internal error encountered.'), undefined],
    ['503 overloaded', 503, envelope(503, 'UNAVAILABLE', 'The model is overloaded.'), undefined],
  ];
  for (const [name, status, body, reason] of cases) {
    it(`${reason ? `refuses the project (${reason})` : 'is the request'} for ${name}`, () => {
      const refusal = projectRefusal(status, body);
      expect(refusal?.reason).toBe(reason);
      if (refusal) expect(refusal.httpStatus).toBe(status);
    });
  }
});
