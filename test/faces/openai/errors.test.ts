import { describe, expect, it } from 'vitest';
import { ERROR_CODES, GatewayError, type ErrorCode, type QuotaRefusal, type UpstreamFailure } from '../../../src/errors/gateway-error.js';
import { formatOpenAIDuration, rateLimitHeaders, renderOpenAIError } from '../../../src/faces/openai/errors.js';
import { budgetRefusalMessage } from '../../../src/usage/budget.js';

/**
 * What an OpenAI client sees for each gateway code rendered with no details, written from the
 * contract (../shared/spec/contract.md), never from the renderer's own table. Where the contract
 * is silent it says to do what a user of the OpenAI SDK would expect: OpenAI's own error shapes
 * (a 401 is `invalid_request_error` / `invalid_api_key`, a request-rate 429 is `requests` /
 * `rate_limit_exceeded`, a quota 429 is `insufficient_quota` twice, 5xx are `server_error`), and
 * for statuses the plain HTTP meaning the SDK maps to its error classes.
 */
const CONTRACT: Array<{ rule: string; codes: ErrorCode[]; status: number; type: string; code: string | null }> = [
  // §6: "400 invalid_request_error"; no param named, so no code.
  { rule: '§6 bad request', codes: ['INVALID_ARGUMENT'], status: 400, type: 'invalid_request_error', code: null },
  // §6: "401 invalid_api_key"; §3: no, unknown or revoked key.
  { rule: '§3/§6 bad key', codes: ['UNAUTHENTICATED'], status: 401, type: 'invalid_request_error', code: 'invalid_api_key' },
  // §3: repeated failed authentication is slowed down, "429 after 20 failures a minute"; §6 429 rate_limit_exceeded.
  { rule: '§3 auth failures', codes: ['AUTH_RATE_LIMITED'], status: 429, type: 'requests', code: 'rate_limit_exceeded' },
  // §6: "404 model_not_found"; §4 unknown model name.
  { rule: '§4/§6 unknown model', codes: ['MODEL_NOT_FOUND'], status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  // §11: unknown routes (404); plain not-found in the route's error shape.
  { rule: '§11 unknown route', codes: ['ROUTE_NOT_FOUND', 'NOT_FOUND'], status: 404, type: 'invalid_request_error', code: null },
  // §11: wrong methods (405).
  { rule: '§11 wrong method', codes: ['METHOD_NOT_ALLOWED'], status: 405, type: 'invalid_request_error', code: null },
  // §11: oversized bodies (413).
  { rule: '§11 oversized body', codes: ['BODY_TOO_LARGE'], status: 413, type: 'invalid_request_error', code: null },
  // §11: bad input never a 500; HTTP's 431 for a header block (or URL) over Node's limit.
  { rule: 'HTTP 431', codes: ['HEADERS_TOO_LARGE'], status: 431, type: 'invalid_request_error', code: null },
  // §11: bad input; HTTP's 408 for a request not received within the server's timeout.
  { rule: 'HTTP 408', codes: ['REQUEST_TIMEOUT'], status: 408, type: 'invalid_request_error', code: null },
  // Contract silent: HTTP's 415 for a body type the route does not take.
  { rule: 'HTTP 415', codes: ['UNSUPPORTED_MEDIA_TYPE'], status: 415, type: 'invalid_request_error', code: null },
  // §3: "the admin API answers 409 to changing them" (config tenants).
  { rule: '§3 read-only tenant', codes: ['CONFLICT'], status: 409, type: 'invalid_request_error', code: null },
  // Contract silent: a key reading what is not its own is forbidden (SDK: PermissionDeniedError).
  { rule: 'HTTP 403', codes: ['FORBIDDEN'], status: 403, type: 'invalid_request_error', code: null },
  // §6: "429 rate_limit_exceeded"; §7 quota refusal.
  { rule: '§6/§7 quota', codes: ['QUOTA_EXHAUSTED'], status: 429, type: 'requests', code: 'rate_limit_exceeded' },
  // §6: "429 … insufficient_quota"; §8 budget refusal.
  { rule: '§8 budget', codes: ['BUDGET_EXCEEDED'], status: 429, type: 'insufficient_quota', code: 'insufficient_quota' },
  // §6: "400 content_policy_violation for Google's safety blocks".
  { rule: '§6 safety block', codes: ['CONTENT_POLICY'], status: 400, type: 'invalid_request_error', code: 'content_policy_violation' },
  // §6: "502/503 for upstream failures"; §11 Google unreachable; §6 "if none [of the images], an error".
  { rule: '§6/§11 upstream failure', codes: ['UPSTREAM_ERROR', 'UPSTREAM_UNAVAILABLE', 'NO_IMAGE'], status: 502, type: 'server_error', code: null },
  // §6: "502/503 for upstream failures"; #12: Google refusing the gateway's own project (key,
  // permission, prepaid credit) is a 503 the SDK must not retry (checked with its headers below).
  { rule: '§6 project refused', codes: ['UPSTREAM_PROJECT_REFUSED'], status: 503, type: 'server_error', code: null },
  // §11: "a timeout answers 504 DEADLINE_EXCEEDED (OpenAI: 504)".
  { rule: '§11 upstream timeout', codes: ['UPSTREAM_TIMEOUT'], status: 504, type: 'server_error', code: null },
  // §11: store unreachable under deny, "refused with 503"; §9 full ledger backlog, "refused with 503".
  { rule: '§9/§11 cannot serve now', codes: ['STORE_UNAVAILABLE', 'LEDGER_BACKLOG_FULL'], status: 503, type: 'server_error', code: null },
  // Contract silent; no route raises it today. HTTP's 501, typed as the caller asking for something not offered.
  { rule: 'HTTP 501', codes: ['NOT_IMPLEMENTED'], status: 501, type: 'invalid_request_error', code: null },
  // STYLE: unknown errors are rendered as a plain 500; OpenAI's server_error.
  { rule: 'internal', codes: ['INTERNAL'], status: 500, type: 'server_error', code: null },
];

describe('renderOpenAIError: every code, as the contract says', () => {
  it('has an expectation for every code, exactly once', () => {
    const listed = CONTRACT.flatMap((r) => r.codes);
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual([...ERROR_CODES].sort());
  });

  for (const { rule, codes, status, type, code } of CONTRACT) {
    for (const gatewayCode of codes) {
      it(`renders ${gatewayCode} as ${status} ${type}${code ? ` ${code}` : ''} (${rule})`, () => {
        const rendered = renderOpenAIError(new GatewayError(gatewayCode, `message for ${gatewayCode}`));
        expect({ status: rendered.status, type: rendered.body.error.type, code: rendered.body.error.code }).toEqual({ status, type, code });
        expect(Object.keys(rendered.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
        expect(typeof rendered.body.error.message).toBe('string');
        expect(rendered.body.error.message.length).toBeGreaterThan(0);
      });
    }
  }

  it('tells the SDK not to retry an answer without an image, which Google billed (#14.7)', () => {
    const rendered = renderOpenAIError(new GatewayError('NO_IMAGE', 'Google returned no image (finish reason IMAGE_OTHER).'));
    expect(rendered.status).toBe(502);
    expect(rendered.headers['x-should-retry']).toBe('false');
    expect(rendered.body.error.message).toContain('IMAGE_OTHER');
  });

  it('answers INTERNAL with a plain message, not the internal one', () => {
    const rendered = renderOpenAIError(new GatewayError('INTERNAL', 'TypeError: cannot read x of undefined at foo.ts:12'));
    expect(rendered.body.error.message).not.toContain('TypeError');
  });
});

describe('renderOpenAIError: invalid arguments', () => {
  const cases: Array<[string, string | undefined, string | null]> = [
    ["Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter'],
    ["Invalid type for 'n': expected an integer, but got a string instead.", 'n', 'invalid_type'],
    ["Invalid value: '999x999'. Supported values are: 'auto'.", 'size', 'invalid_value'],
    ['The request body must be a JSON object.', undefined, null],
  ];
  for (const [message, param, code] of cases) {
    it(`gives code ${code} and param ${param} for "${message}"`, () => {
      const rendered = renderOpenAIError(new GatewayError('INVALID_ARGUMENT', message, param ? { param } : {}));
      expect(rendered.status).toBe(400);
      expect(rendered.body.error).toEqual({ message, type: 'invalid_request_error', param: param ?? null, code });
    });
  }
});

describe('renderOpenAIError: model and method', () => {
  it('lists the served models on model_not_found when the message does not', () => {
    const rendered = renderOpenAIError(new GatewayError('MODEL_NOT_FOUND', 'The model `x` does not exist.', { servedModels: ['a-model', 'b-model'] }));
    expect(rendered.status).toBe(404);
    expect(rendered.body.error.message).toBe('The model `x` does not exist. Served models: a-model, b-model.');
    expect(rendered.body.error.param).toBe('model');
  });

  it('does not list them twice', () => {
    const message = 'The model `x` does not exist. Served models: a-model, b-model.';
    const rendered = renderOpenAIError(new GatewayError('MODEL_NOT_FOUND', message, { servedModels: ['a-model', 'b-model'] }));
    expect(rendered.body.error.message).toBe(message);
  });

  it('sends Allow with 405', () => {
    const rendered = renderOpenAIError(new GatewayError('METHOD_NOT_ALLOWED', 'Use POST.', { allow: ['POST'] }));
    expect(rendered.status).toBe(405);
    expect(rendered.headers).toEqual({ allow: 'POST' });
  });

  it('sends retry headers when authentication failures are slowed down', () => {
    const rendered = renderOpenAIError(new GatewayError('AUTH_RATE_LIMITED', 'Too many failures.', { retryAfterMs: 30_000 }));
    expect(rendered.headers).toMatchObject({ 'retry-after': '30', 'retry-after-ms': '30000' });
  });
});

function quota(over: Partial<QuotaRefusal>): QuotaRefusal {
  return {
    scope: 'project',
    dimension: 'rpm',
    limit: 20,
    used: 20,
    retryAfterMs: 12_001,
    model: 'gemini-3-pro-image',
    projectId: 'default',
    tenantId: 'design-team',
    tier: 'tier1',
    ...over,
  };
}

describe('renderOpenAIError: quota refusals (contract §7)', () => {
  it('answers an RPM refusal with rate_limit_exceeded, type requests, and the retry and limit headers', () => {
    const rendered = renderOpenAIError(new GatewayError('QUOTA_EXHAUSTED', 'x', { quota: quota({}) }));
    expect(rendered.status).toBe(429);
    expect(rendered.body.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null });
    expect(rendered.body.error.message).toContain('gemini-3-pro-image');
    expect(rendered.body.error.message).toContain('Limit 20');
    expect(rendered.headers).toEqual({
      'retry-after': '13',
      'retry-after-ms': '12001',
      'x-ratelimit-limit-requests': '20',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '12.001s',
    });
  });

  it('answers a TPM refusal with type tokens and the token headers', () => {
    const rendered = renderOpenAIError(new GatewayError('QUOTA_EXHAUSTED', 'x', { quota: quota({ dimension: 'tpm', limit: 100_000, used: 99_000, retryAfterMs: 1500 }) }));
    expect(rendered.body.error.type).toBe('tokens');
    expect(rendered.headers).toEqual({
      'retry-after': '2',
      'retry-after-ms': '1500',
      'x-ratelimit-limit-tokens': '100000',
      'x-ratelimit-remaining-tokens': '1000',
      'x-ratelimit-reset-tokens': '1.5s',
    });
  });

  it('tells the SDK not to retry a daily refusal that frees in hours', () => {
    const rendered = renderOpenAIError(new GatewayError('QUOTA_EXHAUSTED', 'x', { quota: quota({ dimension: 'rpd', limit: 250, used: 250, retryAfterMs: 5 * 3_600_000 }) }));
    expect(rendered.headers).toMatchObject({ 'retry-after': '18000', 'x-should-retry': 'false', 'x-ratelimit-reset-requests': '5h0m0s' });
  });

  it('names the tenant for a tenant limit', () => {
    const rendered = renderOpenAIError(new GatewayError('QUOTA_EXHAUSTED', 'x', { quota: quota({ scope: 'tenant', dimension: 'rpd' }) }));
    expect(rendered.body.error.message).toContain('design-team');
  });

  it('renders a cool-down after a Google 429', () => {
    const rendered = renderOpenAIError(new GatewayError('QUOTA_EXHAUSTED', 'x', { quota: quota({ dimension: 'cooldown', limit: 0, used: 0, retryAfterMs: 37_000 }) }));
    expect(rendered.status).toBe(429);
    expect(rendered.headers['retry-after']).toBe('37');
    expect(rendered.headers['x-should-retry']).toBeUndefined();
  });
});

describe('renderOpenAIError: budget refusal (contract §8)', () => {
  it("answers insufficient_quota with the budget service's message and tells the SDK not to retry", () => {
    const refusal = {
      period: 'daily' as const,
      scope: 'tenant' as const,
      tenantId: 't',
      limitNanoUsd: 25_000_000_000n,
      spentNanoUsd: 24_800_000_000n,
      heldNanoUsd: 100_000_000n,
      requestedNanoUsd: 240_000_000n,
      resetAtMs: Date.UTC(2026, 0, 2, 8),
    };
    const message = budgetRefusalMessage(refusal, Date.UTC(2026, 0, 2, 2, 48));
    const rendered = renderOpenAIError(new GatewayError('BUDGET_EXCEEDED', message, { budget: refusal }));
    expect(rendered.body.error.message).toBe(
      'daily budget $25.000000 of tenant t: spent $24.800000, held $0.100000 by calls in flight, this call needs about $0.240000; resets at 00:00 Pacific (in 5 h 12 min)',
    );
    expect(rendered.status).toBe(429);
    expect(rendered.body.error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    expect(rendered.headers).toEqual({ 'x-should-retry': 'false' });
  });
});

function upstream(over: Partial<UpstreamFailure>): GatewayError {
  const u: UpstreamFailure = { httpStatus: 500, googleStatus: 'INTERNAL', message: 'Internal error encountered.', ...over };
  return new GatewayError('UPSTREAM_ERROR', u.message, { upstream: u });
}

describe('renderOpenAIError: Google failures', () => {
  const cases: Array<[string, Partial<UpstreamFailure>, number, string, string | null, boolean]> = [
    // name, failure, status, type, code, Google's message shown
    ['400 INVALID_ARGUMENT', { httpStatus: 400, googleStatus: 'INVALID_ARGUMENT', message: 'Request contains an invalid argument.' }, 400, 'invalid_request_error', 'invalid_value', true],
    ['400 FAILED_PRECONDITION', { httpStatus: 400, googleStatus: 'FAILED_PRECONDITION', message: 'User location is not supported for the API use.' }, 502, 'server_error', null, true],
    ['404 NOT_FOUND', { httpStatus: 404, googleStatus: 'NOT_FOUND', message: 'models/x is not found for API version v1beta' }, 404, 'invalid_request_error', null, true],
    ['500 INTERNAL', { httpStatus: 500, googleStatus: 'INTERNAL', message: 'Internal error encountered.' }, 502, 'server_error', null, true],
    ['503 UNAVAILABLE', { httpStatus: 503, googleStatus: 'UNAVAILABLE', message: 'The model is overloaded. Please try again later.' }, 503, 'server_error', null, true],
    ['504 DEADLINE_EXCEEDED', { httpStatus: 504, googleStatus: 'DEADLINE_EXCEEDED', message: 'Deadline expired before operation could complete.' }, 504, 'server_error', null, true],
    ['409 ABORTED', { httpStatus: 409, googleStatus: 'ABORTED', message: 'Aborted.' }, 502, 'server_error', null, true],
    // Google's 401/403/402 and API_KEY_INVALID refuse the gateway's project: the relay answers
    // those with UPSTREAM_PROJECT_REFUSED (below), they never reach this rendering.
  ];
  for (const [name, failure, status, type, code, shown] of cases) {
    it(`renders Google ${name} as ${status} ${type}`, () => {
      const rendered = renderOpenAIError(upstream(failure));
      expect(rendered.status).toBe(status);
      expect(rendered.body.error.type).toBe(type);
      expect(rendered.body.error.code).toBe(code);
      if (shown) expect(rendered.body.error.message).toContain(failure.message);
      else {
        expect(rendered.body.error.message).not.toContain('AIzaSyKEY');
        expect(rendered.body.error.message).toContain('operator');
      }
    });
  }

  it("renders a refusal of the gateway's own project as a 503 the SDK does not retry, blaming neither key nor request", () => {
    const rendered = renderOpenAIError(new GatewayError('UPSTREAM_PROJECT_REFUSED', "The gateway's Google project cannot be used right now; its operator has been alerted."));
    expect(rendered.status).toBe(503);
    expect(rendered.headers).toEqual({ 'x-should-retry': 'false' });
    expect(rendered.body.error).toEqual({
      message: "The gateway's Google project cannot be used right now; its operator has been alerted.",
      type: 'server_error',
      param: null,
      code: null,
    });
  });

  const limited: Array<[string, Partial<UpstreamFailure>, string, string]> = [
    ['retryAfterMs', { retryAfterMs: 4_500 }, '5', '4500'],
    [
      'RetryInfo in the body',
      { body: { error: { code: 429, message: 'q', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' }] } } },
      '37',
      '37000',
    ],
    ['"Please retry in" in the message', { message: 'Quota exceeded. Please retry in 2.5s.' }, '3', '2500'],
    ['nothing: the 60 s cool-down', {}, '60', '60000'],
  ];
  for (const [name, failure, retryAfter, retryAfterMs] of limited) {
    it(`renders a Google 429 as rate_limit_exceeded, waiting per ${name}`, () => {
      const rendered = renderOpenAIError(upstream({ httpStatus: 429, googleStatus: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded.', ...failure }));
      expect(rendered.status).toBe(429);
      expect(rendered.body.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
      expect(rendered.headers).toMatchObject({ 'retry-after': retryAfter, 'retry-after-ms': retryAfterMs });
    });
  }
});

describe('formatOpenAIDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [-5, '0s'],
    [1, '1ms'],
    [120, '120ms'],
    [999.2, '1s'],
    [1000, '1s'],
    [1500, '1.5s'],
    [12_000, '12s'],
    [17_280, '17.28s'],
    [60_000, '1m0s'],
    [90_000, '1m30s'],
    [360_000, '6m0s'],
    [3_600_000, '1h0m0s'],
    [3_723_004, '1h2m3.004s'],
    [86_400_000, '24h0m0s'],
  ];
  for (const [ms, text] of cases) it(`formats ${ms} ms as ${text}`, () => expect(formatOpenAIDuration(ms)).toBe(text));
});

describe('rateLimitHeaders', () => {
  it('writes the request-limit headers for a successful answer', () => {
    expect(rateLimitHeaders({ limit: 20, remaining: 7, resetMs: 41_000 })).toEqual({
      'x-ratelimit-limit-requests': '20',
      'x-ratelimit-remaining-requests': '7',
      'x-ratelimit-reset-requests': '41s',
    });
  });
  it('never reports a negative remainder', () => {
    expect(rateLimitHeaders({ limit: 20, remaining: -1, resetMs: 0 })['x-ratelimit-remaining-requests']).toBe('0');
  });
});
