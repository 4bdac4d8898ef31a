import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDurationMs, parseGoogleError, retryDelayFromGoogle } from '../../src/gemini/errors.js';
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
