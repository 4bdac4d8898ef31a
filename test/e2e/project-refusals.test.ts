/**
 * #12: Google refusing the gateway's own project (its key, its permission, its prepaid credit)
 * is the operator's problem. Tenants get a 503 of the gateway's, in their face's shape, that the
 * SDKs do not retry; the operator gets an error line per project per minute, a metric and
 * /readyz detail. Through the real gateway, the mock of Google and the real SDKs.
 */
import { ApiError, GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/time/clock.js';
import { startMockGoogle, type MockGoogle } from '../mock-google/server.js';
import { defaultConfigYaml, GOOGLE_KEY, startGateway, TENANT_KEY, type RunningGateway } from '../support/gateway-harness.js';

const REVOKED_KEY = 'AIzaSy-revoked-project-key';
const MESSAGE = "The gateway's Google project cannot be used right now; its operator has been alerted.";
const body = JSON.stringify({ contents: [{ parts: [{ text: 'a banana' }] }] });

let mock: MockGoogle;
let gw: RunningGateway | undefined;

beforeAll(async () => {
  mock = await startMockGoogle({ apiKeys: [GOOGLE_KEY] });
});
afterAll(async () => {
  await mock?.close();
});
beforeEach(() => mock.reset());
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const native = (g: RunningGateway, action = 'generateContent', query = '') =>
  request(`${g.url}/v1beta/models/nano-banana-pro:${action}${query}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-goog-api-key': TENANT_KEY }, body });
const openai = (g: RunningGateway) =>
  request(`${g.url}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TENANT_KEY}` },
    body: JSON.stringify({ model: 'nano-banana-pro', prompt: 'a banana' }),
  });
const generations = () => mock.received.filter((r) => /:(generateContent|streamGenerateContent)$/.test(r.path)).length;
const refusalLines = (g: RunningGateway) =>
  g.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['level'] === 50 && String(l['msg']).startsWith('Google refuses project default'));
async function readyz(g: RunningGateway): Promise<{ statusCode: number; body: { status: string; checks: Record<string, string> } }> {
  const res = await request(`${g.url}/readyz`);
  return { statusCode: res.statusCode, body: (await res.body.json()) as { status: string; checks: Record<string, string> } };
}
async function metric(g: RunningGateway, line: RegExp): Promise<number | undefined> {
  const text = await (await request(`${g.url}/metrics`)).body.text();
  const m = new RegExp(`^${line.source} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe("a Google key the gateway's project no longer has (400 API_KEY_INVALID)", () => {
  it('is a 503 of the gateway on both faces, never "API key not valid", and the operator is told once a minute', async () => {
    const clock = new ManualClock('2026-11-28T12:00:00Z');
    gw = await startGateway({ upstreamUrl: mock.url, clock, configYaml: defaultConfigYaml(mock.url, '$DB_PATH').replace(`apiKey: ${GOOGLE_KEY}`, `apiKey: ${REVOKED_KEY}`) });

    for (const [action, query] of [['generateContent', ''], ['streamGenerateContent', '?alt=sse'], ['countTokens', '']] as const) {
      const res = await native(gw, action, query);
      const text = await res.body.text();
      expect({ action, status: res.statusCode }).toEqual({ action, status: 503 });
      expect(JSON.parse(text)).toEqual({
        error: {
          code: 503,
          status: 'UNAVAILABLE',
          message: MESSAGE,
          details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'UPSTREAM_PROJECT_REFUSED', domain: 'nanogate', metadata: { service: 'nanogate' } }],
        },
      });
      expect(text).not.toMatch(/API key not valid|API_KEY_INVALID/);
      expect(text).not.toContain(REVOKED_KEY);
    }

    const oa = await openai(gw);
    expect(oa.statusCode).toBe(503);
    expect(oa.headers['x-should-retry']).toBe('false');
    expect(await oa.body.json()).toEqual({ error: { message: MESSAGE, type: 'server_error', param: null, code: null } });

    // Four calls within one minute: one error line, naming the project and the reason, not the key.
    const lines = refusalLines(gw);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ project: 'default', reason: 'API_KEY_INVALID', httpStatus: 400, googleStatus: 'INVALID_ARGUMENT' });
    expect(JSON.stringify(gw.logs)).not.toContain(REVOKED_KEY);
    clock.advance(61_000);
    expect((await native(gw)).statusCode).toBe(503);
    expect(refusalLines(gw)).toHaveLength(2);
    expect(refusalLines(gw)[1]).toMatchObject({ refusedCalls: 4 });

    expect(await metric(gw, /nanogate_upstream_project_refusals_total\{project="default",reason="API_KEY_INVALID"\}/)).toBe(5);
    // Degraded, not failing: every instance shares the key, pulling them all would help no one.
    const ready = await readyz(gw);
    expect(ready.statusCode).toBe(200);
    expect(ready.body.status).toBe('degraded');
    expect(ready.body.checks['upstream']).toMatch(/^degraded: project default refused by Google since .* \(API_KEY_INVALID: /);
  });

  it('is not retried by the openai SDK (x-should-retry: false), and the genai SDK sees a 503', async () => {
    gw = await startGateway({ upstreamUrl: mock.url, configYaml: defaultConfigYaml(mock.url, '$DB_PATH').replace(`apiKey: ${GOOGLE_KEY}`, `apiKey: ${REVOKED_KEY}`) });
    const client = new OpenAI({ apiKey: TENANT_KEY, baseURL: `${gw.url}/v1`, maxRetries: 2 });
    const failure = await client.images.generate({ model: 'nano-banana-pro', prompt: 'a banana' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((failure as InstanceType<typeof OpenAI.APIError>).message).toContain('its operator has been alerted');
    expect(generations()).toBe(1);

    const ai = new GoogleGenAI({ apiKey: TENANT_KEY, httpOptions: { baseUrl: gw.url } });
    const nativeFailure = await ai.models.generateContent({ model: 'nano-banana-pro', contents: 'a banana' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(nativeFailure).toBeInstanceOf(ApiError);
    expect((nativeFailure as ApiError).status).toBe(503);
    expect((nativeFailure as ApiError).message).not.toContain('API key not valid');
    expect(generations()).toBe(2);
  });
});

describe('the prepay 402 and a 403, on a project whose key is good', () => {
  it('answers 503 while Google refuses, and readiness is back to ready once a call is accepted', async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    mock.enqueue({
      kind: 'status',
      status: 402,
      body: { error: { code: 402, status: 'RESOURCE_EXHAUSTED', message: 'Your prepayment credits are depleted. Please go to AI Studio to manage your billing.' } },
    });
    const refused = await native(gw);
    expect(refused.statusCode).toBe(503);
    expect(await refused.body.text()).not.toContain('prepayment');
    expect(refusalLines(gw)[0]).toMatchObject({ reason: 'PREPAYMENT_DEPLETED', httpStatus: 402 });
    // A 402 is not a rate limit: no cool-down starts, the next call goes to Google.
    expect((await readyz(gw)).body.checks['upstream']).toContain('PREPAYMENT_DEPLETED');
    const accepted = await native(gw);
    expect(accepted.statusCode).toBe(200);
    await accepted.body.dump();
    expect(await readyz(gw)).toMatchObject({ statusCode: 200, body: { status: 'ready', checks: { upstream: 'ok' } } });

    mock.enqueue({ kind: 'status', status: 403 });
    const denied = await openai(gw);
    expect(denied.statusCode).toBe(503);
    expect(denied.headers['x-should-retry']).toBe('false');
    expect(((await denied.body.json()) as { error: { message: string } }).error.message).toBe(MESSAGE);
  });

  it("relays Google's other errors on the native face unchanged, and tells no operator", async () => {
    gw = await startGateway({ upstreamUrl: mock.url });
    const google = { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } };
    mock.enqueue({ kind: 'status', status: 400, body: google }, { kind: 'status', status: 400, body: { error: { ...google.error, status: 'FAILED_PRECONDITION', message: 'User location is not supported for the API use.' } } });
    const bad = await native(gw);
    expect(bad.statusCode).toBe(400);
    expect(await bad.body.json()).toEqual(google);
    const location = await native(gw);
    expect(location.statusCode).toBe(400);
    expect(((await location.body.json()) as { error: { status: string } }).error.status).toBe('FAILED_PRECONDITION');
    expect(refusalLines(gw)).toHaveLength(0);
    expect((await readyz(gw)).body.status).toBe('ready');
  });
});
