import { describe, expect, it } from 'vitest';
import { GatewayError, type QuotaRefusal } from '../../../src/errors/gateway-error.js';
import { renderGoogleError } from '../../../src/faces/native/errors.js';

const refusal: QuotaRefusal = {
  scope: 'project',
  dimension: 'rpm',
  limit: 20,
  used: 20,
  retryAfterMs: 12_500,
  model: 'gemini-3-pro-image-preview',
  projectId: 'default',
  tenantId: 'design',
  tier: 'tier1',
};

describe("Google's error envelope", () => {
  it('renders a quota refusal as Google does, with QuotaFailure, Help, RetryInfo and Retry-After', () => {
    const r = renderGoogleError(new GatewayError('QUOTA_EXHAUSTED', 'Quota exceeded', { quota: refusal }));
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('13');
    const body = r.body as { error: { code: number; status: string; details: Array<Record<string, unknown>> } };
    expect(body.error.code).toBe(429);
    expect(body.error.status).toBe('RESOURCE_EXHAUSTED');
    expect(body.error.details.map((d) => d['@type'])).toEqual([
      'type.googleapis.com/google.rpc.QuotaFailure',
      'type.googleapis.com/google.rpc.Help',
      'type.googleapis.com/google.rpc.RetryInfo',
    ]);
    expect(body.error.details[0]).toMatchObject({
      violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-PaidTier', quotaValue: '20', quotaDimensions: { location: 'global', model: 'gemini-3-pro-image-preview' } }],
    });
    expect(body.error.details[2]).toMatchObject({ retryDelay: '12.5s' });
  });

  it('renders a budget refusal with ErrorInfo BUDGET_EXCEEDED', () => {
    const r = renderGoogleError(
      new GatewayError('BUDGET_EXCEEDED', 'over budget', {
        budget: {
          period: 'daily',
          scope: 'key',
          tenantId: 'design',
          keyId: 'key_1',
          limitNanoUsd: 25_000_000_000n,
          spentNanoUsd: 24_800_000_000n,
          heldNanoUsd: 100_000_000n,
          requestedNanoUsd: 500_000_000n,
          resetAtMs: Date.parse('2026-06-16T07:00:00Z'),
        },
      }),
    );
    expect(r.status).toBe(429);
    expect(r.body).toMatchObject({
      error: {
        status: 'RESOURCE_EXHAUSTED',
        message: 'over budget',
        details: [
          {
            reason: 'BUDGET_EXCEEDED',
            metadata: { tenant: 'design', scope: 'key', key: 'key_1', period: 'daily', limitUsd: '25.000000', spentUsd: '24.800000', heldUsd: '0.100000', requestedUsd: '0.500000' },
          },
        ],
      },
    });
  });

  it('names the field of a bad argument in BadRequest', () => {
    const r = renderGoogleError(new GatewayError('INVALID_ARGUMENT', 'contents is required', { param: 'contents' }));
    expect(r.body).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT', details: [{ fieldViolations: [{ field: 'contents' }] }] } });
  });

  it.each([
    ['UNAUTHENTICATED', 401, 'UNAUTHENTICATED'],
    ['MODEL_NOT_FOUND', 404, 'NOT_FOUND'],
    ['BODY_TOO_LARGE', 413, 'INVALID_ARGUMENT'],
    ['UPSTREAM_TIMEOUT', 504, 'DEADLINE_EXCEEDED'],
    ['STORE_UNAVAILABLE', 503, 'UNAVAILABLE'],
    ['UPSTREAM_PROJECT_REFUSED', 503, 'UNAVAILABLE'],
    ['INTERNAL', 500, 'INTERNAL'],
  ] as const)('renders %s as %i %s', (code, status, googleStatus) => {
    const r = renderGoogleError(new GatewayError(code, 'm'));
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ error: { code: status, status: googleStatus, message: 'm' } });
  });
});

describe("a refusal of the gateway's own Google project (#12)", () => {
  it('is a 503 UNAVAILABLE with ErrorInfo UPSTREAM_PROJECT_REFUSED, not API_KEY_INVALID', () => {
    const r = renderGoogleError(new GatewayError('UPSTREAM_PROJECT_REFUSED', "The gateway's Google project cannot be used right now; its operator has been alerted."));
    expect(r.status).toBe(503);
    expect(r.body).toEqual({
      error: {
        code: 503,
        status: 'UNAVAILABLE',
        message: "The gateway's Google project cannot be used right now; its operator has been alerted.",
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'UPSTREAM_PROJECT_REFUSED', domain: 'nanogate', metadata: { service: 'nanogate' } }],
      },
    });
  });
});
